"""The scheduler's daily jobs on the real stack (patrol record, retention, integrity verification):
each runs exactly once per day across restarts, catch-up after downtime, two schedulers at once, a
crashed run taken over, and APScheduler ticking on a short interval.

The clock runs in March 1993 (Asia/Shanghai): the seeded days (UTC, 1992-12-27 … 1993-01-03 and
1993-02-25 … 03-06, through the indexer's own bulk and ledger functions) are older than every other
test's data, so at these `now`s retention deletes only this module's days.
"""

from __future__ import annotations

import threading
import time as clock_time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.daily_runs import DailyRunner, RunRecord, install_runs_template, run_id, runs
from core.index_templates import install_templates
from core.ledger_store import LedgerWriter
from core.models.ecs import EcsEvent
from core.names import LEDGER_INDEX, RETENTION_LOG_INDEX, RUNS_INDEX, Topic
from core.settings import Settings
from ingest.indexer import bulk_actions, bulk_create, ledger_docs
from reports import patrol
from reports.calendar import ReportSettings
from reports.scheduler import ReportJobs, build, runner
from retention.daily import integrity_job, retention_job
from stack.local import LocalStack

pytestmark = pytest.mark.integration

ZONE = "Asia/Shanghai"
# Days retention deletes at these `now`s (to 1993-01-01), and the days the integrity job verifies.
SEEDED = [date(1992, 12, 27) + timedelta(days=n) for n in range(8)] + [date(1993, 2, 25) + timedelta(days=n)
                                                                       for n in range(10)]  # fmt: skip


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=Settings(timezone=ZONE).zone)


@pytest.fixture(scope="module")
def settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url, timezone=ZONE,
                    data_dir=tmp_path_factory.mktemp("daily"), scheduler_tick_s=0.2,
                    scheduler_catch_up_days=2)  # fmt: skip


@pytest.fixture(scope="module")
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(settings)
    install_templates(client, settings)
    install_runs_template(client, 0)
    yield client
    client.close()


def seed(es: Elasticsearch) -> None:
    """Two events per UTC day, written and recorded in the ledger as the indexer does."""
    docs = []
    for day in SEEDED:
        for n in range(2):
            event = EcsEvent.model_validate({
                "@timestamp": datetime.combine(day, time(10, n), tzinfo=UTC),
                "message": f"daily-test event {n}", "event": {"id": f"daily-{day}-{n}", "action": "logon"},
                "vigil": {"category": "system", "source": "daily-test", "parser": "test"},
            })  # fmt: skip
            value = event.model_dump_json(by_alias=True, exclude_none=True).encode()
            docs.append(bulk_actions(Topic.EVENTS.value, value))
    result = bulk_create(es, docs)
    assert result.rejected == []
    LedgerWriter(es, "daily-test").record(ledger_docs(es, docs, ["p0"] * len(docs), result))
    es.indices.refresh(index="logs-system-199*")


@pytest.fixture(scope="module")
def jobs(es: Elasticsearch, settings: Settings) -> ReportJobs:
    seed(es)
    return ReportJobs(es, settings, patrol_calendar(), ReportSettings())


def patrol_calendar():  # type: ignore[no-untyped-def]
    from core.models.entity import WorkCalendar

    return WorkCalendar()  # Monday to Friday


def daily(jobs: ReportJobs, es: Elasticsearch, settings: Settings) -> DailyRunner:
    """A scheduler's runner, as `vigil workers --role scheduler` builds it (a new one: a restart)."""
    return runner(jobs, [retention_job(es, settings), integrity_job(es, settings)])


def made(records: list[RunRecord]) -> list[tuple[str, date]]:
    return sorted((r.job, r.day) for r in records)


def verifications(es: Elasticsearch) -> Counter[str]:
    es.indices.refresh(index=LEDGER_INDEX)
    hits = es.search(index=LEDGER_INDEX, query={"bool": {"filter": [{"term": {"kind": "verification"}},
                     {"prefix": {"index": "logs-system-1993"}}]}}, size=1000, source_includes=["index"])  # fmt: skip
    return Counter(h["_source"]["index"] for h in hits["hits"]["hits"])


def deletions(es: Elasticsearch) -> Counter[str]:
    """Retention-log records of this module's seeded indices (others' 1990s indices are not counted)."""
    es.indices.refresh(index=RETENTION_LOG_INDEX)
    names = [f"logs-system-{day:%Y.%m.%d}" for day in SEEDED]
    hits = es.search(index=RETENTION_LOG_INDEX, query={"terms": {"index": names}}, size=1000)
    return Counter(h["_source"]["index"] for h in hits["hits"]["hits"])


def wait_for_runs(es: Elasticsearch, wanted: set[tuple[str, date]], timeout_s: float = 120) -> None:
    deadline = clock_time.monotonic() + timeout_s
    while not wanted <= {(r.job, r.day) for r in runs(es) if r.status == "done"}:
        assert clock_time.monotonic() < deadline, f"the scheduler did not run {wanted} in {timeout_s} s"
        clock_time.sleep(0.2)


def test_each_daily_job_runs_once_per_day_across_restarts(
    jobs: ReportJobs, es: Elasticsearch, settings: Settings
) -> None:
    tuesday = date(1993, 3, 2)
    # Started on Tuesday at noon after downtime: two days back are caught up, each job once per day.
    first = made(daily(jobs, es, settings).tick(local(tuesday, 12)))
    assert first == [
        ("integrity", date(1993, 2, 26)), ("integrity", date(1993, 2, 27)), ("integrity", date(1993, 2, 28)),
        ("patrol", date(1993, 2, 26)), ("patrol", date(1993, 3, 1)),  # Sunday the 28th: no patrol due
        ("retention", date(1993, 2, 28)), ("retention", date(1993, 3, 1)), ("retention", tuesday),
    ]  # fmt: skip
    assert all(r.status == "done" for r in runs(es))
    # A restart at the same moment, then later the same day: nothing runs again.
    assert daily(jobs, es, settings).tick(local(tuesday, 12)) == []
    assert daily(jobs, es, settings).tick(local(tuesday, 23, 59)) == []
    # Wednesday 04:00: retention (02:00) and integrity (03:00) are due, the patrol (08:30) not yet.
    assert made(daily(jobs, es, settings).tick(local(tuesday + timedelta(days=1), 4))) == [
        ("integrity", date(1993, 3, 1)), ("retention", date(1993, 3, 3))]  # fmt: skip

    # Effects: each verified day has one verification record, each expired day was deleted once.
    assert verifications(es) == {f"logs-system-1993.{d}": 1 for d in ("02.26", "02.27", "02.28", "03.01")}
    # The last retention run (Wednesday 04:00 local) deleted the days whose end is 60 days before it.
    cutoff = local(tuesday + timedelta(days=1), 4).astimezone(UTC) - timedelta(days=60)
    ends = {d: datetime.combine(d + timedelta(days=1), time(), UTC) for d in SEEDED}
    gone = [f"logs-system-{d:%Y.%m.%d}" for d, end in ends.items() if end <= cutoff]
    assert len(gone) >= 5 and deletions(es) == {name: 1 for name in gone}
    assert [r.version for r in patrol.versions(es, date(1993, 3, 1))] == [1]


def test_two_schedulers_at_once_and_a_crashed_run(jobs: ReportJobs, es: Elasticsearch, settings: Settings) -> None:
    thursday = date(1993, 3, 4)
    results: list[list[RunRecord]] = [[], []]
    runners = [daily(jobs, es, settings), daily(jobs, es, settings)]
    threads = [threading.Thread(target=lambda i=i: results[i].extend(runners[i].tick(local(thursday, 9))))
               for i in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made(results[0]) + made(results[1])) == [  # the patrol of Wednesday was not due at 04:00
        ("integrity", date(1993, 3, 2)), ("patrol", date(1993, 3, 2)), ("patrol", date(1993, 3, 3)),
        ("retention", thursday)]  # fmt: skip

    # A run that crashed midway stays "running": a fresh one is left alone, a stale one is taken over.
    friday = thursday + timedelta(days=1)
    crashed = RunRecord(job="integrity", day=date(1993, 3, 3), status="running", attempt=1, owner="gone:1",
                        started_at=local(friday, 3))  # fmt: skip
    es.index(index=RUNS_INDEX, id=run_id("integrity", crashed.day), document=crashed.model_dump(mode="json"),
             refresh="wait_for")  # fmt: skip
    assert ("integrity", crashed.day) not in made(daily(jobs, es, settings).tick(local(friday, 4)))
    later = local(friday, 3) + timedelta(seconds=settings.scheduler_stale_run_s + 1)
    retaken = [r for r in daily(jobs, es, settings).tick(later) if r.job == "integrity"]
    assert [(r.day, r.status, r.attempt) for r in retaken] == [(crashed.day, "done", 2)]
    assert verifications(es)["logs-system-1993.03.03"] == 1


def test_apscheduler_ticks_run_each_day_once(jobs: ReportJobs, es: Elasticsearch, settings: Settings) -> None:
    saturday = date(1993, 3, 6)
    now = {"at": local(saturday, 9)}
    # The clock jumps a day below: a run in progress then must not look crashed (stale after 6 h).
    patient = settings.model_copy(update={"scheduler_stale_run_s": 3 * 86400})
    timed = ReportJobs(es, patient, patrol_calendar(), ReportSettings(), clock=lambda: now["at"])
    schedulers = [build(timed, daily(timed, es, patient)) for _ in range(2)]  # two processes, ticking 5/s
    threads = [threading.Thread(target=s.start, daemon=True) for s in schedulers]
    for thread in threads:
        thread.start()
    wait_for_runs(es, {("retention", saturday), ("integrity", date(1993, 3, 4))})
    now["at"] = local(saturday + timedelta(days=1), 9)  # a day passes: Sunday's runs, once
    wait_for_runs(es, {("retention", saturday + timedelta(days=1)), ("integrity", date(1993, 3, 5))})
    clock_time.sleep(1)  # a few more ticks of both schedulers, which must change nothing
    for scheduler in schedulers:
        scheduler.shutdown(wait=True)
    for thread in threads:
        thread.join(timeout=10)
    assert sorted((r.job, r.day, r.attempt) for r in runs(es) if r.day >= date(1993, 3, 3) and r.job != "patrol") == [
        ("integrity", date(1993, 3, 3), 2), ("integrity", date(1993, 3, 4), 1), ("integrity", date(1993, 3, 5), 1),
        ("retention", date(1993, 3, 3), 1), ("retention", date(1993, 3, 4), 1), ("retention", date(1993, 3, 5), 1),
        ("retention", saturday, 1), ("retention", saturday + timedelta(days=1), 1),
    ]  # fmt: skip
    assert all(r.status == "done" for r in runs(es))
    assert verifications(es)["logs-system-1993.03.04"] == verifications(es)["logs-system-1993.03.05"] == 1
