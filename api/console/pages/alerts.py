"""The alert queue (filters, bulk acknowledge, keyboard navigation) and one alert with its events,
rule, ATT&CK tags, history and triage. Every read and change goes through the `/alerts` routes'
own functions, so the console sees and changes exactly what the API lets the role see and change."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from api.console.web import Page, query_model, render, with_query
from api.deps import AuditDep, ClientIp, EsDep, SettingsDep
from api.errors import ApiError, BadRequest
from api.models.alerts import AlertAgg, AlertDetailPublic, AlertSearch, AlertUpdate, BulkAck
from api.permissions import Permission
from api.routes import alerts as alerts_api
from api.routes.incidents import DeskDep
from api.rules import RuleCatalog
from api.tokens import Principal
from api.triage import TRANSITIONS
from core.models.alert import AlertStatus, DetectorKind, Severity

router = APIRouter(prefix="/console/alerts", include_in_schema=False)
PAGE_SIZE = 50

Reader = Annotated[Principal, Depends(Page(Permission.READ_ALERTS))]
Triager = Annotated[Principal, Depends(Page(Permission.TRIAGE_ALERTS))]


def _queue(request: Request, user: Principal, settings: SettingsDep, es: EsDep, **notice: Any) -> dict[str, Any]:
    page = max(int(request.query_params.get("page", "0") or 0), 0)
    params = query_model(request, AlertSearch, drop=frozenset({"page"}), size=PAGE_SIZE, offset=page * PAGE_SIZE,
                         agg=[AlertAgg.RULE, AlertAgg.STATUS])  # fmt: skip
    found = alerts_api.search_alerts(user, params, settings, es)
    return {
        "alerts": found.data,
        "count": found.count,
        "rules": found.aggregations.get("rule", []),
        "params": params,
        "page": page,
        "prev_url": with_query(request, page=page - 1) if page else None,
        "next_url": with_query(request, page=page + 1) if (page + 1) * PAGE_SIZE < found.count else None,
        "query": request.url.query,
        "severities": list(Severity),
        "statuses": list(AlertStatus),
        **notice,
    }


@router.get("", response_class=HTMLResponse)
def queue(request: Request, user: Reader, settings: SettingsDep, es: EsDep) -> HTMLResponse:
    return render(request, "alerts.html", user, **_queue(request, user, settings, es))


@router.post("/ack", response_class=HTMLResponse)
def acknowledge(
    request: Request, user: Triager, settings: SettingsDep, es: EsDep, ids: Annotated[list[str] | None, Form()] = None
) -> HTMLResponse:
    """Acknowledge the selected alerts (`POST /alerts/ack`), then show the queue again with the result."""
    if not ids:
        raise BadRequest("select alerts first")
    result = alerts_api.acknowledge(user, BulkAck(ids=ids, comment=None), es)
    refused = [r for r in result.data if r.result != "acknowledged"]
    context = _queue(request, user, settings, es, acked=result.acknowledged, refused=refused)
    return render(request, "alerts_queue.html", user, **context)


def _rule_text(request: Request, alert: AlertDetailPublic) -> str | None:
    """The Sigma rule's YAML, from the rule set the API loaded (policy and meta detectors have none)."""
    if alert.rule.kind not in (DetectorKind.SIGMA, DetectorKind.CORRELATION):
        return None
    catalog: RuleCatalog = request.app.state.rules
    rule = next((r for r in catalog.engine().rules if r.info.id == alert.rule.id), None)
    if rule is None:
        return None
    path = Path(rule.info.path)
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def _detail(alert: AlertDetailPublic, **notice: Any) -> dict[str, Any]:
    return {"alert": alert, "transitions": sorted(TRANSITIONS[alert.status], key=list(AlertStatus).index), **notice}


@router.get("/{alert_id}", response_class=HTMLResponse)
def alert_page(
    request: Request, user: Reader, alert_id: str, ip: ClientIp, es: EsDep, audit: AuditDep, d: DeskDep
) -> HTMLResponse:
    alert = alerts_api.read_alert(user, alert_id, request, ip, es, audit, d.settings)  # events audited as in the API
    return render(request, "alert.html", user, rule_text=_rule_text(request, alert), playbooks=d.catalog.playbooks,
                  severities=list(Severity), **_detail(alert))  # fmt: skip


@router.post("/{alert_id}/triage", response_class=HTMLResponse)
def triage(
    request: Request,
    user: Triager,
    alert_id: str,
    es: EsDep,
    status: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """`PATCH /alerts/{id}`: a refused transition (409) is shown in the form, the alert unchanged."""
    try:
        update = AlertUpdate(status=AlertStatus(status) if status else None, assignee=assignee.strip() or None,
                             comment=comment.strip() or None)  # fmt: skip
    except ValueError as exc:
        raise BadRequest(str(exc).splitlines()[-1]) from None
    error: str | None = None
    try:
        alerts_api.update_alert(user, alert_id, update, es)
        saved = True
    except ApiError as exc:
        error, saved = exc.detail, False
    stored = AlertDetailPublic.model_validate(alerts_api.get_alert(es, alert_id)[0])
    return render(request, "alert_triage.html", user, saved=saved, error=error, **_detail(stored))
