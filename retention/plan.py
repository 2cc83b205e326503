"""Pure planning: which daily indices go, which stay and why. No I/O, `now` is an argument.

The boundary rule
-----------------
A daily index for UTC day D holds documents with ``D 00:00Z <= @timestamp < D+1 00:00Z``. With a
retention of R days it may be deleted once its *whole* day is older than R days::

    deletable  ⇔  (D + 1 day) 00:00 UTC  <=  now − R days

so every document it holds is more than R days old at deletion. Example with R = 60 and
now = 2026-12-01T09:00Z (cut-off 2026-10-02T09:00Z): a document 61 days old (2026-10-01) goes,
one exactly 60 days old (2026-10-02T09:00Z) stays until 2026-12-02T00:00Z, one 59 days old stays.
A document is therefore kept at least R days and at most R + 1 days (plus the job's schedule).

Holds
-----
A deletable index whose scope and day meet an *active* hold is deleted only after the held documents
were copied to the hold's evidence index (the job does the copy, and deletes nothing if it fails).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from core.models.hold import Hold
from core.settings import RetentionPolicy
from retention.indices import DailyIndex, as_utc
from retention.policy import enforce_floor


class Action(StrEnum):
    DELETE = "delete"
    KEEP = "keep"


class PlanItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: DailyIndex
    action: Action
    deletable_at: datetime
    reason: str
    holds: tuple[str, ...] = ()  # active holds meeting the index: their documents are copied first


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)

    now: datetime
    policy: RetentionPolicy
    items: tuple[PlanItem, ...]

    @property
    def deletions(self) -> list[PlanItem]:
        return [item for item in self.items if item.action is Action.DELETE]

    @property
    def kept(self) -> list[PlanItem]:
        return [item for item in self.items if item.action is Action.KEEP]


def deletable_at(index: DailyIndex, days: int) -> datetime:
    """The first instant at which the whole day of `index` is older than `days` days."""
    return index.end + timedelta(days=days)


def is_expired(index: DailyIndex, days: int, now: datetime) -> bool:
    return deletable_at(index, days) <= as_utc(now)


def holds_meeting(index: DailyIndex, holds: list[Hold]) -> list[Hold]:
    return [h for h in holds if h.active and h.applies_to(index.scope) and h.covers(index.start, index.end)]


def make_plan(indices: list[DailyIndex], holds: list[Hold], policy: RetentionPolicy, now: datetime) -> Plan:
    now = as_utc(now)
    enforce_floor(policy)
    items = []
    for index in sorted(indices, key=lambda ix: (ix.day, ix.scope.value)):
        days = policy.days(index.scope)
        when = deletable_at(index, days)
        if when > now:
            reason = f"within {days}-day retention: deletable from {when:%Y-%m-%dT%H:%MZ}"
            items.append(PlanItem(index=index, action=Action.KEEP, deletable_at=when, reason=reason))
            continue
        held = tuple(h.id for h in holds_meeting(index, holds))
        reason = f"day ended {index.end:%Y-%m-%dT%H:%MZ}, more than {days} days ago"
        if held:
            reason += f"; held documents copied to evidence first (holds {', '.join(held)})"
        items.append(PlanItem(index=index, action=Action.DELETE, deletable_at=when, reason=reason, holds=held))
    return Plan(now=now, policy=policy, items=tuple(items))
