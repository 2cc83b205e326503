"""Pure arithmetic over alerts and samples: no I/O, so the unit tests pin every formula."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from statistics import fmean

from core.models.alert import Alert, AlertStatus, Severity
from reports.models import AlertSection, Count, ResponseTimes, RuleFalsePositives

CLOSED = {AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE}


def acknowledged_at(alert: Alert) -> datetime | None:
    """The first triage: any status change away from `new` (investigating or closing also acknowledges)."""
    for change in sorted(alert.history, key=lambda c: c.at):
        if change.status is not None and change.status is not AlertStatus.NEW:
            return change.at
    return None


def resolved_at(alert: Alert) -> datetime | None:
    for change in sorted(alert.history, key=lambda c: c.at):
        if change.status in CLOSED:
            return change.at
    return None


def response_times(alerts: Sequence[Alert]) -> ResponseTimes:
    tta = [(t - a.timestamp).total_seconds() for a in alerts if (t := acknowledged_at(a)) is not None]
    ttr = [(t - a.timestamp).total_seconds() for a in alerts if (t := resolved_at(a)) is not None]
    return ResponseTimes(
        alerts=len(alerts),
        acknowledged=len(tta),
        resolved=len(ttr),
        mtta_s=fmean(tta) if tta else None,
        mttr_s=fmean(ttr) if ttr else None,
        max_tta_s=max(tta) if tta else None,
    )


def counts(values: Iterable[str], order: Sequence[str] | None = None) -> list[Count]:
    """Counts, most first; with `order`, in that order and including zeros (severities, statuses)."""
    counter = Counter(values)
    if order is not None:
        return [Count(key=k, count=counter.get(k, 0)) for k in order]
    return [Count(key=k, count=n) for k, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]


def alert_section(alerts: Sequence[Alert]) -> AlertSection:
    titles = {a.rule.id: a.rule.title for a in alerts}
    by_rule = [c.model_copy(update={"label": titles[c.key]}) for c in counts(a.rule.id for a in alerts)]
    severities = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
    return AlertSection(
        total=len(alerts),
        by_severity=counts((a.severity.value for a in alerts), severities),
        by_rule=by_rule,
        by_status=counts((a.status.value for a in alerts), [s.value for s in AlertStatus]),
        response=response_times(alerts),
        unacknowledged_high=sum(
            1 for a in alerts if a.severity.rank >= Severity.HIGH.rank and a.status is AlertStatus.NEW
        ),
    )


def notable(alerts: Sequence[Alert], kind: str, top: int = 10) -> list[Count]:
    """Entities of one kind (`user`, `host`) with the most alerts on the day."""
    return counts(a.entity.value for a in alerts if a.entity.kind == kind)[:top]


def false_positive_ratios(alerts: Sequence[Alert]) -> list[RuleFalsePositives]:
    """Per rule: alerts closed as false positive / all its alerts; worst rules first."""
    by_rule: dict[str, list[Alert]] = {}
    for alert in alerts:
        by_rule.setdefault(alert.rule.id, []).append(alert)
    rows = []
    for rule, items in by_rule.items():
        fp = sum(1 for a in items if a.status is AlertStatus.FALSE_POSITIVE)
        rows.append(RuleFalsePositives(rule=rule, title=items[0].rule.title, alerts=len(items),
                                       false_positives=fp, ratio=fp / len(items)))  # fmt: skip
    return sorted(rows, key=lambda r: (-r.ratio, -r.alerts, r.rule))


def ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def reason_head(reason: str) -> str:
    """Group dead-letter reasons by their kind: the text before the first ':' (details vary per line)."""
    head = reason.split(":", 1)[0].strip()
    return head[:120] or "(no reason)"
