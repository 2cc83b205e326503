"""`/incidents/{id}/...` changes: start a playbook, complete or retry a step, approve or reject a containment,
acknowledge, escalate, reassign, close with the review, cancel; and the report exports.

Each route is one transition of playbooks/transitions.py through `incidents.change` (If-Match, advance,
save with optimistic concurrency); the `playbooks` worker then runs what the change started.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response

from api import errors
from api.deps import (
    ContainmentApprover,
    IncidentAcknowledger,
    IncidentCloser,
    IncidentReader,
    IncidentResponder,
)
from api.models.incidents import (
    Cancellation,
    Closure,
    ContainmentDecision,
    Escalation,
    IncidentPublic,
    PlaybookStart,
    Reassignment,
    StepCompletion,
)
from api.routes.incidents import CHANGE_RESPONSES, DeskDep, IfMatch, _mapped, change
from core.models.incident import Incident
from playbooks import transitions
from playbooks.progress import Context

router = APIRouter(prefix="/incidents", tags=["incidents"])
Lang = Literal["zh-CN", "en"]


def _ctx(ctx: Context | None, incident: Incident) -> Context:
    if ctx is None:
        raise transitions.InvalidTransition(f"incident {incident.id} runs no playbook: start one first")
    return ctx


@router.post(
    "/{incident_id}/playbook",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Start a playbook on an incident opened without one",
)
def start_playbook(
    user: IncidentResponder,
    incident_id: str,
    body: PlaybookStart,
    d: DeskDep,
    response: Response,
    if_match: IfMatch = None,
) -> IncidentPublic:
    with _mapped():
        loaded = d.playbook(body.playbook)

    def apply(incident: Incident, _ctx: Context | None, now: datetime) -> None:
        transitions.start_playbook(incident, loaded, now, user.name)

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/steps/{step_id}/complete",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Complete a manual step with its evidence (or finish a failed step by hand)",
)
def complete_step(
    user: IncidentResponder,
    incident_id: str,
    step_id: str,
    body: StepCompletion,
    d: DeskDep,
    response: Response,
    if_match: IfMatch = None,
) -> IncidentPublic:
    def apply(incident: Incident, ctx: Context | None, now: datetime) -> None:
        transitions.complete_step(
            incident,
            _ctx(ctx, incident),
            step_id,
            actor=user.name,
            evidence=body.evidence,
            comment=body.comment,
            now=now,
        )

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/steps/{step_id}/retry",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Run a failed automated step again (a new attempt, a new idempotency key)",
)
def retry_step(
    user: IncidentResponder, incident_id: str, step_id: str, d: DeskDep, response: Response, if_match: IfMatch = None
) -> IncidentPublic:
    def apply(incident: Incident, ctx: Context | None, now: datetime) -> None:
        transitions.retry_step(incident, _ctx(ctx, incident), step_id, actor=user.name, now=now)

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/steps/{step_id}/decision",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Approve or reject a containment awaiting approval",
)
def decide(
    user: ContainmentApprover,
    incident_id: str,
    step_id: str,
    body: ContainmentDecision,
    d: DeskDep,
    response: Response,
    if_match: IfMatch = None,
) -> IncidentPublic:
    def apply(incident: Incident, ctx: Context | None, now: datetime) -> None:
        transitions.decide_containment(
            incident,
            _ctx(ctx, incident),
            step_id,
            actor=user.name,
            role=user.role.value,
            approve=body.decision == "approve",
            comment=body.comment,
            now=now,
        )

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/acknowledge",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="The on-duty contact is made: stops the 3-minute escalation clock",
)
def acknowledge(
    user: IncidentAcknowledger, incident_id: str, d: DeskDep, response: Response, if_match: IfMatch = None
) -> IncidentPublic:
    def apply(incident: Incident, _ctx: Context | None, now: datetime) -> None:
        transitions.acknowledge(incident, actor=user.name, now=now)

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/escalate",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Page the next person of the escalation chain now",
)
def escalate(
    user: IncidentAcknowledger,
    incident_id: str,
    body: Escalation,
    d: DeskDep,
    response: Response,
    if_match: IfMatch = None,
) -> IncidentPublic:
    def apply(incident: Incident, ctx: Context | None, now: datetime) -> None:
        transitions.escalate(incident, _ctx(ctx, incident), actor=user.name, reason=body.reason, now=now)

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/assign", response_model=IncidentPublic, responses=CHANGE_RESPONSES, summary="Reassign the incident"
)
def assign(
    user: IncidentResponder,
    incident_id: str,
    body: Reassignment,
    d: DeskDep,
    response: Response,
    if_match: IfMatch = None,
) -> IncidentPublic:
    def apply(incident: Incident, _ctx: Context | None, now: datetime) -> None:
        transitions.reassign(incident, actor=user.name, assignee=body.assignee, now=now)

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/close",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Close with the review notes (cause, impact, lessons)",
)
def close(
    user: IncidentCloser, incident_id: str, body: Closure, d: DeskDep, response: Response, if_match: IfMatch = None
) -> IncidentPublic:
    def apply(incident: Incident, _ctx: Context | None, now: datetime) -> None:
        transitions.close(
            incident, actor=user.name, cause=body.cause, impact=body.impact, lessons=body.lessons, now=now
        )

    return change(d, user, response, incident_id, if_match, apply)


@router.post(
    "/{incident_id}/cancel",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Cancel (false positive, duplicate, aborted drill); the record stays",
)
def cancel(
    user: IncidentCloser, incident_id: str, body: Cancellation, d: DeskDep, response: Response, if_match: IfMatch = None
) -> IncidentPublic:
    def apply(incident: Incident, _ctx: Context | None, now: datetime) -> None:
        transitions.cancel(incident, actor=user.name, reason=body.reason, now=now)

    return change(d, user, response, incident_id, if_match, apply)


@router.get(
    "/{incident_id}/report",
    responses={
        **CHANGE_RESPONSES,
        200: {
            "content": {"text/html": {}, "application/pdf": {}, "application/json": {}},
            "description": "the incident report or the authority report",
        },
    },
    summary="Export the incident report or the authority report (HTML, PDF or JSON; zh-CN or en)",
)
def report(
    _user: IncidentReader,
    incident_id: str,
    d: DeskDep,
    kind: Literal["incident", "authority"] = "incident",
    format: Literal["html", "pdf", "json"] = "html",  # noqa: A002 - the query parameter's public name
    lang: Lang = "zh-CN",
) -> Response:
    from reports import render
    from reports.incident_report import incident_report_html

    with _mapped():
        incident = d.get(incident_id).incident
        alerts = d.store.alerts(incident.alert_ids)
    if format == "json":
        return Response(incident.model_dump_json(), media_type="application/json")
    html = incident_report_html(
        incident,
        alerts,
        lang,
        authority=kind == "authority",
        zone=d.settings.timezone,
        image="png" if format == "pdf" else "svg",
        now=d.clock(),
    )
    name = f"{kind}-report-{incident.id}-{lang}"
    if format == "pdf":
        try:
            body = render.pdf(html)
        except Exception as exc:  # WeasyPrint's errors are not one class; say what failed
            raise errors.BackendUnavailable(f"PDF rendering failed: {exc}") from exc
        return Response(
            body, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'}
        )
    return Response(html, media_type="text/html; charset=utf-8")
