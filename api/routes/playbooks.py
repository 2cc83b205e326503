"""`/playbooks` (the loaded playbooks, one in full, validation of an upload) and `/duty/roster` (read, and
replaced by an admin: validated whole, refused on a stale `If-Match`, audited, written atomically; the
playbook worker and this API pick the new file up on their next look, see playbooks/roster_file.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response

from api import errors
from api.audit import AuditTrail, TimeRange
from api.bodies import media_type, read_limited
from api.deps import AuditDep, ClientIp, PlaybookManager, PlaybookReader, SettingsDep
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.incidents import (
    DutyPerson,
    PlaybookProblem,
    PlaybooksPublic,
    PlaybookSummary,
    PlaybookText,
    RosterPublic,
    ValidationPublic,
)
from api.routes.incidents import DeskDep
from api.tokens import Principal
from core.errors import ConfigError
from playbooks.desk import Desk
from playbooks.errors import ConcurrentModification
from playbooks.loader import LoadedPlaybook, Problem, load_text
from playbooks.roster_file import NoRosterFile

router = APIRouter(prefix="/playbooks", tags=["playbooks"])
duty_router = APIRouter(prefix="/duty", tags=["playbooks"])


def _problem(problem: Problem) -> PlaybookProblem:
    return PlaybookProblem(file=problem.path.name, line=problem.line, field=problem.field, message=problem.message)


def _summary(loaded: LoadedPlaybook) -> PlaybookSummary:
    book = loaded.playbook
    return PlaybookSummary(
        id=book.id,
        version=book.version,
        title=book.title.model_dump(by_alias=True),
        trigger=book.trigger.model_dump(mode="json"),
        steps=len(book.steps),
        digest=loaded.digest,
    )


@router.get("", response_model=PlaybooksPublic, responses=AUTH_RESPONSES, summary="The loaded playbooks")
def list_playbooks(_user: PlaybookReader, d: DeskDep) -> PlaybooksPublic:
    loaded = d.catalog.playbooks
    return PlaybooksPublic(
        data=[_summary(p) for p in loaded], count=len(loaded), problems=[_problem(p) for p in d.catalog.problems]
    )


@router.get(
    "/{playbook_id}",
    responses={**AUTH_RESPONSES, 404: {"model": ErrorPublic}},
    summary="One playbook in full (trigger, steps, deadlines), as loaded",
)
def get_playbook(_user: PlaybookReader, playbook_id: str, d: DeskDep) -> dict[str, object]:
    try:
        loaded = d.catalog.get(playbook_id)
    except KeyError:
        raise errors.NotFound(f"no playbook {playbook_id!r}") from None
    return {**loaded.playbook.model_dump(mode="json", by_alias=True), "digest": loaded.digest}


@router.post(
    "/validate",
    response_model=ValidationPublic,
    responses=AUTH_RESPONSES,
    summary="Validate a playbook's YAML: every problem with its line and field",
)
def validate(_user: PlaybookManager, body: PlaybookText) -> ValidationPublic:
    problems, loaded = load_text(body.yaml, body.name)
    return ValidationPublic(
        valid=loaded is not None,
        id=loaded.playbook.id if loaded else None,
        problems=[_problem(p) for p in problems],
    )


ROSTER_TYPES = {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain",
                "application/json"}  # fmt: skip
IfMatch = Annotated[str | None, Header(description="the roster `version` you read; 409 if it changed since")]


@duty_router.get(
    "/roster",
    response_model=RosterPublic,
    responses=AUTH_RESPONSES,
    summary="The duty roster: who is on duty now, the escalation chain, shifts and calendar",
)
def roster(_user: PlaybookReader, d: DeskDep, response: Response, at: datetime | None = None) -> RosterPublic:
    duty, version = d.roster, d.rosters.version
    when = at or d.clock()
    if when.tzinfo is None:
        raise errors.BadRequest("`at` needs a time zone (e.g. 2026-03-02T10:00:00+08:00)")
    response.headers["ETag"] = f'"{version}"'
    return RosterPublic(
        version=version,
        at=when,
        on_duty=duty.on_duty(when),
        chain=duty.chain(when),
        people=[
            DutyPerson(key=k, name=p.name, role=p.role, email=p.email, phone=p.phone) for k, p in duty.people.items()
        ],
        shifts=[s.model_dump(mode="json") for s in duty.shifts],
        escalation=duty.escalation,
        calendar=duty.calendar.model_dump(mode="json"),
    )


@duty_router.get(
    "/roster/file",
    response_class=Response,
    responses={**AUTH_RESPONSES, 200: {"content": {"application/yaml": {}}, "description": "the roster file"}},
    summary="The roster file as written (comments kept), to edit and send back with `PUT /duty/roster`",
)
def roster_file(_user: PlaybookReader, d: DeskDep) -> Response:
    try:
        current = d.rosters.read()
    except ConfigError as exc:
        raise errors.BackendUnavailable(str(exc)) from exc
    return Response(current.text, media_type="application/yaml", headers={"ETag": f'"{current.version}"'})


async def read_roster_text(request: Request, settings: SettingsDep) -> str:
    media_type(request, ROSTER_TYPES, "application/yaml")
    body = await read_limited(request, settings.api_max_body_bytes)
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise errors.BadRequest(f"the roster is not UTF-8 text (byte {exc.start})") from None


@duty_router.put(
    "/roster",
    response_model=RosterPublic,
    responses={**AUTH_RESPONSES, 409: {"model": ErrorPublic, "description": "stale If-Match, or no roster file"},
               415: {"model": ErrorPublic}, 422: {"model": ErrorPublic, "description": "not a valid roster"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/yaml": {"schema": {
        "type": "string", "example": "people:\n  alice: {name: Alice, phone: '13800000000'}\nshifts:\n"
                                     "  - {name: day, days: working, hours: '09:00-18:00', people: [alice]}\n"}}}}},
    summary="Replace the duty roster (YAML or JSON): validated whole, then written as sent",
)  # fmt: skip
def replace_roster(
    user: PlaybookManager,
    text: Annotated[str, Depends(read_roster_text)],
    d: DeskDep,
    request: Request,
    ip: ClientIp,
    audit: AuditDep,
    response: Response,
    if_match: IfMatch = None,
) -> RosterPublic:
    save_roster(user, text, if_match, d, audit, request, ip)
    return roster(user, d, response)


def save_roster(
    user: Principal, text: str, if_match: str | None, d: Desk, audit: AuditTrail, request: Request, ip: str | None
) -> None:
    """The write behind `PUT /duty/roster` and the console's form. The change is in the audit trail before
    the file is replaced (an audit outage refuses the change, as it refuses a read of logs)."""

    def record(old: str, new: str) -> None:
        audit.record(user, action="duty.roster.replace", method=request.method, endpoint=request.url.path,
                     client_ip=ip, query=None, filters={"from_version": old, "to_version": new},
                     time_range=TimeRange.model_validate({}), hits=0, returned=0)  # fmt: skip

    try:
        d.rosters.replace(text, if_match, record)
    except (NoRosterFile, ConcurrentModification) as exc:
        raise errors.Conflict(str(exc)) from exc
    except ConfigError as exc:
        raise errors.BadRequest(str(exc)) from exc
    except OSError as exc:  # audited as attempted; the previous file is intact (write_atomic)
        raise errors.BackendUnavailable(f"the duty roster could not be written: {exc}") from exc
