"""`/entities`: the people/asset inventory as stored in `vigil-entities`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.models.common import PublicModel

EntityKind = Literal["user", "resource", "vendor", "calendar"]


class EntitySearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: list[EntityKind] = Field(default_factory=list)
    size: int = Field(100, ge=0, le=10_000)
    offset: int = Field(0, ge=0, le=10_000)


class EntityPublic(PublicModel):
    id: str = Field(description="`kind:key`, e.g. user:alice, resource:hr-share, calendar:default")
    kind: EntityKind
    key: str
    attributes: dict[str, Any] = Field(description="the entity as the inventory defines it (core.models.entity)")


class EntitiesPublic(PublicModel):
    data: list[EntityPublic]
    count: int


class EntitiesSyncPublic(PublicModel):
    """What `PUT /entities` did: the index now holds exactly the uploaded inventory."""

    indexed: int
    deleted: int = Field(description="entities that were stored but are not in the upload")
    users: int
    resources: int
    vendors: int
