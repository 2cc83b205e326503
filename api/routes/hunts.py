"""`/hunts`: how each rule is hunted (a Lucene query, or the stream's engine over its log source), and a
retro-hunt of one rule over any past range (`vigil hunt run` over HTTP). A hunt reads logs: it is audited
like a search, and its alerts go to `vigil.alerts` with the stream's ids (one alert for the same events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from api.audit import TimeRange
from api.deps import AuditDep, BackendsDep, ClientIp, EsDep, RequireRole, RuleReader, SettingsDep
from api.hunts import HuntCatalog, run_hunt
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.hunts import HuntRequest, HuntRulePublic, HuntRulesPublic, HuntRunPublic
from api.permissions import Permission
from api.tokens import Principal
from detectors.hunt.convert import Conversion

router = APIRouter(prefix="/hunts", tags=["hunts"])
HuntRunner = Annotated[Principal, Depends(RequireRole(Permission.RUN_HUNTS))]


def get_conversion(request: Request, es: EsDep) -> Conversion:
    catalog: HuntCatalog = request.app.state.hunts
    return catalog.conversion(es)


ConversionDep = Annotated[Conversion, Depends(get_conversion)]


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


@router.post(
    "",
    response_model=HuntRunPublic,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorPublic, "description": "no hunted rule with this id"},
               503: {"model": ErrorPublic, "description": "Elasticsearch, Kafka or the audit trail down"}},
    summary="Hunt one rule over a past range of event time; its alerts go to vigil.alerts unless dry_run",
)  # fmt: skip
def run(
    user: HuntRunner, body: HuntRequest, request: Request, ip: ClientIp, settings: SettingsDep, es: EsDep,
    backends: BackendsDep, audit: AuditDep, conversion: ConversionDep,
) -> HuntRunPublic:  # fmt: skip
    producer = None if body.dry_run else backends.producer()
    result = run_hunt(conversion, es, producer, settings, body.rule_id, body.from_, body.to)
    audit.record(user, action="hunts.run", method=request.method, endpoint=request.url.path, client_ip=ip,
                 query=None, filters={"rule_id": body.rule_id, "dry_run": body.dry_run},
                 time_range=TimeRange.model_validate({"from": body.from_.isoformat(), "to": body.to.isoformat()}),
                 hits=result.events, returned=len(result.alerts))  # fmt: skip
    return HuntRunPublic(**result.model_dump(exclude={"alerts"}), alerts=[a.id for a in result.alerts])
