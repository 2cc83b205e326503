"""Retention status for the CLI, the API, the patrol record and the evaluations.

Compliance, as an auditor checks it against the 60-day floor (policy rule 1), for each category:
1. the configured retention of the category is at least the floor (and the policy loads at all), and
2. no day is missing from the floor window: every complete UTC day D with
   ``first day ever ingested <= D`` and ``D + 1 day + floor > now`` (a day the floor still protects)
   has its daily index.
"First day ever ingested" is the older of the oldest index still present and the oldest day the
retention job recorded deleting (`vigil-retention-log`): a deployment younger than 60 days is
compliant with what it has, but a day deleted behind the job's back, or a day with no logs at all
(a silent pipeline), is a gap. A category with no logs ever is not compliant (nothing is kept).
Today (incomplete) is not required. Dead letters have no gaps by nature (a good day has none):
for them only the retention setting counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict

from core.errors import ConfigError, RetentionError
from core.models.hold import Hold
from core.names import RETENTION_LOG_INDEX, RetentionScope
from core.settings import RETENTION_FLOOR_DAYS, RetentionPolicy, Settings
from retention.holds import list_holds
from retention.indices import DailyIndex, as_utc, day_start, list_daily_indices
from retention.plan import deletable_at
from retention.policy import load_policy


class NextDeletion(BaseModel):
    index: str
    day: date
    at: datetime
    overdue: bool


class ScopeStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    scope: RetentionScope
    retention_days: int
    oldest_day: date | None
    newest_day: date | None
    first_day_ingested: date | None
    missing_days: list[date]  # gaps between the oldest and the newest day present
    window_gaps: list[date]  # days the floor still protects that have no index (see the module doc)
    docs: int
    size_bytes: int
    active_holds: list[str]
    next_deletion: NextDeletion | None
    compliant: bool
    findings: list[str]


class RetentionStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    now: datetime
    floor_days: int
    policy_error: str | None
    compliant: bool
    scopes: list[ScopeStatus]
    holds: list[Hold]


def status(es: Elasticsearch, settings: Settings, now: datetime | None = None) -> RetentionStatus:
    now = as_utc(now or datetime.now(UTC))
    policy_error = None
    try:
        policy = load_policy(settings)
    except (ConfigError, RetentionError) as exc:
        policy_error, policy = str(exc), RetentionPolicy()
    indices = list_daily_indices(es)
    holds = list_holds(es)
    deleted = first_deleted_days(es)
    scopes = [
        scope_status(scope, [ix for ix in indices if ix.scope is scope], holds, policy, deleted.get(scope), now)
        for scope in RetentionScope
    ]
    compliant = policy_error is None and all(s.compliant for s in scopes)
    return RetentionStatus(now=now, floor_days=RETENTION_FLOOR_DAYS, policy_error=policy_error, compliant=compliant,
                           scopes=scopes, holds=holds)  # fmt: skip


def scope_status(
    scope: RetentionScope,
    indices: list[DailyIndex],
    holds: list[Hold],
    policy: RetentionPolicy,
    first_deleted: date | None,
    now: datetime,
) -> ScopeStatus:
    """Pure: the status of one scope from its indices, the holds and the job's deletion record."""
    days = policy.days(scope)
    present = {ix.day for ix in indices}
    oldest, newest = (min(present), max(present)) if present else (None, None)
    first = min(d for d in (oldest, first_deleted) if d is not None) if (oldest or first_deleted) else None
    missing = [d for d in _days(oldest, newest) if d not in present] if oldest and newest else []
    last_complete = now.date() - timedelta(days=1)
    window_gaps = [
        d
        for d in (_days(first, last_complete) if first else [])
        if d not in present and now < _end(d) + timedelta(days=RETENTION_FLOOR_DAYS)
    ]
    findings = []
    if days < RETENTION_FLOOR_DAYS:
        findings.append(f"retention {days} days is below the {RETENTION_FLOOR_DAYS}-day floor")
    if scope is not RetentionScope.DEADLETTER:
        if first is None:
            findings.append("no logs were ever ingested: nothing is kept")
        if window_gaps:
            findings.append(f"{len(window_gaps)} day(s) missing inside the {RETENTION_FLOOR_DAYS}-day window: "
                            + ", ".join(f"{d:%Y-%m-%d}" for d in window_gaps[:10])
                            + (", ..." if len(window_gaps) > 10 else ""))  # fmt: skip
    next_deletion = None
    if indices:
        first_index = min(indices, key=lambda ix: ix.day)
        at = deletable_at(first_index, days)
        next_deletion = NextDeletion(index=first_index.name, day=first_index.day, at=at, overdue=at <= now)
    return ScopeStatus(
        scope=scope,
        retention_days=days,
        oldest_day=oldest,
        newest_day=newest,
        first_day_ingested=first,
        missing_days=missing,
        window_gaps=window_gaps if scope is not RetentionScope.DEADLETTER else [],
        docs=sum(ix.docs for ix in indices),
        size_bytes=sum(ix.size_bytes for ix in indices),
        active_holds=[h.id for h in holds if h.active and h.applies_to(scope)],
        next_deletion=next_deletion,
        compliant=not findings,
        findings=findings,
    )


def first_deleted_days(es: Elasticsearch) -> dict[RetentionScope, date]:
    """The oldest day the job ever deleted, per scope (from `vigil-retention-log`)."""
    if not es.indices.exists(index=RETENTION_LOG_INDEX):
        return {}
    aggs: dict[str, Any] = {
        "by": {"terms": {"field": "scope", "size": 10}, "aggs": {"first": {"min": {"field": "day"}}}}
    }
    response = es.search(index=RETENTION_LOG_INDEX, size=0, aggs=aggs)
    found = {}
    for bucket in response["aggregations"]["by"]["buckets"]:
        value = bucket["first"].get("value_as_string")
        if value:
            found[RetentionScope(bucket["key"])] = date.fromisoformat(value[:10])
    return found


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _end(day: date) -> datetime:
    return day_start(day + timedelta(days=1))
