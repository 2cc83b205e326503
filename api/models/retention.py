"""`/retention/status` and `/holds`: the retention package's own models, behind response models."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.models.common import PublicModel
from core.models.hold import HOLD_ID_PATTERN, Hold, HoldRequest
from core.names import RetentionScope
from retention.overview import RetentionStatus


class RetentionStatusPublic(RetentionStatus):
    model_config = ConfigDict(extra="ignore")


class HoldCreate(BaseModel):
    """`POST /holds`. Who places the hold is the caller's token name, never taken from the body;
    the entity and the range are checked by `HoldRequest` (a 422 names the field)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    entity: str = Field(description="`user:alice`, `host:ws01`, `ip:10.0.0.5`, `source:web01-auth`, or `*`")
    category: RetentionScope | None = Field(None, description="one category (or `deadletter`); None = all")
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime | None = Field(None, description="end of the held range (exclusive); None = open-ended")
    reason: str = Field(min_length=1, max_length=10_000)
    incident_id: str | None = None
    id: str | None = Field(None, pattern=HOLD_ID_PATTERN, description="choose one to make retries harmless")

    def request(self, by: str) -> HoldRequest:
        return HoldRequest.model_validate({**self.model_dump(by_alias=True, exclude={"id"}), "created_by": by})


class HoldRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=10_000)


class HoldSearch(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    include_released: bool = Field(False, alias="all", description="released holds too")


class HoldPublic(Hold):
    model_config = ConfigDict(extra="ignore")


class HoldsPublic(PublicModel):
    data: list[HoldPublic]
    count: int
