"""Monthly (small) and quarterly (full) service-quality evaluations (policy rule 7).

Availability per component = ok samples / expected samples, expected = one per minute of the period
(up to `now`). Ingestion accuracy = dead letters / (events + dead letters). Response times from alert
histories. Patrol compliance = signed working days / working days. The quarterly evaluation is the
same measures over the quarter plus the three monthly ones beside it.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch

from core.models.alert import Severity
from core.models.entity import WorkCalendar
from core.settings import Settings
from reports import incidents, queries
from reports.calendar import Period, month_period, working_days
from reports.health import COMPONENTS
from reports.metrics import alert_section, false_positive_ratios, ratio, response_times
from reports.models import Availability, Evaluation, RetentionSection
from reports.patrol import RetentionReader, retention_section, unsigned_days


def availability(ok: dict[str, int], expected: int) -> list[Availability]:
    names = [*COMPONENTS, *sorted(set(ok) - set(COMPONENTS))]
    return [Availability(component=n, ok=min(ok.get(n, 0), expected), expected=expected,
                         ratio=ratio(min(ok.get(n, 0), expected), expected)) for n in names]  # fmt: skip


def evaluate(
    es: Elasticsearch,
    settings: Settings,
    calendar: WorkCalendar,
    period: Period,
    kind: str,
    now: datetime,
    retention: RetentionReader = retention_section,
    retention_now: RetentionSection | None = None,
) -> Evaluation:
    alerts, _ = queries.alerts(es, period)
    events, letters = queries.event_count(es, period), queries.deadletter_count(es, period)
    # A day's record is due the next morning: only days before today count (a running month is judged so far).
    until = min(period.end, now.astimezone(ZoneInfo(period.zone)).date())
    days = working_days(calendar, period.start, until) if until > period.start else []
    unsigned = unsigned_days(es, calendar, period.start, until) if days else []
    by_severity = {
        s.value: response_times([a for a in alerts if a.severity is s]) for s in sorted(Severity, key=lambda s: -s.rank)
    }
    return Evaluation(
        kind=kind,
        period=period.label,
        start=period.start,
        end=period.end,
        zone=period.zone,
        generated_at=now,
        availability=availability(queries.health_ok_counts(es, period), period.minutes(now)),
        events=events,
        deadletters=letters,
        deadletter_ratio=ratio(letters, events + letters),
        response=response_times(alerts),
        response_by_severity=by_severity,
        incidents=incidents.compliance(es, period),
        false_positives=false_positive_ratios(alerts),
        working_days=len(days),
        signed_days=len(days) - len(unsigned),
        signoff_ratio=ratio(len(days) - len(unsigned), len(days)),
        unsigned_days=[u.day for u in unsigned],
        retention=retention_now or retention(es, settings, now),
        by_category=queries.category_counts(es, period),
        alerts_by_severity=alert_section(alerts).by_severity,
    )


def monthly(es: Elasticsearch, settings: Settings, calendar: WorkCalendar, month: str, now: datetime,
            retention: RetentionReader = retention_section) -> Evaluation:  # fmt: skip
    return evaluate(es, settings, calendar, month_period(month, settings.timezone), "monthly", now, retention)


def quarterly(es: Elasticsearch, settings: Settings, calendar: WorkCalendar, period: Period, now: datetime,
              retention: RetentionReader = retention_section) -> Evaluation:  # fmt: skip
    shared = retention(es, settings, now)  # one retention view for the quarter and its months
    months = []
    for offset in range(3):
        year, month = period.start.year, period.start.month + offset
        label = f"{year:04d}-{month:02d}"
        months.append(evaluate(es, settings, calendar, month_period(label, settings.timezone), "monthly", now,
                               retention, shared))  # fmt: skip
    full = evaluate(es, settings, calendar, period, "quarterly", now, retention, shared)
    return full.model_copy(update={"monthly": months})
