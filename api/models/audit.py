"""`GET /audit`: the audit trail, filtered."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.audit import AuditRecord
from api.models.common import PublicModel
from api.permissions import Role
from api.timeparse import TimeBound


class AuditSearch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    actor: list[str] = Field(default_factory=list, description="token name")
    role: list[Role] = Field(default_factory=list)
    action: list[str] = Field(default_factory=list, description="e.g. events.search")
    from_: TimeBound | None = Field(None, alias="from")
    to: TimeBound | None = None
    size: int = Field(50, ge=1, le=10_000)
    offset: int = Field(0, ge=0, le=10_000)

    @model_validator(mode="after")
    def _window(self) -> AuditSearch:
        if self.offset + self.size > 10_000:
            raise ValueError("offset + size must be at most 10,000: narrow the time range")
        return self


class AuditPublic(AuditRecord):
    model_config = ConfigDict(extra="ignore")  # documents written by later versions still read


class AuditsPublic(PublicModel):
    data: list[AuditPublic]
    count: int
