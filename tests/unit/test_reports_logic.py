"""Pure report logic: the working-day calendar, periods, MTTA/MTTR and FP math, the version chain."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from core.models.alert import Alert, AlertChange, AlertStatus, EntityRef, RuleRef, Severity, Summary
from core.models.entity import WorkCalendar
from reports.calendar import Period, day_period, month_period, previous_working_day, quarter_period, working_days
from reports.errors import ReportError, SignOffError
from reports.evaluation import availability
from reports.metrics import alert_section, false_positive_ratios, reason_head, response_times
from reports.models import (
    AlertSection,
    IncidentSection,
    LogHealth,
    PatrolContent,
    ResponseTimes,
    RetentionSection,
    SignOff,
)
from reports.patrol import chain_breaks, first_version, record_hash, signed_version

T0 = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
# 2026: National Day holiday Oct 1-8, with make-up working days on Sunday Sep 27 and Saturday Oct 10.
CALENDAR = WorkCalendar(holidays=["2026-10-01..2026-10-08"], makeup_days=[date(2026, 9, 27), date(2026, 10, 10)])


def alert(n: int, *, status: AlertStatus = AlertStatus.NEW, changes: list[tuple[int, AlertStatus]] = (),
          rule: str = "r1", severity: Severity = Severity.HIGH, user: str = "alice") -> Alert:  # fmt: skip
    return Alert.model_validate({
        "id": f"a{n}", "@timestamp": T0, "origin": "stream", "status": status,
        "rule": RuleRef(id=rule, title=f"Rule {rule}", kind="sigma"), "severity": severity,
        "entity": EntityRef(kind="user", value=user), "dedup_key": f"k{n}", "first_seen": T0, "last_seen": T0,
        "summary": Summary.model_validate({"en": "x", "zh-CN": "x"}),
        "history": [AlertChange(at=T0 + timedelta(seconds=s), by="officer", status=st) for s, st in changes],
    })  # fmt: skip


def test_previous_working_day_skips_weekends_holidays_and_honours_makeup_days() -> None:
    assert previous_working_day(CALENDAR, date(2026, 11, 9)) == date(2026, 11, 6)  # Monday → Friday
    assert previous_working_day(CALENDAR, date(2026, 11, 11)) == date(2026, 11, 10)
    assert previous_working_day(CALENDAR, date(2026, 10, 9)) == date(2026, 9, 30)  # over the holiday
    assert previous_working_day(CALENDAR, date(2026, 10, 12)) == date(2026, 10, 10)  # a make-up Saturday
    assert previous_working_day(CALENDAR, date(2026, 9, 28)) == date(2026, 9, 27)  # a make-up Sunday


def test_working_days_of_october_2026() -> None:
    days = working_days(CALENDAR, date(2026, 10, 1), date(2026, 11, 1))
    assert date(2026, 10, 1) not in days and date(2026, 10, 10) in days and date(2026, 10, 11) not in days
    assert len(days) == 17  # 22 weekdays - 6 holiday weekdays (Oct 1, 2, 5, 6, 7, 8) + make-up Oct 10


def test_periods_in_the_configured_zone() -> None:
    day = day_period(date(2026, 11, 10), "Asia/Shanghai")
    assert day.start_utc == datetime(2026, 11, 9, 16, tzinfo=UTC) and day.end_utc == datetime(
        2026, 11, 10, 16, tzinfo=UTC
    )
    assert day.minutes(datetime(2026, 12, 1, tzinfo=UTC)) == 1440
    assert day.minutes(datetime(2026, 11, 9, 17, 30, tzinfo=UTC)) == 90  # still running: judged so far
    dec = month_period("2026-12", "Asia/Shanghai")
    assert (dec.start, dec.end) == (date(2026, 12, 1), date(2027, 1, 1))
    q4 = quarter_period("2026Q4", "Asia/Shanghai")
    assert (q4.start, q4.end, q4.label) == (date(2026, 10, 1), date(2027, 1, 1), "2026Q4")
    assert quarter_period("2026-q1", "UTC").end == date(2026, 4, 1)
    for bad in ("2026-13", "Nov 2026"):
        with pytest.raises(ReportError):
            month_period(bad, "UTC")
    with pytest.raises(ReportError):
        quarter_period("2026Q5", "UTC")


def test_mtta_mttr_from_history() -> None:
    alerts = [
        alert(1, status=AlertStatus.RESOLVED, changes=[(60, AlertStatus.ACKNOWLEDGED), (600, AlertStatus.RESOLVED)]),
        # Investigating first counts as acknowledging; a comment-only change (status None) does not.
        alert(
            2,
            status=AlertStatus.FALSE_POSITIVE,
            changes=[(30, None), (180, AlertStatus.INVESTIGATING), (1200, AlertStatus.FALSE_POSITIVE)],
        ),  # fmt: skip
        alert(3),
    ]
    times = response_times(alerts)
    assert times == ResponseTimes(alerts=3, acknowledged=2, resolved=2, mtta_s=120.0, mttr_s=900.0, max_tta_s=180.0)
    assert response_times([]).mtta_s is None


def test_alert_section_and_false_positive_ratio() -> None:
    alerts = [alert(1, status=AlertStatus.FALSE_POSITIVE), alert(2, status=AlertStatus.FALSE_POSITIVE),
              alert(3), alert(4, rule="r2", severity=Severity.LOW, user="bob")]  # fmt: skip
    section = alert_section(alerts)
    assert {c.key: c.count for c in section.by_severity} == {"critical": 0, "high": 3, "medium": 0, "low": 1,
                                                             "informational": 0}  # fmt: skip
    assert [(c.key, c.count, c.label) for c in section.by_rule] == [("r1", 3, "Rule r1"), ("r2", 1, "Rule r2")]
    assert section.unacknowledged_high == 1
    fp = false_positive_ratios(alerts)
    assert [(r.rule, r.alerts, r.false_positives, round(r.ratio, 4)) for r in fp] == [("r1", 3, 2, 0.6667),
                                                                                     ("r2", 1, 0, 0.0)]  # fmt: skip


def test_availability_and_reason_heads() -> None:
    rows = {a.component: a for a in availability({"elasticsearch": 1440, "kafka": 1380}, 1440)}
    assert rows["elasticsearch"].ratio == 1.0 and rows["kafka"].ratio == pytest.approx(1380 / 1440)
    assert rows["scheduler"].ok == 0 and rows["scheduler"].ratio == 0.0  # no sample is no availability
    assert availability({}, 0)[0].ratio is None
    assert reason_head("no parser matched: <13>garbage") == "no parser matched"


def _content(day: date = date(2026, 11, 10)) -> PatrolContent:
    period: Period = day_period(day, "Asia/Shanghai")
    empty = alert_section([])
    return PatrolContent(
        day=day, zone="Asia/Shanghai", window_start=period.start_utc, window_end=period.end_utc,
        logs=LogHealth(events_total=0, by_category=[], by_source=[], hourly={}, silent_sources=[], deadletters_total=0,
                       deadletters_by_reason=[], deadletters_by_source=[]),
        alerts=AlertSection.model_validate(empty.model_dump()), incidents=IncidentSection(configured=False),
        retention=RetentionSection(available=False, compliant=None, error="x"), rules=None,
        notable_users=[], notable_hosts=[],
    )  # fmt: skip


def test_version_chain() -> None:
    now = datetime.combine(date(2026, 11, 11), time(0, 30), UTC)
    v1 = first_version(_content(), now)
    assert v1.version == 1 and not v1.signed and v1.content_hash == record_hash(v1)
    signed = signed_version(v1, SignOff(findings="nothing abnormal"), "zhang.wei", now + timedelta(hours=1))
    assert signed.version == 1 and signed.signed_by == "zhang.wei" and signed.content_hash != v1.content_hash
    v2 = signed_version(signed, SignOff(findings="late: 3 failed sudo"), "zhang.wei", now + timedelta(hours=2))
    assert v2.version == 2 and v2.previous_hash == signed.content_hash and signed.findings == "nothing abnormal"
    assert chain_breaks([signed, v2]) == []
    tampered = signed.model_copy(update={"findings": "edited"})
    assert chain_breaks([tampered, v2]) == ["version 1 does not match its hash (altered)"]
    assert chain_breaks([v2]) == ["version 1 missing (found 2)"]
    with pytest.raises(SignOffError):
        signed_version(v1, SignOff(), " ", now)
