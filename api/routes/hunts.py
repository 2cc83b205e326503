"""`/hunts`: how each rule is hunted (a Lucene query, or the stream's engine over its log source), and hunt
jobs: a retro-hunt of one rule over any past range (`vigil hunt run` over HTTP), answered 202 and run in the
background (`api/hunt_jobs.py`). A hunt reads logs: it is audited like a search when it is started, and its
alerts go to `vigil.alerts` with the stream's ids (one alert for the same events)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from api.audit import TimeRange
from api.deps import AuditDep, BackendsDep, ClientIp, EsDep, RequireRole, RuleReader
from api.hunt_jobs import HuntJobs
from api.hunts import HuntCatalog, hunted_rule
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.hunts import (
    HuntJob,
    HuntJobPublic,
    HuntJobsPublic,
    HuntRequest,
    HuntRulePublic,
    HuntRulesPublic,
    JobStatus,
)
from api.permissions import Permission
from api.tokens import Principal
from detectors.hunt.convert import Conversion

router = APIRouter(prefix="/hunts", tags=["hunts"])
HuntRunner = Annotated[Principal, Depends(RequireRole(Permission.RUN_HUNTS))]
HuntReader = Annotated[Principal, Depends(RequireRole(Permission.READ_HUNTS))]


def get_conversion(request: Request, es: EsDep) -> Conversion:
    catalog: HuntCatalog = request.app.state.hunts
    return catalog.conversion(es)


ConversionDep = Annotated[Conversion, Depends(get_conversion)]


def get_jobs(request: Request) -> HuntJobs:
    jobs: HuntJobs = request.app.state.hunt_jobs
    return jobs


JobsDep = Annotated[HuntJobs, Depends(get_jobs)]


@router.get("/rules", response_model=HuntRulesPublic, responses=AUTH_RESPONSES,
            summary="Rules hunted as Lucene queries, by the engine (with the reason), and not hunted")  # fmt: skip
def hunt_rules(_user: RuleReader, conversion: ConversionDep) -> HuntRulesPublic:
    engine = [HuntRulePublic(rule_id=q.rule_id, title=q.refused.title, evaluation="engine", kind=q.refused.kind,
                             reason=q.refused.reason)
              for q in conversion.queries.values() if q.refused is not None]  # fmt: skip
    skipped = [HuntRulePublic(rule_id=s.rule_id, title=s.title, evaluation=None, kind=s.kind, reason=s.reason)
               for s in conversion.skipped]  # fmt: skip
    return HuntRulesPublic(lucene=conversion.count("lucene"), engine=conversion.count("engine"),
                           engine_by_reason=conversion.engine_by_reason(), not_hunted=len(conversion.skipped),
                           not_hunted_by_reason=conversion.by_reason(), data=engine + skipped)  # fmt: skip


JOB_RESPONSES: dict[int | str, dict[str, Any]] = {
    **AUTH_RESPONSES, 404: {"model": ErrorPublic, "description": "no hunt job with this id"},
    503: {"model": ErrorPublic, "description": "Elasticsearch down"},
}  # fmt: skip


@router.post(
    "",
    status_code=202,
    response_model=HuntJobPublic,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorPublic, "description": "no hunted rule with this id"},
               503: {"model": ErrorPublic, "description": "Elasticsearch, Kafka or the audit trail down"}},
    summary="Start a hunt job: one rule over a past range of event time; its alerts go to vigil.alerts unless "
            "dry_run. Follow it at GET /hunts/jobs/{id}",
)  # fmt: skip
def submit(
    user: HuntRunner, body: HuntRequest, request: Request, ip: ClientIp, es: EsDep, backends: BackendsDep,
    audit: AuditDep, conversion: ConversionDep, jobs: JobsDep,
) -> HuntJob:  # fmt: skip
    query, info = hunted_rule(conversion, body.rule_id)  # 404 before anything is stored
    producer = None if body.dry_run else backends.producer()  # Kafka down: 503 now, not a failed job later
    job = jobs.new_job(user, body, query)
    # Audited when it is started (who hunts which rule over which range); its counts are on the job.
    audit.record(user, action="hunts.run", method=request.method, endpoint=request.url.path, client_ip=ip,
                 query=None, filters={"rule_id": body.rule_id, "dry_run": body.dry_run, "job_id": job.id},
                 time_range=TimeRange.model_validate({"from": body.from_.isoformat(), "to": body.to.isoformat()}),
                 hits=0, returned=0)  # fmt: skip
    return jobs.submit(job, query, info, producer)


@router.get("/jobs", response_model=HuntJobsPublic, responses=JOB_RESPONSES, summary="Hunt jobs, newest first")
def list_jobs(
    _user: HuntReader, jobs: JobsDep,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status (stale ones read failed)")] = None,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
) -> HuntJobsPublic:  # fmt: skip
    found, count = jobs.list(status, size)
    return HuntJobsPublic(data=[HuntJobPublic.model_validate(j.model_dump()) for j in found], count=count)


@router.get("/jobs/{job_id}", response_model=HuntJobPublic, responses=JOB_RESPONSES, summary="One hunt job")
def get_job(_user: HuntReader, job_id: str, jobs: JobsDep) -> HuntJob:
    return jobs.get(job_id)


@router.post(
    "/jobs/{job_id}/cancel",
    response_model=HuntJobPublic,
    responses={**JOB_RESPONSES, 409: {"model": ErrorPublic, "description": "the job already finished"}},
    summary="Ask a queued or running hunt job to stop at its next page (it then reads cancelled, nothing sent)",
)  # fmt: skip
def cancel_job(_user: HuntRunner, job_id: str, jobs: JobsDep) -> HuntJob:
    return jobs.cancel(job_id)
