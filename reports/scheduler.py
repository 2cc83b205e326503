"""The report scheduler (`vigil workers --role scheduler`): the patrol record at 08:30 local on working
days (for the previous working day) and a health sample every minute.

Idempotent per day: the patrol job asks `patrol.ensure_record`, which creates version 1 only if the
day has no record (and `op_type=create` settles a race), so a restart, a second scheduler or a
catch-up run never makes a second record. APScheduler keeps jobs in memory; a scheduler started after
08:30 runs the day's job once at start (`catch_up`), which is a no-op when the record exists.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from elasticsearch import ApiError, Elasticsearch, TransportError

from core.models.entity import WorkCalendar
from core.settings import Settings
from reports import health, patrol
from reports.calendar import ReportSettings, previous_working_day
from reports.indices import install_report_templates

log = logging.getLogger(__name__)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ReportJobs:
    """The jobs, with the clock injected so tests can run them at any 'now' (and across restarts)."""

    def __init__(self, es: Elasticsearch, settings: Settings, calendar: WorkCalendar, report: ReportSettings,
                 clock: Clock = utc_now) -> None:  # fmt: skip
        self.es, self.settings, self.calendar, self.report, self.clock = es, settings, calendar, report, clock
        self.zone = ZoneInfo(settings.timezone)

    def due_day(self, now: datetime) -> date | None:
        """The day whose record is due at `now`: the previous working day, once 08:30 of a working day passed."""
        local = now.astimezone(self.zone)
        if not self.calendar.is_working_day(local.date()) or local.time() < self.report.patrol_at:
            return None
        return previous_working_day(self.calendar, local.date())

    def patrol(self) -> date | None:
        """Generate the due record if missing; returns the day generated now, or None."""
        now = self.clock()
        day = self.due_day(now)
        if day is None:
            return None
        record, created = patrol.ensure_record(self.es, self.settings, day, now)
        log.info("patrol record %s v%d %s", day, record.version, "generated" if created else "already there")
        return day if created else None

    def sample(self) -> None:
        try:
            health.sample(self.es, self.settings, self.clock())
        except (ApiError, TransportError) as exc:  # a missed minute is what availability measures
            log.warning("health sample not recorded: %s", exc)


def build(jobs: ReportJobs) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=jobs.zone)
    at = jobs.report.patrol_at
    # Every day at 08:30; `due_day` skips non-working days (the calendar has holidays and make-up days).
    scheduler.add_job(jobs.patrol, CronTrigger(hour=at.hour, minute=at.minute, timezone=jobs.zone), id="patrol",
                      max_instances=1, coalesce=True, misfire_grace_time=3600)  # fmt: skip
    scheduler.add_job(jobs.sample, IntervalTrigger(minutes=1, timezone=jobs.zone), id="health-sample",
                      max_instances=1, coalesce=True)  # fmt: skip
    return scheduler


def run(jobs: ReportJobs) -> None:
    install_report_templates(jobs.es, jobs.settings)
    jobs.patrol()  # catch up after a restart past 08:30; a no-op when today's record exists
    jobs.sample()
    build(jobs).start()
