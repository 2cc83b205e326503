"""A legal hold: logs about an entity in a time range that retention must not destroy.

Holds come from incidents (the playbook engine) or an administrator, and live in `vigil-holds`.
A hold is never deleted: releasing it fills the `released_*` fields, so the record shows who
protected what, why, and who lifted the protection and why.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from core.names import RetentionScope

ENTITY_KINDS = ("user", "host", "ip", "source")
# The hold id names its evidence index (`vigil-evidence-<id>`): lowercase, no index-name specials,
# and not ending in `-deadletter`, the suffix of the dead-letter evidence index.
HOLD_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class HoldModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class HoldRequest(HoldModel):
    """What the caller asks for (CLI, API, playbook action)."""

    entity: str = Field(description="`user:alice`, `host:ws01`, `ip:10.0.0.5`, `source:web01-auth`, or `*`")
    category: RetentionScope | None = Field(None, description="one category (or `deadletter`); None = all")
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime | None = Field(None, description="end of the held range (exclusive); None = open-ended")
    reason: str = Field(min_length=1)
    incident_id: str | None = None
    created_by: str = Field(min_length=1)

    @field_validator("entity")
    @classmethod
    def _entity(cls, value: str) -> str:
        if value == "*":
            return value
        kind, sep, name = value.partition(":")
        if not sep or not name or kind not in ENTITY_KINDS:
            raise ValueError(f"entity {value!r} is not '*' or 'kind:value' with kind in {', '.join(ENTITY_KINDS)}")
        if kind == "ip":
            ipaddress.ip_address(name)  # a term on an `ip` field with a non-address fails the whole search
        return value

    @field_validator("from_", "to")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value else value

    @model_validator(mode="after")
    def _range(self) -> HoldRequest:
        if self.to is not None and self.to <= self.from_:
            raise ValueError(f"hold range is empty: to ({self.to.isoformat()}) ≤ from ({self.from_.isoformat()})")
        return self


class Hold(HoldRequest):
    """A stored hold (`vigil-holds`, `_id` = `id`)."""

    id: str = Field(pattern=HOLD_ID_PATTERN)
    created_at: AwareDatetime
    released_by: str | None = None
    released_at: AwareDatetime | None = None
    release_reason: str | None = None

    @field_validator("id")
    @classmethod
    def _not_deadletter_suffix(cls, value: str) -> str:
        if value.endswith("-deadletter"):
            raise ValueError("a hold id may not end in '-deadletter' (the dead-letter evidence index suffix)")
        return value

    @property
    def active(self) -> bool:
        return self.released_at is None

    def covers(self, start: datetime, end: datetime) -> bool:
        """Does the held range meet [start, end)?"""
        return self.from_ < end and (self.to is None or start < self.to)

    def applies_to(self, scope: RetentionScope) -> bool:
        return self.category is None or self.category is scope

    def to_document(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)
