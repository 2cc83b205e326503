"""`/alerts`: search parameters, the triage update, and the result shapes."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from api.models.common import Bucket, PublicModel
from api.models.events import EventPublic
from api.timeparse import TimeBound, absolute
from core.models.alert import Alert, AlertOrigin, AlertStatus, EntityRef, Severity
from core.models.incident import IncidentStatus


class AlertAgg(StrEnum):
    """What `agg=` may count alerts by (the console's queue facets)."""

    SEVERITY = "severity"
    STATUS = "status"
    RULE = "rule"
    ENTITY = "entity"
    ORIGIN = "origin"
    ASSIGNEE = "assignee"


# Keyword, date and number fields of the `vigil-alerts` mapping. Not severity: as a keyword it sorts
# alphabetically (critical < high < informational), and the local Elasticsearch has no scripting to
# sort by rank: filter with `severity=` (at least) instead.
ALERT_SORT_FIELDS: frozenset[str] = frozenset(
    {"@timestamp", "first_seen", "last_seen", "event_count", "status", "rule.id", "assignee", "entity.value", "id"}
)


class AlertSearch(BaseModel):
    """Query parameters of `GET /alerts`. Unknown parameters are refused (a typo must not widen a search)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str | None = Field(None, max_length=1000, description="words in the rule title or the summary (en, zh-CN)")
    severity: Severity | None = Field(None, description="at least this severity")
    status: list[AlertStatus] = Field(default_factory=list)
    rule: list[str] = Field(default_factory=list, description="rule id")
    entity: list[str] = Field(default_factory=list, description="`kind:value`, e.g. user:alice, host:ws01")
    origin: list[AlertOrigin] = Field(default_factory=list)
    assignee: list[str] = Field(default_factory=list)
    from_: TimeBound | None = Field(None, alias="from", description="ISO 8601 or relative (now-24h)")
    to: TimeBound | None = Field(None, description="ISO 8601 or relative (now); exclusive")
    time_field: Literal["@timestamp", "first_seen"] = Field(
        "@timestamp", description="what from/to bound: when the alert was raised, or its first event"
    )
    sort: str = Field("-@timestamp", description="comma-separated fields, `-` for descending")
    size: int = Field(50, ge=0, le=10_000)
    offset: int = Field(0, ge=0, le=10_000)
    agg: list[AlertAgg] = Field(default_factory=list, description="count alerts per value of these")
    agg_size: int = Field(10, ge=1, le=1000)

    @field_validator("entity")
    @classmethod
    def _entities(cls, values: list[str]) -> list[str]:
        for value in values:
            EntityRef.parse(value)  # ValueError names the bad key
        return values

    @field_validator("sort")
    @classmethod
    def _sortable(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip().removeprefix("-") not in ALERT_SORT_FIELDS:
                raise ValueError(f"cannot sort on {part!r}; sortable: {', '.join(sorted(ALERT_SORT_FIELDS))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AlertSearch:
        start, end = absolute(self.from_), absolute(self.to)
        if start and end and (start.tzinfo is None) == (end.tzinfo is None) and start >= end:
            raise ValueError(f"from ({self.from_}) must be before to ({self.to})")
        if self.offset + self.size > 10_000:
            raise ValueError("offset + size must be at most 10,000: narrow the filters")
        return self

    def entity_refs(self) -> list[EntityRef]:
        return [EntityRef.parse(value) for value in self.entity]


class AlertUpdate(BaseModel):
    """`PATCH /alerts/{id}`: any of a new status, an assignee, a comment; each change lands in `history`."""

    model_config = ConfigDict(extra="forbid")

    status: AlertStatus | None = None
    assignee: str | None = Field(None, min_length=1, max_length=128, description="who works the alert")
    comment: str | None = Field(None, min_length=1, max_length=10_000)

    @model_validator(mode="after")
    def _something(self) -> AlertUpdate:
        if self.status is None and self.assignee is None and self.comment is None:
            raise ValueError("send at least one of status, assignee, comment")
        return self


class BulkAck(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[str] = Field(min_length=1, max_length=1000)
    comment: str | None = Field(None, min_length=1, max_length=10_000)


class AlertPublic(Alert):
    model_config = ConfigDict(extra="ignore")  # documents written by later versions still read


class AlertsPublic(PublicModel):
    data: list[AlertPublic]
    count: int = Field(description="total matching alerts (exact)")
    aggregations: dict[str, list[Bucket]] = Field(default_factory=dict)


class AlertIncident(PublicModel):
    """An incident the alert was grouped into (or opened by hand with it): enough to follow the link."""

    id: str
    title: str
    playbook: str | None
    status: IncidentStatus
    severity: Severity
    drill: bool
    opened_at: AwareDatetime


class AlertDetailPublic(AlertPublic):
    events: list[EventPublic] | None = Field(
        None, description="the matching events from logs-* (null: the caller's role may not read logs)"
    )
    events_count: int | None = Field(None, description="how many of `event_ids` are still in logs-*")
    incidents: list[AlertIncident] = Field(
        default_factory=list, description="the incidents whose `alert_ids` contain this alert, newest first"
    )


class AckResult(PublicModel):
    id: str
    result: Literal["acknowledged", "not_found", "refused"]
    detail: str | None = None
    status: AlertStatus | None = Field(None, description="the alert's status after the call")


class BulkAckPublic(PublicModel):
    data: list[AckResult]
    acknowledged: int
