"""`/incidents`: list and read incidents, open one by hand or as a drill, and work its playbook.

Every change returns the incident with its new `version` (also the `ETag` header); send it back as
`If-Match` to be sure you change what you read: a stale version, or a write racing another, is 409.
Responders act, officers acknowledge, escalate, approve containments and close; auditors read (and do
not see log excerpts attached by enrich steps: those are logs, and auditors read the audit trail).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

from elasticsearch import ApiError, TransportError
from fastapi import APIRouter, Depends, Header, Query, Request, Response

from api import errors
from api.deps import (
    EsDep,
    IncidentReader,
    IncidentResponder,
    SettingsDep,
)
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.incidents import (
    DrillCreate,
    EvidencePublic,
    IncidentCreate,
    IncidentPublic,
    IncidentsPublic,
    IncidentSummary,
    StepEvidence,
    TimelinePublic,
)
from api.permissions import Permission, allowed
from api.tokens import Principal
from core.models.alert import EntityRef
from playbooks import errors as response_errors
from playbooks import transitions
from playbooks.desk import Change, Desk
from playbooks.drill import DrillTimings, timings
from playbooks.store import IncidentFilter, Versioned

router = APIRouter(prefix="/incidents", tags=["incidents"])
CHANGE_RESPONSES = {
    **AUTH_RESPONSES,
    404: {"model": ErrorPublic},
    409: {"model": ErrorPublic, "description": "changed concurrently (stale If-Match), or not possible in this state"},
}
IfMatch = Annotated[str | None, Header(description="the `version` you read; 409 if the incident moved on")]


def desk(request: Request, settings: SettingsDep, es: EsDep) -> Desk:
    """One desk per app (playbooks and roster parsed once), made on first use."""
    found: Desk | None = getattr(request.app.state, "response_desk", None)
    if found is None:
        found = request.app.state.response_desk = Desk(settings, es)
    return found


DeskDep = Annotated[Desk, Depends(desk)]


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except response_errors.NotFound as exc:
        raise errors.NotFound(str(exc)) from exc
    except (response_errors.InvalidTransition, response_errors.ConcurrentModification) as exc:
        raise errors.Conflict(str(exc)) from exc
    except (response_errors.MissingEvidence, response_errors.UnknownAlerts) as exc:
        raise errors.BadRequest(str(exc)) from exc
    except response_errors.Forbidden as exc:
        raise errors.Forbidden(str(exc)) from exc
    except (ApiError, TransportError) as exc:
        raise errors.BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc


def _public(found: Versioned, d: Desk, user: Principal, response: Response) -> IncidentPublic:
    response.headers["ETag"] = f'"{found.version}"'
    incident = found.incident.model_copy(deep=True)
    if not allowed(user.role, Permission.SEARCH_LOGS):
        for state in incident.steps:
            for attachment in state.attachments:
                attachment.rows = []
    data = {**incident.model_dump(), "alerts": d.store.alerts(incident.alert_ids), "version": found.version}
    return IncidentPublic.model_validate(data)


@router.get("", response_model=IncidentsPublic, responses=AUTH_RESPONSES, summary="Incidents, newest first")
def list_incidents(
    _user: IncidentReader,
    d: DeskDep,
    status: Annotated[list[str] | None, Query()] = None,
    severity: Annotated[list[str] | None, Query()] = None,
    playbook: str | None = None,
    assignee: str | None = None,
    entity: str | None = None,
    drill: bool | None = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
    size: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> IncidentsPublic:
    flt = IncidentFilter(
        status=status,
        severity=severity,
        playbook=playbook,
        assignee=assignee,
        entity=entity,
        drill=drill,
        since=from_,
        until=to,
    )
    with _mapped():
        found, total = d.store.search(flt, size=size, offset=offset)
    return IncidentsPublic(data=[IncidentSummary.of(v.incident, v.version) for v in found], count=total)


@router.post(
    "",
    status_code=201,
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Open an incident by hand (a report by phone, an observation, an alert), optionally with its playbook",
)
def open_incident(user: IncidentResponder, body: IncidentCreate, d: DeskDep, response: Response) -> IncidentPublic:
    try:
        entity = EntityRef.parse(body.entity) if body.entity else None
    except ValueError as exc:
        raise errors.BadRequest(str(exc)) from exc
    now = d.clock()
    incident = transitions.open_incident(
        title=body.title,
        severity=body.severity,
        entity=entity,
        now=now,
        actor=user.name,
        detected_at=body.detected_at,
        serious=body.serious,
    )
    with _mapped():
        return _public(d.create(incident, body.playbook, user.name, body.alert_ids), d, user, response)


@router.post(
    "/drill",
    status_code=201,
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="Start a drill (演练): the playbook on a synthetic incident marked as a drill everywhere",
)
def start_drill(user: IncidentResponder, body: DrillCreate, d: DeskDep, response: Response) -> IncidentPublic:
    with _mapped():
        return _public(d.drill(body.playbook, user.name), d, user, response)


@router.get(
    "/{incident_id}",
    response_model=IncidentPublic,
    responses=CHANGE_RESPONSES,
    summary="One incident with its alerts, steps, timeline and messages",
)
def get_incident(user: IncidentReader, incident_id: str, d: DeskDep, response: Response) -> IncidentPublic:
    with _mapped():
        return _public(d.get(incident_id), d, user, response)


@router.get(
    "/{incident_id}/timeline",
    response_model=TimelinePublic,
    responses=CHANGE_RESPONSES,
    summary="Every transition: who, when, what, evidence",
)
def timeline(_user: IncidentReader, incident_id: str, d: DeskDep) -> TimelinePublic:
    with _mapped():
        found = d.get(incident_id).incident
    return TimelinePublic(data=found.timeline, count=len(found.timeline))


@router.get(
    "/{incident_id}/evidence",
    response_model=EvidencePublic,
    responses=CHANGE_RESPONSES,
    summary="Evidence recorded per step, attached query results and reports, legal holds placed",
)
def evidence(user: IncidentReader, incident_id: str, d: DeskDep) -> EvidencePublic:
    with _mapped():
        found = d.get(incident_id).incident
    rows = allowed(user.role, Permission.SEARCH_LOGS)
    steps = [
        StepEvidence(
            step_id=s.step_id,
            title=s.title,
            status=s.status.value,
            completed_by=s.completed_by,
            completed_at=s.completed_at,
            evidence=s.evidence,
            comment=s.comment,
            attachments=[a if rows else a.model_copy(update={"rows": []}) for a in s.attachments],
        )
        for s in found.steps
    ]
    holds = [a.ref for s in found.steps for a in s.attachments if a.kind == "hold" and a.ref]
    return EvidencePublic(incident_id=found.id, drill=found.drill, steps=steps, holds=holds)


@router.get(
    "/{incident_id}/timings",
    response_model=DrillTimings,
    responses=CHANGE_RESPONSES,
    summary="How long reaching the on-duty person, the report and each step took (drills and real)",
)
def incident_timings(_user: IncidentReader, incident_id: str, d: DeskDep) -> DrillTimings:
    with _mapped():
        return timings(d.get(incident_id).incident)


def change(
    d: Desk, user: Principal, response: Response, incident_id: str, if_match: str | None, apply: Change
) -> IncidentPublic:
    """The one path of every change: desk.act (If-Match, transition, advance, save), errors mapped."""
    with _mapped():
        return _public(d.act(incident_id, if_match, apply), d, user, response)
