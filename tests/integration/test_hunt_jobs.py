"""Hunt jobs through the real stack: `POST /hunts` answers 202 with a job stored in `vigil-hunt-jobs`, the hunt
runs in the API process and ends with the counts and alerts of the synchronous hunt; jobs are listed, read,
cancelled between pages, and a job whose process died reads as failed.

The data: every real attack recording (10,015 events) laid one second apart from 2025-07-01 (a range no other
test indexes), in one index, so an engine hunt over Security or process creation reads thousands of events.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core.names import AUDIT_INDEX, HUNT_JOBS_INDEX
from core.settings import Settings
from detectors.hunt.convert import load_conversion
from detectors.hunt.run import hunt
from detectors.pipeline import alerting_settings
from tests.integration.hunt_support import attack_events, index_events

pytestmark = pytest.mark.integration

WMI_SPAWN = "d21374ff-f574-44a7-9998-4a8c8bf33d7d"  # WmiPrvSE Spawned A Process: engine, process creation
PUBLIC_IP_LOGON = "f88e112a-21aa-44bd-9b01-6ee2a2bbbed1"  # Failed Logon From Public IP: engine (cidr), Security
LOG_CLEARED = "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"  # Security Eventlog Cleared: Lucene
RULES = (WMI_SPAWN, PUBLIC_IP_LOGON, LOG_CLEARED)
AT = datetime(2025, 7, 1, 8, 0, tzinfo=UTC)
INDEX = "logs-system-hunt-jobs"

Call = Callable[..., httpx.Response]


@dataclass(frozen=True)
class Data:
    rules_dir: Path
    start: datetime
    end: datetime


@pytest.fixture(scope="module")
def data(stack, sigma_rules, tmp_path_factory) -> Data:  # noqa: ANN001 - pytest fixtures
    loaded, _ = sigma_rules
    rules_dir = tmp_path_factory.mktemp("hunt-jobs-rules")
    for info, _ in loaded.rules:
        if info.id in RULES:
            shutil.copy(info.path, rules_dir / f"{info.id}.yml")
    events = [e.model_copy(update={"timestamp": AT + timedelta(seconds=i)})
              for i, e in enumerate(attack_events("hunt-jobs-"))]  # fmt: skip
    settings = Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url,
                        data_dir=tmp_path_factory.mktemp("hunt-jobs-data"))  # fmt: skip
    index_events(Elasticsearch(settings.es_url, request_timeout=120), settings, events, index=INDEX)
    return Data(rules_dir, AT - timedelta(hours=1), events[-1].timestamp + timedelta(hours=1))


@contextmanager
def api(settings: Settings, data: Data, **overrides: Any) -> Iterator[Call]:
    api_settings = settings.model_copy(update={"sigma_rule_dirs": [data.rules_dir], "hunt_job_heartbeat_s": 0.1,
                                               **overrides})  # fmt: skip
    store = TokenStore(api_settings.tokens_path())
    for record in store.records():  # a test may start its API twice
        if record.revoked_at is None:
            store.revoke(record.id)
    tokens = {role: store.create(f"jobs-{role.value}", role)[1] for role in Role}
    with TestClient(create_app(api_settings)) as client:

        def call(role: Role, method: str, path: str, **kw: Any) -> httpx.Response:
            return client.request(method, path, headers={"Authorization": f"Bearer {tokens[role]}"}, **kw)

        yield call


def body(data: Data, rule_id: str, **extra: Any) -> dict[str, Any]:
    return {"rule_id": rule_id, "from": data.start.isoformat(), "to": data.end.isoformat(), **extra}


def follow(call: Call, job_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 120) -> list[dict]:
    """Every state of the job read until `until` holds (polled every 20 ms)."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = call(Role.OFFICER, "GET", f"/hunts/jobs/{job_id}")
        assert got.status_code == 200, got.text
        seen.append(got.json())
        if until(seen[-1]):
            return seen
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} still {seen[-1]['status']} after {timeout} s")


def finished(job: dict[str, Any]) -> bool:
    return job["status"] in ("succeeded", "failed", "cancelled")


def test_a_job_runs_to_success_with_the_counts_of_the_synchronous_hunt(settings, data) -> None:
    es = Elasticsearch(settings.es_url, request_timeout=120)
    conversion, _ = load_conversion([data.rules_dir], es)
    query, info = conversion.queries[WMI_SPAWN], conversion.rules[WMI_SPAWN]
    sync = hunt(es, None, query, info, data.start, data.end, now=datetime.now(UTC),
                settings=alerting_settings(settings))  # fmt: skip
    assert query.evaluation == "engine" and sync.events >= 1 and sync.alerts and sync.scanned > 1000

    with api(settings, data, hunt_job_page_size=2) as call:  # ~700 pages: long enough to watch it run
        submitted = call(Role.OFFICER, "POST", "/hunts", json=body(data, WMI_SPAWN))
        assert submitted.status_code == 202, submitted.text
        job = submitted.json()
        assert job["status"] == "queued" and job["requested_by"]["name"] == "jobs-officer"
        assert (job["rule_id"], job["evaluation"], job["dry_run"]) == (WMI_SPAWN, "engine", False)
        seen = follow(call, job["id"], finished)

    states = [s["status"] for s in seen]
    assert states[-1] == "succeeded", seen[-1]
    assert set(states) <= {"queued", "running", "succeeded"} and "running" in states
    running = [s for s in seen if s["status"] == "running" and s["progress"]["scanned"] > 0]
    assert running and min(s["progress"]["scanned"] for s in running) < sync.scanned  # progress while it ran
    assert running[0]["progress"]["total"] == sync.scanned  # the estimate: the log source's events in range
    done = seen[-1]
    assert done["progress"] == {"scanned": sync.scanned, "total": sync.scanned}
    assert (done["hits"], done["rule_errors"]) == (sync.events, sync.rule_errors)
    assert sorted(done["alerts"]) == sorted(a.id for a in sync.alerts)
    assert done["started_at"] <= done["finished_at"] and done["error"] is None
    # audited when started: who hunted which rule over which range, the job named
    es.indices.refresh(index=AUDIT_INDEX)
    audits = es.search(index=AUDIT_INDEX, query={"term": {"action": "hunts.run"}}, size=100)["hits"]["hits"]
    mine = [a["_source"] for a in audits if a["_source"]["filters"].get("job_id") == job["id"]]
    assert len(mine) == 1 and mine[0]["actor"]["name"] == "jobs-officer"
    assert mine[0]["filters"]["rule_id"] == WMI_SPAWN and mine[0]["time_range"]["from"] == data.start.isoformat()


def test_jobs_are_listed_newest_first_and_filtered_by_status(settings, data) -> None:
    with api(settings, data) as call:
        first = call(Role.RESPONDER, "POST", "/hunts", json=body(data, LOG_CLEARED, dry_run=True)).json()
        second = call(Role.ADMIN, "POST", "/hunts", json=body(data, WMI_SPAWN, dry_run=True)).json()
        for job in (first, second):
            assert follow(call, job["id"], finished)[-1]["status"] == "succeeded"
        listed = call(Role.RESPONDER, "GET", "/hunts/jobs").json()
        ids = [j["id"] for j in listed["data"]]
        assert ids.index(second["id"]) < ids.index(first["id"]) and listed["count"] >= 2
        succeeded = call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "succeeded"}).json()["data"]
        assert {first["id"], second["id"]} <= {j["id"] for j in succeeded}
        assert {j["status"] for j in succeeded} == {"succeeded"}
        assert call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "running"}).json()["data"] == []
        one = call(Role.ADMIN, "GET", f"/hunts/jobs/{first['id']}").json()
        assert (one["rule_id"], one["evaluation"], one["dry_run"]) == (LOG_CLEARED, "lucene", True)
        assert one["hits"] >= 1 and one["requested_by"]["role"] == "responder"
        assert call(Role.ADMIN, "GET", "/hunts/jobs/no-such-job").status_code == 404
        assert call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "lost"}).status_code == 422


def test_a_running_job_is_cancelled_between_pages_and_a_finished_one_cannot_be(settings, data) -> None:
    with api(settings, data, hunt_job_page_size=1) as call:  # one event per page: thousands of pages
        job = call(Role.OFFICER, "POST", "/hunts", json=body(data, PUBLIC_IP_LOGON)).json()
        follow(call, job["id"], lambda j: j["status"] == "running" and j["progress"]["scanned"] > 0)
        cancelled = call(Role.RESPONDER, "POST", f"/hunts/jobs/{job['id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancel_requested"] and not finished(cancelled.json())
        done = follow(call, job["id"], finished, timeout=30)[-1]
        assert done["status"] == "cancelled" and done["alerts"] == [] and done["finished_at"]
        assert 0 < done["progress"]["scanned"] < done["progress"]["total"]  # stopped midway
        again = call(Role.OFFICER, "POST", f"/hunts/jobs/{job['id']}/cancel")
        assert again.status_code == 409 and "already cancelled" in again.json()["detail"]

        quick = call(Role.OFFICER, "POST", "/hunts", json=body(data, LOG_CLEARED, dry_run=True)).json()
        assert follow(call, quick["id"], finished)[-1]["status"] == "succeeded"
        late = call(Role.OFFICER, "POST", f"/hunts/jobs/{quick['id']}/cancel")
        assert late.status_code == 409 and "already succeeded" in late.json()["detail"]
        assert call(Role.OFFICER, "POST", "/hunts/jobs/no-such-job/cancel").status_code == 404


def test_a_job_whose_process_died_reads_failed_and_is_recorded_so_at_start_up(settings, data) -> None:
    es = Elasticsearch(settings.es_url, request_timeout=60)
    with api(settings, data) as call:  # the index exists once a job was submitted
        call(Role.OFFICER, "POST", "/hunts", json=body(data, LOG_CLEARED, dry_run=True))
    # What an API process killed mid-hunt leaves behind: a running job whose heartbeat stopped 10 minutes ago.
    beat = datetime.now(UTC) - timedelta(minutes=10)
    lost = {"id": "lost-job", "rule_id": WMI_SPAWN, "evaluation": "engine", "from": data.start.isoformat(),
            "to": data.end.isoformat(), "dry_run": True, "status": "running",
            "progress": {"scanned": 4000, "total": 9000}, "hits": 0, "rule_errors": 0, "alerts": [], "error": None,
            "cancel_requested": False, "requested_by": {"token_id": "t1", "name": "gone", "role": "officer"},
            "created_at": (beat - timedelta(minutes=1)).isoformat(), "started_at": beat.isoformat(),
            "finished_at": None, "heartbeat_at": beat.isoformat()}  # fmt: skip
    es.index(index=HUNT_JOBS_INDEX, id="lost-job", document=lost, refresh=True)

    with api(settings, data, hunt_job_stale_s=3600) as call:  # an hour's grace: not stale yet, still running
        assert call(Role.OFFICER, "GET", "/hunts/jobs/lost-job").json()["status"] == "running"
        running = call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "running"}).json()["data"]
        assert [j["id"] for j in running] == ["lost-job"]
    assert es.get(index=HUNT_JOBS_INDEX, id="lost-job")["_source"]["status"] == "running"

    with api(settings, data, hunt_job_stale_s=60) as call:
        recorded = es.get(index=HUNT_JOBS_INDEX, id="lost-job")["_source"]  # start-up recorded it failed
        assert recorded["status"] == "failed" and "the process running it stopped" in recorded["error"]
        assert {datetime.fromisoformat(recorded[k]) for k in ("finished_at", "heartbeat_at")} == {beat}
        # a job that went stale while this API runs reads failed before anything records it
        es.index(index=HUNT_JOBS_INDEX, id="lost-job", document=lost, refresh=True)
        read = call(Role.OFFICER, "GET", "/hunts/jobs/lost-job").json()
        assert read["status"] == "failed" and "the process running it stopped" in read["error"]
        failed = call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "failed"}).json()["data"]
        assert "lost-job" in {j["id"] for j in failed}
        assert call(Role.OFFICER, "GET", "/hunts/jobs", params={"status": "running"}).json()["data"] == []
        assert call(Role.OFFICER, "POST", "/hunts/jobs/lost-job/cancel").status_code == 409


def test_auditors_may_not_run_read_or_cancel_jobs_and_bad_requests_are_refused_before_the_202(settings, data) -> None:
    es = Elasticsearch(settings.es_url, request_timeout=60)
    with api(settings, data) as call:
        job = call(Role.OFFICER, "POST", "/hunts", json=body(data, LOG_CLEARED, dry_run=True)).json()
        assert call(Role.AUDITOR, "POST", "/hunts", json=body(data, LOG_CLEARED)).status_code == 403
        assert call(Role.AUDITOR, "GET", "/hunts/jobs").status_code == 403
        assert call(Role.AUDITOR, "GET", f"/hunts/jobs/{job['id']}").status_code == 403
        assert call(Role.AUDITOR, "POST", f"/hunts/jobs/{job['id']}/cancel").status_code == 403
        es.indices.refresh(index=HUNT_JOBS_INDEX)
        before = es.count(index=HUNT_JOBS_INDEX)["count"]
        missing = call(Role.OFFICER, "POST", "/hunts", json=body(data, "no-such-rule"))
        assert missing.status_code == 404 and "no such rule" in missing.json()["detail"]
        backwards = call(Role.OFFICER, "POST", "/hunts", json={**body(data, LOG_CLEARED), "to": data.start.isoformat()})
        assert backwards.status_code == 422 and "after" in backwards.json()["detail"]
        es.indices.refresh(index=HUNT_JOBS_INDEX)
        assert es.count(index=HUNT_JOBS_INDEX)["count"] == before  # refused ones stored no job
