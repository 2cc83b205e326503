"""What every policy detector shares: rule metadata, the alert builder, event accessors, the base class.

A detector subclasses `PolicyDetector[State]`: it declares its state model and implements
`on_event`; `snapshot`/`restore` come from here. Event accessors read the ECS fields the parsers
fill (see ingest/parsers) in one place, so a field-mapping slip is fixed once.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from core.models.alert import AlertDraft, DetectorKind, EntityKind, EntityRef, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.inventory import account_name

VERSION = "1"

# Accounts that are the machine itself, not a person: never judged against the people inventory.
SYSTEM_ACCOUNTS = frozenset({"system", "local service", "network service", "anonymous logon", "-", "",
                             "dwm-1", "umfd-0", "umfd-1", "nobody"})  # fmt: skip


@dataclass(frozen=True)
class PolicyRule:
    id: str
    title: str
    playbook: str
    severity: Severity
    tags: tuple[str, ...] = ()
    policy: str = ""  # which regulation it encodes (DESIGN.md "The policy it encodes")


@dataclass
class Finding:
    """What a detector found; `alert()` turns it into the shared AlertDraft."""

    rule: PolicyRule
    entity: EntityRef
    events: Sequence[EcsEvent]
    en: str
    zh: str
    dedup: str
    context: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    severity: Severity | None = None
    event_ids: Sequence[str] = ()
    span: tuple[datetime, datetime] | None = None  # for alerts about a period rather than events
    count: int | None = None  # events it stands for, when more than its ids (a window's evidence is capped)

    @property
    def key(self) -> str:
        """What suppression windows and dedup keys are per: the rule and the finding's own key."""
        return f"{self.rule.id}|{self.dedup}"

    def alert(self) -> AlertDraft:
        times = list(self.span) if self.span else [e.timestamp for e in self.events]
        ids = list(self.event_ids) or [event_id(e) for e in self.events]
        return AlertDraft(
            rule=RuleRef(id=self.rule.id, version=VERSION, title=self.rule.title, kind=DetectorKind.POLICY),
            severity=self.severity or self.rule.severity,
            tags=list(self.rule.tags),
            entity=self.entity,
            dedup_key=self.key,
            event_ids=ids,
            event_count=self.count if self.count is not None else max(len(ids), len(self.events)),
            first_seen=min(times),
            last_seen=max(times),
            summary=Summary.model_validate({"en": self.en, "zh-CN": self.zh}),
            playbook=self.rule.playbook,
            context={"policy": self.rule.policy, **self.context},
        )


S = TypeVar("S", bound=BaseModel)
M = TypeVar("M", bound=BaseModel)


def entry(states: dict[str, M], key: str, new: type[M]) -> M:
    """`states[key]`, created empty on first use: `setdefault(key, Model())` builds (and validates) a
    throw-away model on every event, a measurable share of the detection lane's time."""
    found = states.get(key)
    if found is None:
        found = states[key] = new()
    return found


class PolicyDetector(Generic[S]):
    """Base of the policy detectors: typed state, snapshot/restore, no-op tick."""

    name: str
    state_model: type[S]
    # Which event fields the per-entity state is keyed on. `vigil.events` is partitioned by
    # `EcsEvent.entity()` (user, else host); a detector keyed on anything else (a source address, a
    # host for events that also carry a user) sees all of its key's events only when the worker routes
    # by this key (a re-keyed topic) or runs it on a single partition.
    keyed_by: tuple[str, ...] = ("entity",)

    def __init__(self) -> None:
        self.state: S = self.state_model()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        raise NotImplementedError

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        return []

    def snapshot(self) -> S:
        return self.state

    def restore(self, state: dict[str, object]) -> None:
        self.state = self.state_model.model_validate(state)


# --- event accessors ----------------------------------------------------------------------------


def event_id(event: EcsEvent) -> str:
    """The event's id (the indexer's deterministic one), else a hash of what identifies it."""
    if event.event.id:
        return event.event.id
    basis = f"{event.vigil.source}\x1f{event.timestamp.isoformat()}\x1f{event.event.original or event.message}"
    return hashlib.sha256(basis.encode()).hexdigest()[:40]


def user_of(event: EcsEvent) -> str | None:
    """The acting person's account, normalised (`CORP\\Alice` → `alice`); None for machine accounts."""
    name = event.user.name if event.user else None
    if not name:
        return None
    account = account_name(name)
    return None if not account or account in SYSTEM_ACCOUNTS or account.endswith("$") else account


def target_user(event: EcsEvent) -> str | None:
    target = event.user.target if event.user else None
    return (account_name(target.name) or None) if target and target.name else None


def source_ip(event: EcsEvent) -> str | None:
    ip = event.source.ip if event.source else None
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return None if addr.is_loopback or addr.is_unspecified else ip


def is_private(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip).is_private
    except ValueError:
        return False


def host_of(event: EcsEvent) -> str | None:
    host = event.host.name or event.host.hostname if event.host else None
    return host.lower() if host else None


def has(event: EcsEvent, category: str, *types: str) -> bool:
    return category in event.event.category and (not types or any(t in event.event.type for t in types))


def auth_outcome(event: EcsEvent) -> str | None:
    """'success' / 'failure' for authentication events, else None."""
    if "authentication" not in event.event.category:
        return None
    return event.event.outcome if event.event.outcome in ("success", "failure") else None


def login_started(event: EcsEvent) -> bool:
    """A successful logon or session start (sshd Accepted, 4624, Samba connect, PAM session opened)."""
    if auth_outcome(event) == "success" and "end" not in event.event.type:
        return True
    return has(event, "session", "start") and event.event.outcome != "failure"


def program(event: EcsEvent) -> str | None:
    name = event.process.name if event.process else None
    if not name and event.log and event.log.syslog:
        name = event.log.syslog.appname
    return name.lower() if name else None


def process_names(event: EcsEvent) -> list[str]:
    """Lower-case basenames of the started process (4688, Sysmon 1, auditd EXECVE)."""
    proc = event.process
    if proc is None:
        return []
    names = {proc.name or "", (proc.executable or "").replace("\\", "/").rsplit("/", 1)[-1]}
    if proc.args:
        names.add(proc.args[0].replace("\\", "/").rsplit("/", 1)[-1])
    return sorted(n.lower() for n in names if n)


def share_of(event: EcsEvent) -> str | None:
    return event.labels.get("share") or event.labels.get("share_name")


def entity(kind: EntityKind, value: str) -> EntityRef:
    return EntityRef(kind=kind, value=value)


def local_text(ts: datetime, zone_name: str) -> str:
    return ts.astimezone(ZoneInfo(zone_name)).strftime("%Y-%m-%d %H:%M %Z")
