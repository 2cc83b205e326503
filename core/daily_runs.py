"""Daily jobs that run exactly once per day across restarts and scheduler processes.

Each (job, day) has one durable run record in `vigil-scheduler-runs`, id `<job>:<day>`, created with
`op_type=create` *before* the job runs: a second scheduler, or the same one restarted, meets 409 and
leaves the day alone. The record moves `running` → `done` (with the job's summary) or `failed`
(with the error). A `running` record older than `stale_after_s` is a run that crashed midway: the
next tick takes it over (guarded by its sequence number, so only one taker wins), as it retries a
`failed` one, up to `max_attempts`.

`tick(now)` looks back `catch_up_days` local days: every day whose run time has passed and has no
finished record runs once. The normal run and the catch-up after downtime are the same code path;
APScheduler only calls `tick` on an interval. The clock is an argument, so tests drive it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from pydantic import AwareDatetime, BaseModel, ConfigDict

from core.index_templates import DATE, KEYWORD
from core.names import RUNS_INDEX

log = logging.getLogger(__name__)


class RunRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job: str
    day: date
    status: Literal["running", "done", "failed"]
    attempt: int
    owner: str
    started_at: AwareDatetime
    finished_at: AwareDatetime | None = None
    summary: dict[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class DailyJob:
    """`at`: local time the job becomes due on a local date; `day_of(local date)`: the day that run is
    for (None: no run on that date, e.g. a holiday); `run(day, now)`: does it, returns a summary."""

    name: str
    at: time
    day_of: Callable[[date], date | None]
    run: Callable[[date, datetime], dict[str, Any]]


def run_id(job: str, day: date) -> str:
    return f"{job}:{day.isoformat()}"


def install_runs_template(es: Elasticsearch, replicas: int) -> None:
    es.indices.put_index_template(
        name="vigil-scheduler-runs",
        index_patterns=[RUNS_INDEX],
        priority=500,
        template={"settings": {"number_of_shards": 1, "number_of_replicas": replicas}, "mappings": {
            "dynamic": False, "properties": {"job": KEYWORD, "day": DATE, "status": KEYWORD, "owner": KEYWORD,
                                             "started_at": DATE, "finished_at": DATE}}},
    )  # fmt: skip


class DailyRunner:
    def __init__(self, es: Elasticsearch, jobs: list[DailyJob], zone: ZoneInfo, *, catch_up_days: int = 7,
                 stale_after_s: float = 6 * 3600, max_attempts: int = 3) -> None:  # fmt: skip
        self.es, self.jobs, self.zone = es, jobs, zone
        self.catch_up_days, self.max_attempts = catch_up_days, max_attempts
        self.stale_after = timedelta(seconds=stale_after_s)
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def due(self, job: DailyJob, now: datetime) -> list[date]:
        """The days `job` is due for at `now`, oldest first (those already run included)."""
        today = now.astimezone(self.zone).date()
        days = []
        for back in range(self.catch_up_days, -1, -1):
            local = today - timedelta(days=back)
            if datetime.combine(local, job.at, self.zone) <= now and (day := job.day_of(local)) is not None:
                days.append(day)
        return sorted(set(days))

    def tick(self, now: datetime) -> list[RunRecord]:
        """Run every due day without a finished record; returns the records of the runs made now."""
        made = []
        for job in self.jobs:
            for day in self.due(job, now):
                record = self.run_once(job, day, now)
                if record is not None:
                    made.append(record)
        return made

    def run_once(self, job: DailyJob, day: date, now: datetime) -> RunRecord | None:
        """None when the day is done, running elsewhere, or out of attempts."""
        claimed = self._claim(job, day, now)
        if claimed is None:
            return None
        record, seq_no, primary_term = claimed
        try:
            summary = job.run(day, now)
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded and retried, never lost in a log
            log.exception("daily job %s for %s failed", job.name, day)
            final = record.model_copy(update={"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:4000],
                                              "finished_at": datetime.now(UTC)})  # fmt: skip
        else:
            final = record.model_copy(update={"status": "done", "summary": summary, "finished_at": datetime.now(UTC)})
        try:
            self.es.index(index=RUNS_INDEX, id=run_id(job.name, day), document=final.model_dump(mode="json"),
                          if_seq_no=seq_no, if_primary_term=primary_term, refresh="wait_for")  # fmt: skip
        except ConflictError:  # ran longer than stale_after: another scheduler took the day over
            log.warning("daily job %s for %s was taken over while it ran; its record is the taker's", job.name, day)
            return None
        return final

    def _claim(self, job: DailyJob, day: date, now: datetime) -> tuple[RunRecord, int, int] | None:
        record = RunRecord(job=job.name, day=day, status="running", attempt=1, owner=self.owner, started_at=now)
        doc_id = run_id(job.name, day)
        try:
            created = self.es.create(index=RUNS_INDEX, id=doc_id, document=record.model_dump(mode="json"),
                                     refresh="wait_for")  # fmt: skip
            return record, created["_seq_no"], created["_primary_term"]
        except ConflictError:
            pass
        try:
            stored = self.es.get(index=RUNS_INDEX, id=doc_id)
        except NotFoundError:
            return None
        existing = RunRecord.model_validate(stored["_source"])
        crashed = existing.status == "running" and existing.started_at + self.stale_after <= now
        retry = existing.status == "failed" and existing.attempt < self.max_attempts
        if not (crashed or retry):
            return None
        record = record.model_copy(update={"attempt": existing.attempt + 1})
        try:
            taken = self.es.index(index=RUNS_INDEX, id=doc_id, document=record.model_dump(mode="json"),
                                  if_seq_no=stored["_seq_no"], if_primary_term=stored["_primary_term"],
                                  refresh="wait_for")  # fmt: skip
        except ConflictError:
            return None  # another scheduler took it over first
        log.warning("daily job %s for %s: taking over attempt %d (%s)", job.name, day, existing.attempt,
                    existing.status)  # fmt: skip
        return record, taken["_seq_no"], taken["_primary_term"]


def runs(es: Elasticsearch, job: str | None = None) -> list[RunRecord]:
    """Every run record (of one job), by day."""
    if not es.indices.exists(index=RUNS_INDEX):
        return []
    es.indices.refresh(index=RUNS_INDEX)
    query = {"term": {"job": job}} if job else {"match_all": {}}
    hits = es.search(index=RUNS_INDEX, query=query, size=10_000, sort=[{"day": "asc"}])["hits"]["hits"]
    return [RunRecord.model_validate(h["_source"]) for h in hits]
