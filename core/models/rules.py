"""Rule state and the rules summary: written by the API and the detection workers, read by the workers,
the API and the patrol record (so they live here, not in any one of those packages)."""

from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class RuleState(BaseModel):
    """One document of `vigil-rule-state` (`_id` = rule id): the last enable/disable of a rule."""

    model_config = ConfigDict(extra="forbid")

    rule_id: str
    enabled: bool
    changed_by: str
    changed_at: datetime
    reason: str | None = None


class RulesSummary(BaseModel):
    """What the partition detection lane loaded and honours (`vigil-reports`, id `RULES_SUMMARY_ID`),
    rewritten at its start and whenever the rule state it read changed."""

    model_config = ConfigDict(extra="forbid")

    loaded: int
    skipped: int
    correlations: int
    at: AwareDatetime
    skipped_by_reason: dict[str, int] = Field(default_factory=dict)
    disabled: list[str] = Field(default_factory=list, description="ids of loaded rules switched off")
