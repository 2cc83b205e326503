"""`GET /events`: the search parameters and the result shapes."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.models.common import Bucket, PublicModel
from api.timeparse import TimeBound, absolute
from core.names import Category

# Structured filters: query parameter → ECS field. Repeating a parameter ORs its values.
FILTER_FIELDS: dict[str, str] = {
    "category": "vigil.category",
    "event_category": "event.category",
    "dataset": "event.dataset",
    "source": "vigil.source",
    "host": "host.name",
    "user": "user.name",
    "source_ip": "source.ip",
    "destination_ip": "destination.ip",
    "outcome": "event.outcome",
    "action": "event.action",
    "code": "event.code",
}

# Keyword, ip, date and number fields: safe to sort and aggregate on (no text fields, no fielddata).
AGG_FIELDS: frozenset[str] = frozenset(
    {
        *FILTER_FIELDS.values(),
        "event.type", "event.module", "event.provider", "host.hostname", "user.domain", "user.target.name",
        "source.port", "destination.port", "process.name", "process.executable", "network.transport",
        "network.protocol", "dns.question.name", "http.response.status_code", "url.domain", "file.extension",
        "winlog.channel", "winlog.event_id", "observer.name", "tags",
    }
)  # fmt: skip
SORT_FIELDS: frozenset[str] = AGG_FIELDS | {"@timestamp", "event.ingested", "event.severity"}
INTERVAL_RE = re.compile(r"^[1-9]\d{0,3}[smhd]$")


class EventSearch(BaseModel):
    """Query parameters of `GET /events`. Unknown parameters are refused (a typo must not widen a search)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    q: str | None = Field(
        None,
        max_length=4000,
        description="Lucene query string (`user.name:root AND message:failed`); bare words search "
        "message, action, dataset, host, user, process, file, url and DNS names",
    )
    category: list[Category] = Field(default_factory=list, description="vigil.category")
    event_category: list[str] = Field(default_factory=list, description="event.category (ECS)")
    dataset: list[str] = Field(default_factory=list, description="event.dataset")
    source: list[str] = Field(default_factory=list, description="vigil.source (the configured log source)")
    host: list[str] = Field(default_factory=list, description="host.name")
    user: list[str] = Field(default_factory=list, description="user.name")
    source_ip: list[str] = Field(default_factory=list, description="source.ip, an address or a CIDR")
    destination_ip: list[str] = Field(default_factory=list, description="destination.ip, an address or a CIDR")
    outcome: list[str] = Field(default_factory=list, description="event.outcome: success / failure / unknown")
    action: list[str] = Field(default_factory=list, description="event.action")
    code: list[str] = Field(default_factory=list, description="event.code (Windows event id...)")
    from_: TimeBound | None = Field(None, alias="from", description="ISO 8601 or relative (now-24h)")
    to: TimeBound | None = Field(None, description="ISO 8601 or relative (now); exclusive")
    sort: str = Field("-@timestamp", description="comma-separated fields, `-` for descending")
    size: int = Field(50, ge=0, le=10_000, description="page size (capped by the server's max page size)")
    offset: int = Field(0, ge=0, le=10_000, description="skip this many hits (offset + size ≤ 10,000)")
    after: str | None = Field(None, description="cursor from a previous page's `next` (deep pagination)")
    agg: list[str] = Field(default_factory=list, description="count per value of these fields (terms)")
    agg_size: int = Field(10, ge=1, le=1000, description="buckets per terms aggregation")
    interval: str | None = Field(None, description="date histogram of hits per interval: 5m, 1h, 1d...")

    @field_validator("source_ip", "destination_ip")
    @classmethod
    def _ip_or_cidr(cls, values: list[str]) -> list[str]:
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or CIDR") from None
        return values

    @field_validator("agg")
    @classmethod
    def _aggregatable(cls, values: list[str]) -> list[str]:
        for value in values:
            if value not in AGG_FIELDS:
                raise ValueError(f"cannot aggregate on {value!r}; aggregatable: {', '.join(sorted(AGG_FIELDS))}")
        return values

    @field_validator("sort")
    @classmethod
    def _sortable(cls, value: str) -> str:
        for part in value.split(","):
            if part.strip().removeprefix("-") not in SORT_FIELDS:
                raise ValueError(f"cannot sort on {part!r}; sortable: {', '.join(sorted(SORT_FIELDS))}")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and not INTERVAL_RE.match(value):
            raise ValueError(f"interval {value!r} must be a number and a unit s, m, h or d (5m, 1h, 1d)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> EventSearch:
        start, end = absolute(self.from_), absolute(self.to)
        if start and end and (start.tzinfo is None) == (end.tzinfo is None) and start >= end:
            raise ValueError(f"from ({self.from_}) must be before to ({self.to})")
        if self.after and self.offset:
            raise ValueError("use either offset or after (a cursor), not both")
        if self.offset + self.size > 10_000:
            raise ValueError("offset + size must be at most 10,000: page further with the `after` cursor")
        return self

    def filters(self) -> dict[str, list[str]]:
        """The structured filters that were set, by ECS field."""
        chosen = {name: getattr(self, name) for name in FILTER_FIELDS}
        return {FILTER_FIELDS[name]: [str(v) for v in values] for name, values in chosen.items() if values}


class EventPublic(PublicModel):
    id: str
    index: str
    timestamp: datetime = Field(alias="@timestamp")
    document: dict[str, Any] = Field(description="the stored ECS document")


class EventsPublic(PublicModel):
    data: list[EventPublic]
    count: int = Field(description="total hits (exact)")
    aggregations: dict[str, list[Bucket]] = Field(default_factory=dict)
    histogram: list[Bucket] | None = None
    next: str | None = Field(None, description="cursor for the next page (`after=`), when there may be one")
