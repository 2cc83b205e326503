"""`GET /audit`: who read which logs. Reading the trail is itself audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.audit import TimeRange
from api.deps import AuditDep, AuditReader, ClientIp, EsDep, SettingsDep
from api.models.audit import AuditPublic, AuditSearch, AuditsPublic
from api.models.common import AUTH_RESPONSES
from api.queries import audit_search
from api.search import check_page_size, run_search
from core.names import AUDIT_INDEX

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("", response_model=AuditsPublic, responses=AUTH_RESPONSES, summary="Search the audit trail")
def search_audit(
    user: AuditReader,
    params: Annotated[AuditSearch, Query()],
    request: Request,
    ip: ClientIp,
    settings: SettingsDep,
    es: EsDep,
    audit: AuditDep,
) -> AuditsPublic:
    check_page_size(params.size, settings.api_max_page_size)
    response = run_search(es, AUDIT_INDEX, audit_search(params, settings.timezone))
    hits = response["hits"]["hits"]
    result = AuditsPublic(
        data=[AuditPublic.model_validate({**hit["_source"], "id": hit["_id"]}) for hit in hits],
        count=response["hits"]["total"]["value"],
    )
    # As for logs: the read is recorded before the answer leaves, or the answer does not leave.
    audit.record(
        user,
        action="audit.search",
        method=request.method,
        endpoint=request.url.path,
        client_ip=ip,
        query=None,
        filters=params.model_dump(mode="json", exclude_defaults=True, exclude={"from_", "to"}),
        time_range=TimeRange.model_validate({"from": params.from_, "to": params.to}),
        hits=result.count,
        returned=len(result.data),
    )
    return result
