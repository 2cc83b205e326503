"""Incidents: the list with deadline countdowns (overdue in red), opening one or a drill, and the
incident page with its playbook's steps as a checklist (complete with evidence, approve or reject a
containment, acknowledge, escalate, reassign, start a playbook, close, cancel), the timeline and the
report export; the playbooks and the duty roster. Every read and change is the `/incidents`,
`/playbooks` and `/duty` route functions'."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.console.web import Page, render
from api.deps import AuditDep, ClientIp
from api.errors import ApiError, BadRequest
from api.models.incidents import (
    Cancellation,
    Closure,
    ContainmentDecision,
    DrillCreate,
    Escalation,
    IncidentCreate,
    IncidentPublic,
    PlaybookStart,
    PlaybookText,
    Reassignment,
    StepCompletion,
)  # fmt: skip
from api.permissions import Permission
from api.routes import incident_actions as actions_api
from api.routes import incidents as incidents_api
from api.routes import playbooks as playbooks_api
from api.routes.incidents import DeskDep
from api.tokens import Principal
from core.models.alert import Severity
from core.models.incident import IncidentStatus
from playbooks import errors as response_errors
from playbooks.roster_file import RosterText
from playbooks.schema import ManualStep

router = APIRouter(prefix="/console", include_in_schema=False)

Reader = Annotated[Principal, Depends(Page(Permission.READ_INCIDENTS))]
Responder = Annotated[Principal, Depends(Page(Permission.RESPOND_INCIDENTS))]
Acknowledger = Annotated[Principal, Depends(Page(Permission.ACKNOWLEDGE_INCIDENTS))]
Approver = Annotated[Principal, Depends(Page(Permission.APPROVE_CONTAINMENT))]
Closer = Annotated[Principal, Depends(Page(Permission.CLOSE_INCIDENTS))]
PlaybookReader = Annotated[Principal, Depends(Page(Permission.READ_PLAYBOOKS))]
PlaybookManager = Annotated[Principal, Depends(Page(Permission.MANAGE_PLAYBOOKS))]


@router.get("/incidents", response_class=HTMLResponse)
def incidents_page(request: Request, user: Reader, d: DeskDep, status: str | None = None) -> HTMLResponse:
    found = incidents_api.list_incidents(user, d, status=[status] if status else None, severity=None, playbook=None,
                                         assignee=None, entity=None, drill=None, from_=None, to=None, size=100,
                                         offset=0)  # fmt: skip
    return render(request, "incidents.html", user, incidents=found, playbooks=d.catalog.playbooks,
                  severities=list(Severity), statuses=list(IncidentStatus), status=status or "")  # fmt: skip


@router.post("/incidents", response_class=HTMLResponse)
def open_incident(
    request: Request,
    user: Responder,
    d: DeskDep,
    title: Annotated[str, Form()] = "",
    severity: Annotated[str, Form()] = "medium",
    entity: Annotated[str, Form()] = "",
    playbook: Annotated[str, Form()] = "",
    drill: Annotated[str, Form()] = "",
    alert_ids: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Open an incident by hand (`POST /incidents`, from an alert page with its id) or start a drill
    (`POST /incidents/drill`), then open it."""
    try:
        if drill:
            opened = incidents_api.start_drill(user, DrillCreate(playbook=playbook), d, Response())
        else:
            body = IncidentCreate(title=title, severity=Severity(severity), entity=entity or None,
                                  playbook=playbook or None, alert_ids=alert_ids or [])  # fmt: skip
            opened = incidents_api.open_incident(user, body, d, Response())
    except ValueError as exc:
        raise BadRequest(str(exc).splitlines()[-1]) from None
    return Response(status_code=204, headers={"HX-Redirect": f"/console/incidents/{opened.id}"})


def _playbook_steps(d: DeskDep, incident: IncidentPublic) -> dict[str, Any]:
    """The incident's playbook steps by id: their titles in both languages and the evidence manual steps ask for."""
    if not incident.playbook:
        return {}
    try:
        return {step.id: step for step in d.playbook(incident.playbook).playbook.steps}
    except response_errors.NotFound:  # a playbook removed since: the checklist still shows, with the stored titles
        return {}


def _incident(request: Request, user: Principal, d: DeskDep, incident_id: str, **notice: Any) -> HTMLResponse:
    incident = incidents_api.get_incident(user, incident_id, d, Response())
    steps = _playbook_steps(d, incident)
    fields = {step_id: step.evidence for step_id, step in steps.items() if isinstance(step, ManualStep)}
    return render(request, "incident.html", user, incident=incident, step_defs=steps, evidence_fields=fields,
                  playbooks=d.catalog.playbooks, **notice)  # fmt: skip


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, user: Reader, d: DeskDep, incident_id: str) -> HTMLResponse:
    return _incident(request, user, d, incident_id)


def _acted(request: Request, user: Principal, d: DeskDep, incident_id: str, run: Any) -> HTMLResponse:
    """Run one change; a refusal (stale version, wrong state, missing evidence) is shown on the page."""
    try:
        run()
    except ApiError as exc:
        return _incident(request, user, d, incident_id, error=exc.detail)
    return _incident(request, user, d, incident_id, saved=True)


@router.post("/incidents/{incident_id}/steps/{step_id}/complete", response_class=HTMLResponse)
async def complete_step(request: Request, user: Responder, d: DeskDep, incident_id: str, step_id: str) -> HTMLResponse:
    """The evidence fields are the playbook step's own (`ev_<name>`), so the form is read as a whole."""
    form = await request.form()
    values = {key: str(value).strip() for key, value in form.items()}
    evidence = {k.removeprefix("ev_"): v for k, v in values.items() if k.startswith("ev_") and v}
    body = StepCompletion(evidence=evidence, comment=values.get("comment") or None)
    version = values.get("version") or None

    def run() -> None:
        actions_api.complete_step(user, incident_id, step_id, body, d, Response(), version)

    return await run_in_threadpool(_acted, request, user, d, incident_id, run)  # Elasticsearch calls block


@router.post("/incidents/{incident_id}/steps/{step_id}/decision", response_class=HTMLResponse)
def decide(
    request: Request, user: Approver, d: DeskDep, incident_id: str, step_id: str,
    decision: Annotated[str, Form()], version: Annotated[str, Form()] = "", comment: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    if decision not in ("approve", "reject"):
        raise BadRequest("decision: approve or reject")
    body = ContainmentDecision(decision=decision, comment=comment.strip() or None)  # type: ignore[arg-type]

    def run() -> None:
        actions_api.decide(user, incident_id, step_id, body, d, Response(), version or None)

    return _acted(request, user, d, incident_id, run)


@router.post("/incidents/{incident_id}/acknowledge", response_class=HTMLResponse)
def acknowledge(
    request: Request, user: Acknowledger, d: DeskDep, incident_id: str, version: Annotated[str, Form()] = ""
) -> HTMLResponse:
    return _acted(request, user, d, incident_id,
                  lambda: actions_api.acknowledge(user, incident_id, d, Response(), version or None))  # fmt: skip


@router.post("/incidents/{incident_id}/close", response_class=HTMLResponse)
def close(
    request: Request, user: Closer, d: DeskDep, incident_id: str, cause: Annotated[str, Form()] = "",
    impact: Annotated[str, Form()] = "", lessons: Annotated[str, Form()] = "", version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    try:
        body = Closure(cause=cause, impact=impact, lessons=lessons)
    except ValueError:
        return _incident(request, user, d, incident_id, error="cause, impact and lessons are all needed to close")
    return _acted(request, user, d, incident_id,
                  lambda: actions_api.close(user, incident_id, body, d, Response(), version or None))  # fmt: skip


@router.post("/incidents/{incident_id}/escalate", response_class=HTMLResponse)
def escalate(
    request: Request, user: Acknowledger, d: DeskDep, incident_id: str, reason: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    if not reason.strip():
        return _incident(request, user, d, incident_id, error="a reason is needed to escalate")
    body = Escalation(reason=reason.strip())
    return _acted(request, user, d, incident_id,
                  lambda: actions_api.escalate(user, incident_id, body, d, Response(), version or None))  # fmt: skip


@router.post("/incidents/{incident_id}/assign", response_class=HTMLResponse)
def assign(
    request: Request, user: Responder, d: DeskDep, incident_id: str, assignee: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    if not assignee.strip():
        return _incident(request, user, d, incident_id, error="name the new assignee")
    body = Reassignment(assignee=assignee.strip())
    return _acted(request, user, d, incident_id,
                  lambda: actions_api.assign(user, incident_id, body, d, Response(), version or None))  # fmt: skip


@router.post("/incidents/{incident_id}/cancel", response_class=HTMLResponse)
def cancel(
    request: Request, user: Closer, d: DeskDep, incident_id: str, reason: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    if not reason.strip():
        return _incident(request, user, d, incident_id, error="a reason is needed to cancel")
    body = Cancellation(reason=reason.strip())
    return _acted(request, user, d, incident_id,
                  lambda: actions_api.cancel(user, incident_id, body, d, Response(), version or None))  # fmt: skip


@router.post("/incidents/{incident_id}/playbook", response_class=HTMLResponse)
def start_playbook(
    request: Request, user: Responder, d: DeskDep, incident_id: str, playbook: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    if not playbook:
        return _incident(request, user, d, incident_id, error="choose a playbook")
    body = PlaybookStart(playbook=playbook)

    def run() -> None:
        actions_api.start_playbook(user, incident_id, body, d, Response(), version or None)

    return _acted(request, user, d, incident_id, run)


@router.get("/admin/playbooks", response_class=HTMLResponse)
def playbooks_page(request: Request, user: PlaybookReader, d: DeskDep) -> HTMLResponse:
    listed = playbooks_api.list_playbooks(user, d)
    return render(request, "playbooks.html", user, playbooks=listed, **_roster(user, d))


def _roster(user: Principal, d: DeskDep, typed: RosterText | None = None, **notice: Any) -> dict[str, Any]:
    """The roster card: who is on duty, and for admins the file to edit (what they typed, after a refusal)."""
    roster = playbooks_api.roster(user, d, Response())
    return {"roster": roster, "roster_text": typed or d.rosters.read(), **notice}


@router.post("/admin/roster", response_class=HTMLResponse)
def save_roster(
    request: Request, user: PlaybookManager, d: DeskDep, audit: AuditDep, ip: ClientIp,
    text: Annotated[str, Form()] = "", version: Annotated[str, Form()] = "",
) -> HTMLResponse:  # fmt: skip
    """`PUT /duty/roster` from the form; a refusal (invalid roster, stale version) is shown above the text."""
    text = text.replace("\r\n", "\n")  # browsers send a textarea's lines with CRLF
    try:
        playbooks_api.save_roster(user, text, version or None, d, audit, request, ip)
    except ApiError as exc:
        return render(request, "roster_card.html", user, **_roster(user, d, RosterText(text, version),
                                                                   roster_error=exc.detail))  # fmt: skip
    return render(request, "roster_card.html", user, **_roster(user, d, roster_saved=True))


@router.post("/admin/playbooks/validate", response_class=HTMLResponse)
def validate_playbook(request: Request, user: PlaybookManager, text: Annotated[str, Form()] = "") -> HTMLResponse:
    if not text.strip():
        raise BadRequest("paste a playbook's YAML first")
    result = playbooks_api.validate(user, PlaybookText(yaml=text, name="pasted.yml"))
    return render(request, "playbook_check.html", user, result=result)
