"""Which days a daily job is due for at a given 'now' (core.daily_runs.DailyRunner.due), and the
integrity job's day: pure, no Elasticsearch is called."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from core.daily_runs import DailyJob, DailyRunner
from core.settings import Settings
from retention.daily import integrity_job, retention_job

SHANGHAI = ZoneInfo("Asia/Shanghai")


def noop(_day: date, _now: datetime) -> dict[str, Any]:
    return {}


def runner(catch_up_days: int) -> DailyRunner:
    return DailyRunner(None, [], SHANGHAI, catch_up_days=catch_up_days)  # type: ignore[arg-type]


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), SHANGHAI)


def test_a_day_is_due_once_its_local_time_passed_and_missed_days_are_caught_up() -> None:
    job = DailyJob(name="j", at=time(2, 0), day_of=lambda local: local, run=noop)
    wednesday = date(2026, 12, 2)
    assert runner(0).due(job, at(wednesday, 1, 59)) == []
    assert runner(0).due(job, at(wednesday, 2)) == [wednesday]
    assert runner(2).due(job, at(wednesday, 1)) == [date(2026, 11, 30), date(2026, 12, 1)]
    assert runner(2).due(job, at(wednesday, 2).astimezone(UTC)) == [date(2026, 11, 30), date(2026, 12, 1), wednesday]


def test_days_the_job_skips_and_days_two_dates_share() -> None:
    weekdays = DailyJob(name="j", at=time(8, 30), day_of=lambda d: d if d.weekday() < 5 else None, run=noop)
    monday = date(2026, 11, 30)
    assert runner(3).due(weekdays, at(monday, 9)) == [date(2026, 11, 27), monday]  # Friday, Monday; no weekend
    constant = DailyJob(name="j", at=time(0, 0), day_of=lambda _: date(2026, 1, 1), run=noop)
    assert runner(3).due(constant, at(monday, 9)) == [date(2026, 1, 1)]


def test_integrity_verifies_the_utc_day_that_ended_before_the_run() -> None:
    settings = Settings(timezone="Asia/Shanghai", integrity_verify_at=time(3, 0))
    job = integrity_job(None, settings)  # type: ignore[arg-type]
    # 03:00 Shanghai on Dec 2 is 19:00 UTC on Dec 1: the last whole UTC day is Nov 30.
    assert job.day_of(date(2026, 12, 2)) == date(2026, 11, 30)
    utc = integrity_job(None, Settings(timezone="UTC", integrity_verify_at=time(3, 0)))  # type: ignore[arg-type]
    assert utc.day_of(date(2026, 12, 2)) == date(2026, 12, 1)
    assert retention_job(None, settings).day_of(date(2026, 12, 2)) == date(2026, 12, 2)  # type: ignore[arg-type]
