"""`/playbooks` (the loaded playbooks, one in full, validation of an upload) and `/duty/roster`."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter

from api import errors
from api.deps import PlaybookManager, PlaybookReader
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
from playbooks.loader import LoadedPlaybook, Problem, load_text

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


@duty_router.get(
    "/roster",
    response_model=RosterPublic,
    responses=AUTH_RESPONSES,
    summary="The duty roster: who is on duty now, the escalation chain, shifts and calendar",
)
def roster(_user: PlaybookReader, d: DeskDep, at: datetime | None = None) -> RosterPublic:
    duty = d.roster
    when = at or d.clock()
    if when.tzinfo is None:
        raise errors.BadRequest("`at` needs a time zone (e.g. 2026-03-02T10:00:00+08:00)")
    return RosterPublic(
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
