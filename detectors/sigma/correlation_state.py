"""The correlation detector's checkpointed state: plain pydantic models, JSON round-trip exact.

Windows are kept per correlation rule and group as the list of their entries sorted by event time
(ties in arrival order); everything else (counts, distinct values, sums) is recomputed from the
entries, so the checkpoint holds nothing that could disagree with them.
"""

from __future__ import annotations

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
    max_t: AwareDatetime = Field(description="latest event time in the group: its watermark is this - allowance")
    touched: AwareDatetime = Field(description="the clock (last tick, else event time) at the group's last event")
    closed_until: AwareDatetime | None = Field(default=None, description="at-close rules: last closed window end")
    episode_last: AwareDatetime | None = Field(
        default=None, description="latest event time the condition held at; within one timespan of it, no new alert"
    )


class LateEvent(StateModel):
    event_id: str | None
    t: AwareDatetime
    rule_id: str
    group: str
    watermark: AwareDatetime = Field(description="the group's watermark (or closed window end) it was behind")


class RuleState(StateModel):
    groups: dict[str, GroupState] = Field(default_factory=dict)
    alerts: int = 0
    late: int = Field(default=0, description="matching events behind their group's watermark: counted, not windowed")
    ungrouped: int = Field(default=0, description="matching events without a value for a group-by field")
    dropped: int = Field(default=0, description="entries dropped because a group exceeded `max_entries`")


class CorrelationState(StateModel):
    version: Literal[1] = 1
    max_event_time: AwareDatetime | None = None
    last_tick: AwareDatetime | None = None
    seq: int = 0
    rules: dict[str, RuleState] = Field(default_factory=dict)
    late: int = Field(default=0, description="events late for at least one rule")
    late_recent: list[LateEvent] = Field(default_factory=list, description="the last few late events, newest last")


class RuleStatus(BaseModel):
    rule_id: str
    title: str
    groups: int
    entries: int
    alerts: int
    late: int
    ungrouped: int
    dropped: int


class CorrelationStatus(BaseModel):
    """What `vigil status` and the rules API show about the correlation detector."""

    max_event_time: AwareDatetime | None
    last_tick: AwareDatetime | None
    late: int
    late_recent: list[LateEvent]
    rules: list[RuleStatus]
