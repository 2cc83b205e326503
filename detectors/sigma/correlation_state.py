"""The correlation detector's checkpointed state: plain pydantic models, JSON round-trip exact.

Windows are kept per correlation rule and group as the list of their entries sorted by event time
(ties in arrival order); everything else (counts, distinct values, sums) is recomputed from the
entries, so the checkpoint holds nothing that could disagree with them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowEntry(StateModel):
    """One event in one group's window."""

    t: AwareDatetime
    seq: int = Field(description="arrival number: orders events of the same time (temporal_ordered)")
    event_id: str | None = None
    rules: tuple[str, ...] = Field(description="the referenced rules (or correlations) this event matched")
    value: str | float | None = Field(default=None, description="value_count: the distinct value; value_*: a number")


class GroupState(StateModel):
    fields: dict[str, str] = Field(description="group-by field → value, as first seen")
    entries: list[WindowEntry] = Field(default_factory=list)
    episode_last: AwareDatetime | None = Field(
        default=None, description="latest event time the condition held at; within one timespan of it, no new alert"
    )


class LateEvent(StateModel):
    event_id: str | None
    t: AwareDatetime
    rules: tuple[str, ...]
    watermark: AwareDatetime


class RuleState(StateModel):
    groups: dict[str, GroupState] = Field(default_factory=dict)
    alerts: int = 0
    late: int = Field(default=0, description="matching events behind the watermark: counted here, not windowed")
    ungrouped: int = Field(default=0, description="matching events without a value for a group-by field")


class CorrelationState(StateModel):
    version: Literal[1] = 1
    max_event_time: AwareDatetime | None = None
    last_tick: AwareDatetime | None = None
    seq: int = 0
    rules: dict[str, RuleState] = Field(default_factory=dict)
    late: int = 0
    late_recent: list[LateEvent] = Field(default_factory=list, description="the last few late events, newest last")

    def clock(self) -> datetime | None:
        """The latest time seen, from events or ticks."""
        times = [t for t in (self.max_event_time, self.last_tick) if t is not None]
        return max(times) if times else None


class RuleStatus(BaseModel):
    rule_id: str
    title: str
    groups: int
    entries: int
    alerts: int
    late: int
    ungrouped: int


class CorrelationStatus(BaseModel):
    """What `vigil status` and the rules API show about the correlation detector."""

    watermark: AwareDatetime | None
    late: int
    late_recent: list[LateEvent]
    rules: list[RuleStatus]
