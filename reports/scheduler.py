"""The scheduler role (`vigil workers --role scheduler`): the daily jobs through `core.daily_runs` (the
patrol record at 08:30 local on working days for the previous working day; the retention job and the
integrity verification, given by the caller) and a health sample every minute.

Each daily job runs once per day across restarts and scheduler processes: `DailyRunner` claims a
durable run record per (job, day) before running it, and a (re)started scheduler first catches up
on the days it missed. The patrol job is idempotent on its own too (`patrol.ensure_record` creates
version 1 only once), so even a run taken over after a crash never makes a second record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger
from elasticsearch import ApiError, Elasticsearch, TransportError

from core.daily_runs import DailyJob, DailyRunner, install_runs_template
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

    def patrol_day(self, local: date) -> date | None:
        """The day whose record is due on the local date: the previous working day, on working days only."""
        if not self.calendar.is_working_day(local):
            return None
        return previous_working_day(self.calendar, local)

    def patrol(self, day: date, now: datetime) -> dict[str, Any]:
        """Generate the day's record if missing."""
        record, created = patrol.ensure_record(self.es, self.settings, day, now)
        log.info("patrol record %s v%d %s", day, record.version, "generated" if created else "already there")
        return {"version": record.version, "generated": created}

    def patrol_job(self) -> DailyJob:
        return DailyJob(name="patrol", at=self.report.patrol_at, day_of=self.patrol_day, run=self.patrol)

    def sample(self) -> None:
        try:
            health.sample(self.es, self.settings, self.clock())
        except (ApiError, TransportError) as exc:  # a missed minute is what availability measures
            log.warning("health sample not recorded: %s", exc)


def runner(jobs: ReportJobs, daily: list[DailyJob]) -> DailyRunner:
    """The patrol job and the caller's other daily jobs (retention, integrity), in that order."""
    settings = jobs.settings
    return DailyRunner(jobs.es, [jobs.patrol_job(), *daily], jobs.zone, catch_up_days=settings.scheduler_catch_up_days,
                       stale_after_s=settings.scheduler_stale_run_s)  # fmt: skip


def tick(jobs: ReportJobs, daily: DailyRunner) -> None:
    try:
        daily.tick(jobs.clock())
    except (ApiError, TransportError) as exc:  # Elasticsearch away: the next tick catches up
        log.warning("daily jobs not checked: %s", exc)


def build(jobs: ReportJobs, daily: DailyRunner) -> BlockingScheduler:
    scheduler = BlockingScheduler(timezone=jobs.zone)
    # Due days are decided by `DailyRunner.due` (calendar, run times, catch-up), not by cron triggers:
    # the tick only asks often enough, and the run records make a second ask a no-op.
    scheduler.add_job(tick, IntervalTrigger(seconds=jobs.settings.scheduler_tick_s, timezone=jobs.zone),
                      args=(jobs, daily), id="daily", max_instances=1, coalesce=True)  # fmt: skip
    scheduler.add_job(jobs.sample, IntervalTrigger(minutes=1, timezone=jobs.zone), id="health-sample",
                      max_instances=1, coalesce=True)  # fmt: skip
    return scheduler


def run(jobs: ReportJobs, daily: DailyRunner) -> None:
    install_report_templates(jobs.es, jobs.settings)
    install_runs_template(jobs.es, jobs.settings.es_replicas)
    tick(jobs, daily)  # catch up after a restart: the days missed run once, those done are skipped
    jobs.sample()
    build(jobs, daily).start()
