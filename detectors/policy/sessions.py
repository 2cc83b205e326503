"""Who logs on from where (policy rule 5: no changing one's IP or using another's; rule 4: no borrowed accounts).

- `IpUseDetector`
  - `ip-shared`: one (internal) address used by two accounts within `window`: someone took another's IP;
  - `ip-changed`: an account that always came from one address (≥ `min_observations` logons, a
    `dominance` share of them) suddenly comes from a new one.
- `BorrowedAccountDetector` (`borrowed-account`): one account active from two origins at once, i.e.
  within `overlap` of each other, unless the inventory assigns both to the user. Origins are compared
  kind with kind (source address with source address, host with host): a network logon carries the
  client's address, a console logon only the host's name, and the two name one machine alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.inventory import EntityIndex, host_name
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    entity,
    entry,
    has,
    host_of,
    is_private,
    login_started,
    source_ip,
    user_of,
)
from detectors.policy.window import Cooldown

SHARED = PolicyRule(
    "vigil-policy-ip-shared",
    "One address used by two accounts",
    "policy-violation",
    Severity.MEDIUM,
    ("attack.defense-evasion",),
    "5",
)
CHANGED = PolicyRule(
    "vigil-policy-ip-changed",
    "A user's usual address changed",
    "policy-violation",
    Severity.LOW,
    ("attack.defense-evasion",),
    "5",
)
BORROWED = PolicyRule(
    "vigil-policy-borrowed-account",
    "One account active on two machines at once",
    "unauthorized-access",
    Severity.MEDIUM,
    ("attack.t1078",),
    "4",
)


class IpUseConfig(BaseModel):
    window: timedelta = timedelta(minutes=30)
    internal_only: bool = Field(default=True, description="judge only private addresses (internet ones are NATed)")
    ignore_ips: list[str] = Field(default_factory=list, description="jump hosts, terminal servers, NAT")
    min_observations: int = 10
    dominance: float = 0.9
    max_ips_per_user: int = 20
    suppress: timedelta = timedelta(hours=6)


class UserIps(BaseModel):
    counts: dict[str, int] = Field(default_factory=dict)


class IpUseState(BaseModel):
    last_user: dict[str, dict[str, AwareDatetime]] = Field(default_factory=dict)  # ip → user → last seen
    users: dict[str, UserIps] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)


class IpUseDetector(PolicyDetector[IpUseState]):
    name = "policy.ip_use"
    keyed_by = ("source.ip", "user")
    state_model = IpUseState

    def __init__(self, index: EntityIndex, config: IpUseConfig | None = None) -> None:
        super().__init__()
        self.index, self.config = index, config or IpUseConfig()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        account, ip = user_of(event), source_ip(event)
        cfg = self.config
        if not account or not ip or not login_started(event) or ip in cfg.ignore_ips:
            return []
        if cfg.internal_only and not is_private(ip):
            return []
        findings = [*self._shared(event, account, ip), *self._changed(event, account, ip)]
        return [f.alert() for f in findings if self.state.cooldown.ready(f.key, event.timestamp, cfg.suppress)]

    def _shared(self, event: EcsEvent, account: str, ip: str) -> list[Finding]:
        seen = self.state.last_user.setdefault(ip, {})
        others = sorted(u for u, ts in seen.items() if u != account and abs(event.timestamp - ts) <= self.config.window)
        previous = seen.get(account)
        seen[account] = max(previous, event.timestamp) if previous else event.timestamp
        if not others:
            return []
        owner = self.index.owner_of_ip(ip)
        names = ", ".join(others)
        return [Finding(
            SHARED, entity("ip", ip), [event],
            en=f"{ip} used by {account} and by {names} within {int(self.config.window.total_seconds() // 60)} min",
            zh=f"地址 {ip} 在短时间内被 {account} 和 {names} 同时使用，疑似盗用他人 IP",
            dedup=f"{ip}|{'|'.join(sorted([account, *others]))}",
            context={"users": ",".join(sorted([account, *others])), "ip_owner": owner.name if owner else None},
        )]  # fmt: skip

    def _changed(self, event: EcsEvent, account: str, ip: str) -> list[Finding]:
        counts = entry(self.state.users, account, UserIps).counts
        total = sum(counts.values())
        usual = max(counts, key=lambda k: counts[k]) if counts else None
        findings: list[Finding] = []
        cfg = self.config
        if usual and ip not in counts and total >= cfg.min_observations and counts[usual] >= cfg.dominance * total:
            findings.append(Finding(
                CHANGED, entity("user", account), [event],
                en=f"{account} logged on from {ip}; the usual address was {usual} ({counts[usual]} of {total} logons)",
                zh=f"{account} 的登录地址由常用的 {usual}（{total} 次中 {counts[usual]} 次）变为 {ip}，疑似私改 IP",
                dedup=f"{account}|{ip}", context={"usual_ip": usual, "new_ip": ip, "observations": total},
            ))  # fmt: skip
        counts[ip] = counts.get(ip, 0) + 1
        if len(counts) > cfg.max_ips_per_user:  # keep the state bounded: forget the rarest
            del counts[min(counts, key=lambda k: counts[k])]
        return findings

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        for ip in list(self.state.last_user):
            users = self.state.last_user[ip]
            for user in [u for u, ts in users.items() if now - ts > self.config.window]:
                del users[user]
            if not users:
                del self.state.last_user[ip]
        self.state.cooldown.expire(now, self.config.suppress)
        return []


class BorrowedConfig(BaseModel):
    overlap: timedelta = timedelta(minutes=10)
    suppress: timedelta = timedelta(hours=1)


class BorrowedState(BaseModel):
    active: dict[str, dict[str, AwareDatetime]] = Field(default_factory=dict)  # user → origin → last activity
    cooldown: Cooldown = Field(default_factory=Cooldown)


class BorrowedAccountDetector(PolicyDetector[BorrowedState]):
    name = "policy.borrowed_account"
    keyed_by = ("user",)
    state_model = BorrowedState

    def __init__(self, index: EntityIndex, config: BorrowedConfig | None = None) -> None:
        super().__init__()
        self.index, self.config = index, config or BorrowedConfig()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        account = user_of(event)
        origin = _origin(event)
        if not account or not origin:
            return []
        origins = self.state.active.setdefault(account, {})
        if has(event, "session", "end") or has(event, "authentication", "end"):
            origins.pop(origin, None)
            return []
        if not login_started(event):
            return []
        kind = origin.split(":", 1)[0]
        cfg = self.config
        others = sorted(o for o, ts in origins.items()
                        if o != origin and o.startswith(f"{kind}:") and abs(event.timestamp - ts) <= cfg.overlap
                        and not self._both_assigned(account, o, origin))  # fmt: skip
        previous = origins.get(origin)
        origins[origin] = max(previous, event.timestamp) if previous else event.timestamp
        if not others:
            return []
        places = ", ".join(o.split(":", 1)[1] for o in others)
        here = origin.split(":", 1)[1]
        finding = Finding(
            BORROWED,
            entity("user", account),
            [event],
            en=f"{account} active from {here} while also active from {places}",
            zh=f"账号 {account} 同时在 {here} 和 {places} 上使用，疑似借用账号",
            dedup=f"{account}|{'|'.join(sorted([origin, *others]))}",
            context={"origins": ",".join(sorted([origin, *others])), "host": host_of(event)},
        )
        return [finding.alert()] if self.state.cooldown.ready(finding.key, event.timestamp, cfg.suppress) else []

    def _both_assigned(self, account: str, a: str, b: str) -> bool:
        user = self.index.user(account)
        if user is None:
            return False

        def mine(origin: str) -> bool:
            kind, value = origin.split(":", 1)
            if kind == "host":
                return value in {host_name(h) for h in user.hosts}
            return self.index.owner_of_ip(value) is user

        return mine(a) and mine(b)

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        for account in list(self.state.active):
            origins = self.state.active[account]
            for origin in [o for o, ts in origins.items() if now - ts > self.config.overlap]:
                del origins[origin]
            if not origins:
                del self.state.active[account]
        self.state.cooldown.expire(now, self.config.suppress)
        return []


def _origin(event: EcsEvent) -> str | None:
    """Where the account is used from: the client address of a network logon, else the host logged on to."""
    if ip := source_ip(event):
        return f"ip:{ip}"
    host = host_of(event)
    return f"host:{host_name(host)}" if host else None
