"""`/alerts`: the alert queue (list, filter, count), one alert with its events, and triage."""

from __future__ import annotations

from typing import Annotated, Any

from elasticsearch import ApiError, TransportError
from fastapi import APIRouter, Query, Request

from api.alerts import change_alert, get_alert
from api.audit import TimeRange
from api.deps import AlertReader, AlertTriager, AuditDep, ClientIp, EsDep, SettingsDep
from api.errors import BackendUnavailable, Conflict, NotFound
from api.models.alerts import (
    AckResult,
    AlertDetailPublic,
    AlertIncident,
    AlertPublic,
    AlertSearch,
    AlertsPublic,
    AlertUpdate,
    BulkAck,
    BulkAckPublic,
)  # fmt: skip
from api.models.common import AUTH_RESPONSES, Bucket, ErrorPublic
from api.models.events import EventPublic
from api.permissions import Permission, allowed
from api.queries import alert_events_search, alerts_search
from api.search import check_page_size, run_search
from api.tokens import Principal
from core.models.alert import AlertStatus
from core.names import ALERTS_INDEX, INCIDENTS_INDEX, LOGS_PATTERN
from playbooks.store import IncidentFilter, IncidentStore

router = APIRouter(prefix="/alerts", tags=["alerts"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorPublic, "description": "no alert with this id"}}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorPublic, "description": "invalid status transition, or the alert kept changing"}
}


@router.get("", response_model=AlertsPublic, responses=AUTH_RESPONSES, summary="Search and count alerts")
def search_alerts(
    _user: AlertReader, params: Annotated[AlertSearch, Query()], settings: SettingsDep, es: EsDep
) -> AlertsPublic:
    check_page_size(params.size, settings.api_max_page_size)
    response = run_search(es, ALERTS_INDEX, alerts_search(params, settings.timezone))
    aggs = response.get("aggregations", {})
    return AlertsPublic(
        data=[AlertPublic.model_validate(hit["_source"]) for hit in response["hits"]["hits"]],
        count=response["hits"]["total"]["value"],
        aggregations={agg.value: _buckets(agg.value, aggs[agg.value]) for agg in params.agg},
    )


def _buckets(name: str, agg: dict[str, Any]) -> list[Bucket]:
    if name != "entity":
        return [Bucket(key=str(b["key"]), count=b["doc_count"]) for b in agg["buckets"]]
    flat = [Bucket(key=f"{kind['key']}:{value['key']}", count=value["doc_count"])
            for kind in agg["buckets"] for value in kind["value"]["buckets"]]  # fmt: skip
    return sorted(flat, key=lambda b: (-b.count, b.key))


@router.get(
    "/{alert_id}",
    response_model=AlertDetailPublic,
    responses={**AUTH_RESPONSES, **NOT_FOUND, 503: {"model": ErrorPublic, "description": "audit trail down"}},
    summary="One alert with its events (the events are a read of logs: audited)",
)
def read_alert(
    user: AlertReader,
    alert_id: str,
    request: Request,
    ip: ClientIp,
    es: EsDep,
    audit: AuditDep,
    settings: SettingsDep,
) -> AlertDetailPublic:
    source, _, _ = get_alert(es, alert_id)
    alert = AlertDetailPublic.model_validate({**source, "incidents": _incidents(user, es, settings, alert_id)})
    # Auditors see alerts but not logs (separation of duties): no events, and nothing read to audit.
    if not allowed(user.role, Permission.SEARCH_LOGS) or not alert.event_ids:
        return alert
    response = run_search(es, LOGS_PATTERN, alert_events_search(alert.event_ids))
    hits = response["hits"]["hits"]
    events = [
        EventPublic.model_validate(
            {"id": h["_id"], "index": h["_index"], "@timestamp": h["_source"]["@timestamp"], "document": h["_source"]}
        )
        for h in hits
    ]
    count = response["hits"]["total"]["value"]
    # As for /events: recorded before the answer leaves, or the answer does not leave.
    audit.record(
        user,
        action="alerts.events",
        method=request.method,
        endpoint=request.url.path,
        client_ip=ip,
        query=None,
        filters={"alert_id": alert_id},
        time_range=TimeRange.model_validate({}),
        hits=count,
        returned=len(events),
    )
    return alert.model_copy(update={"events": events, "events_count": count})


def _incidents(user: Principal, es: EsDep, settings: SettingsDep, alert_id: str) -> list[AlertIncident]:
    """In the alert's own answer rather than a route of its own: the alert page needs both, and an
    alert is in one incident or a few (a cap of 50 only guards against a runaway grouping)."""
    if not allowed(user.role, Permission.READ_INCIDENTS):
        return []
    try:
        found, _ = IncidentStore(es, settings).search(IncidentFilter(alert_id=alert_id), size=50)
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"{INCIDENTS_INDEX} could not be read: {exc}") from exc
    return [AlertIncident.model_validate(v.incident.model_dump()) for v in found]


@router.patch(
    "/{alert_id}",
    response_model=AlertPublic,
    responses={**AUTH_RESPONSES, **NOT_FOUND, **CONFLICT},
    summary="Triage: change the status (allowed transitions only), the assignee, add a comment",
)
def update_alert(user: AlertTriager, alert_id: str, update: AlertUpdate, es: EsDep) -> AlertPublic:
    return change_alert(es, alert_id, update, by=user.name)


@router.post(
    "/ack",
    response_model=BulkAckPublic,
    responses=AUTH_RESPONSES,
    summary="Acknowledge many alerts; one result per id (acknowledged, not_found, refused and why)",
)
def acknowledge(user: AlertTriager, body: BulkAck, es: EsDep) -> BulkAckPublic:
    update = AlertUpdate(status=AlertStatus.ACKNOWLEDGED, assignee=None, comment=body.comment)
    results: list[AckResult] = []
    for alert_id in dict.fromkeys(body.ids):  # a repeated id is one alert, acknowledged once
        try:
            # One refresh for the batch (below), not one wait per alert.
            alert = change_alert(es, alert_id, update, by=user.name, refresh=False)
            results.append(AckResult(id=alert_id, result="acknowledged", detail=None, status=alert.status))
        except NotFound as exc:
            results.append(AckResult(id=alert_id, result="not_found", detail=exc.detail, status=None))
        except Conflict as exc:
            current = AlertPublic.model_validate(get_alert(es, alert_id)[0]).status
            results.append(AckResult(id=alert_id, result="refused", detail=exc.detail, status=current))
    es.indices.refresh(index=ALERTS_INDEX)
    return BulkAckPublic(data=results, acknowledged=sum(r.result == "acknowledged" for r in results))
