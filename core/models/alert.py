"""What detectors emit on `vigil.alerts` and what the alert store keeps in `vigil-alerts`.

An alert's `id` is a pure function of what it is about (see `alert_id`): the streaming engine, a
scheduled hunt and a forensic replay that see the same events produce the same id, so Elasticsearch
keeps one alert, never two. Triage (status, assignee, comments) lives on the stored document and is
changed only through the API, which appends to `history`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class Severity(StrEnum):
    """Sigma's levels; ordered so `>=` comparisons work (`Severity.rank`)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)

    @classmethod
    def of(cls, level: str | None) -> Severity:
        """A Sigma `level` (possibly missing) as a severity; unknown levels are medium."""
        try:
            return cls((level or "medium").lower())
        except ValueError:
            return cls.MEDIUM


class AlertStatus(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


class DetectorKind(StrEnum):
    SIGMA = "sigma"  # one Sigma detection rule, one event
    CORRELATION = "correlation"  # a Sigma correlation rule over several events
    POLICY = "policy"  # a Vigil policy detector (unauthorized access, mass copying, anomalies...)
    META = "meta"  # about the pipeline itself: alert flood, silent log source


class AlertOrigin(StrEnum):
    STREAM = "stream"
    HUNT = "hunt"
    REPLAY = "replay"


EntityKind = Literal["user", "host", "ip", "source", "process", "file", "rule"]


class AlertModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EntityRef(AlertModel):
    """Who or what the alert is about: `user:alice`, `host:ws01`, `ip:10.0.0.5`."""

    kind: EntityKind
    value: str = Field(min_length=1)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, key: str) -> EntityRef:
        """`user:alice` → EntityRef; the event partition key (`EcsEvent.entity()`) has this shape."""
        kind, sep, value = key.partition(":")
        if not sep or not value:
            raise ValueError(f"entity key {key!r} is not 'kind:value'")
        return cls(kind=kind, value=value)  # type: ignore[arg-type]


class RuleRef(AlertModel):
    id: str = Field(min_length=1)
    version: str | None = Field(None, description="Sigma `modified`/`date`, or a detector's version")
    title: str
    kind: DetectorKind


class Summary(AlertModel):
    """The one-line human summary in both console languages."""

    en: str
    zh: str = Field(alias="zh-CN")


class AlertDraft(AlertModel):
    """What a detector returns: everything but the stored-only triage fields and the id."""

    rule: RuleRef
    severity: Severity
    tags: list[str] = Field(default_factory=list, description="ATT&CK and other Sigma tags")
    entity: EntityRef
    dedup_key: str = Field(min_length=1, description="alerts with the same key inside the suppression window merge")
    event_ids: list[str] = Field(default_factory=list)
    event_count: int = Field(1, ge=0)
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    summary: Summary
    playbook: str | None = Field(None, description="id of the playbook that handles it")
    context: dict[str, str | int | float | bool | None] = Field(default_factory=dict)

    @field_validator("first_seen", "last_seen")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @property
    def attack(self) -> list[str]:
        return [t for t in self.tags if t.startswith("attack.")]


class AlertChange(AlertModel):
    at: AwareDatetime
    by: str
    status: AlertStatus | None = None
    assignee: str | None = None
    comment: str | None = None


class Alert(AlertDraft):
    """An alert on `vigil.alerts` / in `vigil-alerts`."""

    id: str
    timestamp: AwareDatetime = Field(alias="@timestamp", description="when it was raised (detection time)")
    origin: AlertOrigin
    status: AlertStatus = AlertStatus.NEW
    assignee: str | None = None
    history: list[AlertChange] = Field(default_factory=list)

    @classmethod
    def of(cls, draft: AlertDraft, *, origin: AlertOrigin, raised_at: datetime | None = None) -> Alert:
        return cls.model_validate(
            {
                **draft.model_dump(by_alias=True),
                "id": alert_id(draft.rule.id, draft.dedup_key, draft.first_seen),
                "@timestamp": raised_at or datetime.now(UTC),
                "origin": origin,
            }
        )

    def to_document(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def alert_id(rule_id: str, dedup_key: str, anchor: datetime | Iterable[str]) -> str:
    """Deterministic alert id from the rule, the dedup key and an anchor: the first matching event's
    time (windowed alerts) or the matching event ids (one-event alerts)."""
    tail = anchor.astimezone(UTC).isoformat() if isinstance(anchor, datetime) else "\x1e".join(sorted(anchor))
    return hashlib.sha256(f"{rule_id}\x1f{dedup_key}\x1f{tail}".encode()).hexdigest()[:40]
