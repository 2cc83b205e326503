"""`/rules`: what the Sigma engine loaded and skipped, per-rule enable state, and rule tests."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from api.models.common import PublicModel
from core.models.rules import RuleState
from detectors.sigma.engine import DirCounts

__all__ = ["RuleState"]  # the `vigil-rule-state` document, re-exported for the routes


class RuleToggle(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=10_000, description="why, for the record")


class RulePublic(PublicModel):
    id: str
    title: str
    level: str | None
    status: str | None
    tags: list[str]
    logsource: str = Field(description="product/category/service")
    rule_dir: str
    path: str
    version: str | None
    enabled: bool = Field(description="false once disabled through `POST /rules/{id}/disable`")
    state: RuleState | None = Field(None, description="the last enable/disable, if any")


class SkippedRulePublic(PublicModel):
    id: str
    title: str
    rule_dir: str
    path: str
    reason: str
    detail: str


class RulesPublic(PublicModel):
    loaded: int
    skipped: int
    correlations: int
    dirs: dict[str, DirCounts]
    skipped_by_reason: dict[str, int]
    data: list[RulePublic] = Field(description="the loaded rules")
    skipped_rules: list[SkippedRulePublic]


class RuleTest(BaseModel):
    """`POST /rules/test`: one Sigma rule (YAML) and the events to run it on."""

    model_config = ConfigDict(extra="forbid")

    rule: str = Field(min_length=1, max_length=200_000, description="the Sigma rule, YAML")
    events: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000, description='ECS documents or raw Windows JSON ({"Event": {"System": …}})'
    )


class EventResult(PublicModel):
    index: int = Field(description="position in `events`")
    event_id: str | None
    matched: bool
    errors: list[str] = Field(
        default_factory=list, description="the rule raised on this event, or its raw Windows record did not parse"
    )


class RuleTestPublic(PublicModel):
    rule_id: str
    title: str
    matched: int
    results: list[EventResult]
