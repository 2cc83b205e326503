"""The retention package's daily jobs for the scheduler (`core.daily_runs`): the retention job, and the
integrity verification of the previous UTC day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch

from core.daily_runs import DailyJob
from core.settings import Settings
from retention import job
from retention.integrity import verify_day


def retention_job(es: Elasticsearch, settings: Settings) -> DailyJob:
    def run(_day: date, now: datetime) -> dict[str, Any]:
        report = job.run(es, settings, now=now)
        return {"deleted": report.deleted, "kept": [o.index for o in report.failed]}

    return DailyJob(name="retention", at=settings.retention_run_at, day_of=lambda local: local, run=run)


def integrity_job(es: Elasticsearch, settings: Settings) -> DailyJob:
    """Due at `integrity_verify_at` local time; verifies the UTC day that ended last before then."""

    def day_of(local: date) -> date:
        due = datetime.combine(local, settings.integrity_verify_at, settings.zone)
        return due.astimezone(UTC).date() - timedelta(days=1)

    def run(day: date, now: datetime) -> dict[str, Any]:
        records = verify_day(es, settings, day, now)
        return {"verified": [r.index for r in records], "not_clean": [r.index for r in records if not r.clean]}

    return DailyJob(name="integrity", at=settings.integrity_verify_at, day_of=day_of, run=run)
