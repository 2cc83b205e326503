"""Hunt jobs: `POST /hunts` stores a job in `vigil-hunt-jobs` and answers 202; the hunt runs in this API
process, in a small thread pool, so a long range (an engine hunt reads the rule's whole log source) never
outlasts an HTTP client's timeout.

Lifecycle: queued (stored before the 202) → running → succeeded | failed | cancelled. At most
`hunt_jobs_max_running` run at once per process; the others wait queued.

Heartbeat: one thread writes every queued or running job's progress and `heartbeat_at` every
`hunt_job_heartbeat_s`, reading back `cancel_requested` as it writes (a cancel that reached another API
process gets to the runner this way). A queued or running job whose heartbeat is older than
`hunt_job_stale_s` has lost its process (killed, host down): it reads as failed, and the next API start
records it so.

Cancel is cooperative: the runner asks between pages (`detectors.hunt.run.Stop`). A hunt sends its alerts
only once the whole range was read, so a cancelled or failed job sent none. At shutdown the running jobs stop
at their next page and are recorded failed, the queued ones too.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ApiError, BadRequestError, ConflictError, Elasticsearch, NotFoundError, TransportError
from kafka import KafkaProducer

from api.audit import Actor
from api.errors import BackendUnavailable, Conflict, NotFound
from api.models.hunts import FINISHED, HuntJob, HuntJobProgress, HuntRequest, JobStatus
from api.tokens import Principal
from core.index_templates import install_hunt_jobs_template
from core.names import HUNT_JOBS_INDEX, LOGS_PATTERN
from core.settings import Settings
from detectors.hunt.convert import HuntQuery
from detectors.hunt.run import HuntStopped, hunt, hunt_filter
from detectors.pipeline import alerting_settings
from detectors.sigma.loader import RuleInfo

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
UNFINISHED = ["queued", "running"]
API_STOPPED = "the API process stopped before the hunt finished; submit it again"


def stale_error(heartbeat: datetime) -> str:
    return f"the process running it stopped (no heartbeat since {heartbeat.isoformat()}); submit the hunt again"


@dataclass
class _Live:
    """A job this process owns: what the runner last wrote, and what the heartbeat reports next."""

    job: HuntJob
    cancel: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)  # one writer of the job at a time
    scanned: int = 0
    hits: int = 0
    finished: bool = False


class HuntJobs:
    def __init__(self, es: Elasticsearch, settings: Settings, clock: Clock = lambda: datetime.now(UTC)) -> None:
        self.es = es
        self.settings = settings
        self.clock = clock
        self.stale_after = timedelta(seconds=settings.hunt_job_stale_s)
        self._live: dict[str, _Live] = {}
        self._lock = threading.Lock()
        self._ready = False
        self._stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=settings.hunt_jobs_max_running, thread_name_prefix="hunt-job")
        self._beat = threading.Thread(target=self._heartbeats, name="hunt-job-heartbeat", daemon=True)
        self._beat.start()

    # --- the API's side -------------------------------------------------------------------------------

    def new_job(self, user: Principal, body: HuntRequest, query: HuntQuery) -> HuntJob:
        now = self.clock()
        fields = {"id": uuid.uuid4().hex, "rule_id": body.rule_id, "evaluation": query.evaluation, "from": body.from_,
                  "to": body.to, "dry_run": body.dry_run, "requested_by": Actor.of(user), "created_at": now,
                  "heartbeat_at": now}  # fmt: skip
        return HuntJob.model_validate(fields)

    def submit(self, job: HuntJob, query: HuntQuery, info: RuleInfo, producer: KafkaProducer | None) -> HuntJob:
        """Store the job (queued), then run it in the pool; `producer` None: a dry run."""
        if self._stopping.is_set():
            raise BackendUnavailable("the API is stopping: submit the hunt again once it is back")
        try:
            self._ensure_index()
            self.es.create(index=HUNT_JOBS_INDEX, id=job.id, document=job.document(), refresh="wait_for")
        except (ApiError, TransportError) as exc:
            raise BackendUnavailable(f"{HUNT_JOBS_INDEX} could not be written: {exc}") from exc
        live = _Live(job)
        with self._lock:
            self._live[job.id] = live
        self._pool.submit(self._run, live, query, info, producer)
        return job

    def get(self, job_id: str) -> HuntJob:
        try:
            stored = self.es.get(index=HUNT_JOBS_INDEX, id=job_id)
        except NotFoundError as exc:
            raise NotFound(f"no hunt job {job_id!r}") from exc
        except (ApiError, TransportError) as exc:
            raise BackendUnavailable(f"{HUNT_JOBS_INDEX} could not be read: {exc}") from exc
        return self.effective(HuntJob.model_validate(stored["_source"]))

    def list(self, status: JobStatus | None, size: int) -> tuple[list[HuntJob], int]:
        """Newest first; `status` as the jobs read (a stale running job counts as failed)."""
        try:
            if self.es.indices.exists(index=HUNT_JOBS_INDEX):
                self.es.indices.refresh(index=HUNT_JOBS_INDEX)  # a list agrees with the jobs read one by one
            found = self.es.search(index=HUNT_JOBS_INDEX, query=self._status_query(status), size=size,
                                   sort=[{"created_at": "desc"}], track_total_hits=True,
                                   ignore_unavailable=True)["hits"]  # fmt: skip
        except (ApiError, TransportError) as exc:
            raise BackendUnavailable(f"{HUNT_JOBS_INDEX} could not be read: {exc}") from exc
        jobs = [self.effective(HuntJob.model_validate(h["_source"])) for h in found["hits"]]
        return jobs, int(found["total"]["value"])

    def cancel(self, job_id: str) -> HuntJob:
        """Ask the runner to stop at its next page (409 if the job already finished)."""
        for _ in range(5):  # the heartbeat writes the same document: retry on its interleaved writes
            try:
                stored = self.es.get(index=HUNT_JOBS_INDEX, id=job_id)
            except NotFoundError as exc:
                raise NotFound(f"no hunt job {job_id!r}") from exc
            except (ApiError, TransportError) as exc:
                raise BackendUnavailable(f"{HUNT_JOBS_INDEX} could not be read: {exc}") from exc
            job = self.effective(HuntJob.model_validate(stored["_source"]))
            if job.status in FINISHED:
                raise Conflict(f"hunt job {job_id} already {job.status}: there is nothing to cancel")
            try:
                self.es.update(index=HUNT_JOBS_INDEX, id=job_id, doc={"cancel_requested": True},
                               if_seq_no=stored["_seq_no"], if_primary_term=stored["_primary_term"],
                               refresh="wait_for")  # fmt: skip
            except ConflictError:
                continue
            except (ApiError, TransportError) as exc:
                raise BackendUnavailable(f"{HUNT_JOBS_INDEX} could not be written: {exc}") from exc
            with self._lock:
                live = self._live.get(job_id)
            if live is not None:  # running here: it stops at its next page, not at the next heartbeat
                live.cancel.set()
            return job.model_copy(update={"cancel_requested": True})
        raise Conflict(f"hunt job {job_id} kept changing while it was being cancelled: retry")

    def effective(self, job: HuntJob) -> HuntJob:
        """The job as it stands: queued or running without a recent heartbeat is a job whose process died."""
        if job.status in UNFINISHED and job.heartbeat_at < self.clock() - self.stale_after:
            return job.model_copy(update={"status": "failed", "error": stale_error(job.heartbeat_at),
                                          "finished_at": job.heartbeat_at})  # fmt: skip
        return job

    def fail_stale(self) -> int:
        """At start-up: record as failed the jobs whose process died (guarded: a job that shows a sign of
        life meanwhile is left alone). Returns how many."""
        if not self.es.indices.exists(index=HUNT_JOBS_INDEX):
            return 0
        cutoff = self.clock() - self.stale_after
        query = {"bool": {"filter": [{"terms": {"status": UNFINISHED}},
                                     {"range": {"heartbeat_at": {"lt": cutoff.isoformat()}}}]}}  # fmt: skip
        hits = self.es.search(index=HUNT_JOBS_INDEX, query=query, size=1000, seq_no_primary_term=True)["hits"]["hits"]
        failed = 0
        for hit in hits:
            job = self.effective(HuntJob.model_validate(hit["_source"]))
            try:
                self.es.update(index=HUNT_JOBS_INDEX, id=job.id, if_seq_no=hit["_seq_no"],
                               if_primary_term=hit["_primary_term"],
                               doc=job.model_dump(mode="json", include={"status", "error", "finished_at"}))  # fmt: skip
            except ConflictError:
                continue
            failed += 1
        if failed:
            log.warning("%d hunt job(s) lost their process (no heartbeat for %s): recorded failed", failed,
                        self.stale_after)  # fmt: skip
        return failed

    def close(self) -> None:
        """Running jobs stop at their next page and, like the queued ones, are recorded failed."""
        self._stopping.set()
        self._pool.shutdown(wait=True)
        self._beat.join(timeout=self.settings.hunt_job_heartbeat_s + 5)

    def _status_query(self, status: JobStatus | None) -> dict[str, Any]:
        alive = {"range": {"heartbeat_at": {"gte": (self.clock() - self.stale_after).isoformat()}}}
        if status is None:
            return {"match_all": {}}
        if status in UNFINISHED:
            return {"bool": {"filter": [{"term": {"status": status}}, alive]}}
        if status == "failed":
            lost = {"bool": {"filter": [{"terms": {"status": UNFINISHED}}], "must_not": [alive]}}
            return {"bool": {"should": [{"term": {"status": "failed"}}, lost], "minimum_should_match": 1}}
        return {"term": {"status": status}}

    def _ensure_index(self) -> None:
        if self._ready or self.es.indices.exists(index=HUNT_JOBS_INDEX):
            self._ready = True
            return
        install_hunt_jobs_template(self.es, self.settings)  # mapping and replicas from core
        try:
            self.es.indices.create(index=HUNT_JOBS_INDEX)
        except BadRequestError as exc:  # created by a concurrent request in between
            if "resource_already_exists" not in str(exc):
                raise
        self._ready = True

    # --- the runner's side ----------------------------------------------------------------------------

    def _run(self, live: _Live, query: HuntQuery, info: RuleInfo, producer: KafkaProducer | None) -> None:
        job = live.job
        try:
            if self._stopping.is_set():
                self._finish(live, status="failed", error=API_STOPPED)
                return
            self._write(live, status="running", started_at=self.clock())
            filters = hunt_filter(query.query(), job.from_, job.to, by_ingested=False)
            total = self.es.count(index=LOGS_PATTERN, query=filters, ignore_unavailable=True)["count"]
            self._write(live, progress=HuntJobProgress(total=total))

            def progress(scanned: int, matched: int) -> None:
                live.scanned, live.hits = scanned, matched

            result = hunt(self.es, producer, query, info, job.from_, job.to, now=self.clock(),
                          settings=alerting_settings(self.settings), dry_run=job.dry_run, progress=progress,
                          stop=lambda: live.cancel.is_set() or self._stopping.is_set(),
                          page_size=self.settings.hunt_job_page_size)  # fmt: skip
        except HuntStopped as exc:
            scanned = HuntJobProgress(scanned=exc.scanned, total=live.job.progress.total)
            if live.cancel.is_set():
                self._finish(live, status="cancelled", progress=scanned, hits=live.hits)
            else:
                self._finish(live, status="failed", error=API_STOPPED, progress=scanned, hits=live.hits)
        except Exception as exc:  # noqa: BLE001 - a job that fails says why on the job, never only in a log
            log.exception("hunt job %s (rule %s) failed", job.id, job.rule_id)
            self._finish(live, status="failed", error=f"{type(exc).__name__}: {exc}"[:4000], hits=live.hits,
                         progress=HuntJobProgress(scanned=live.scanned, total=live.job.progress.total))  # fmt: skip
        else:
            self._finish(live, status="succeeded", hits=result.events, rule_errors=result.rule_errors,
                         alerts=[a.id for a in result.alerts],
                         progress=HuntJobProgress(scanned=result.scanned, total=live.job.progress.total))  # fmt: skip

    def _write(self, live: _Live, **fields: Any) -> None:
        """A change of the runner's (with a heartbeat); the job's document is partially updated."""
        with live.lock:
            self._update(live, {**fields, "heartbeat_at": self.clock()})

    def _finish(self, live: _Live, **fields: Any) -> None:
        """The last write; if it fails the job's heartbeat goes stale and it reads as failed."""
        with live.lock:
            live.finished = True
            try:
                self._update(live, {**fields, "finished_at": self.clock(), "heartbeat_at": self.clock()})
            except (ApiError, TransportError) as exc:
                log.error("hunt job %s ended %s but could not be recorded: %s", live.job.id, fields["status"], exc)
        with self._lock:
            self._live.pop(live.job.id, None)

    def _update(self, live: _Live, fields: dict[str, Any]) -> None:
        live.job = live.job.model_copy(update=fields)
        doc = live.job.model_dump(mode="json", include=set(fields))
        refresh = "wait_for" if "status" in fields else None  # a status change shows in lists at once
        answer = self.es.update(index=HUNT_JOBS_INDEX, id=live.job.id, doc=doc, retry_on_conflict=5,
                                source_includes=["cancel_requested"], refresh=refresh)  # fmt: skip
        if answer.get("get", {}).get("_source", {}).get("cancel_requested"):  # possibly sent to another process
            live.cancel.set()

    def _heartbeats(self) -> None:
        while not self._stopping.wait(self.settings.hunt_job_heartbeat_s):
            with self._lock:
                lives = list(self._live.values())
            for live in lives:
                self._beat_once(live)

    def _beat_once(self, live: _Live) -> None:
        with live.lock:
            if live.finished:
                return
            progress = HuntJobProgress(scanned=live.scanned, total=live.job.progress.total)
            try:
                self._update(live, {"progress": progress, "hits": live.hits, "heartbeat_at": self.clock()})
            except (ApiError, TransportError) as exc:
                log.warning("hunt job %s: heartbeat not written: %s", live.job.id, exc)
