"""`/retention/status` (compliance with the 60-day floor) and `/holds` (legal holds), through the
retention package's own functions: the CLI, the API and the playbook engine share one behaviour."""

from __future__ import annotations

from typing import Annotated

from elasticsearch import ApiError, TransportError
from fastapi import APIRouter, Query
from pydantic import ValidationError

from api.deps import EsDep, HoldPlacer, HoldReader, HoldReleaser, RetentionReader, SettingsDep
from api.errors import BackendUnavailable, BadRequest, Conflict, NotFound
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.retention import (
    HoldCreate,
    HoldPublic,
    HoldRelease,
    HoldSearch,
    HoldsPublic,
    RetentionStatusPublic,
)  # fmt: skip
from core.errors import HoldError
from retention import status
from retention.holds import get_hold, list_holds, place_hold, release_hold

router = APIRouter(tags=["retention"])

BACKEND_ERRORS = (ApiError, TransportError)


@router.get(
    "/retention/status",
    response_model=RetentionStatusPublic,
    responses=AUTH_RESPONSES,
    summary="Per category: oldest/newest day, gaps, size, holds, next deletion, compliance with the floor",
)
def retention_status(_user: RetentionReader, settings: SettingsDep, es: EsDep) -> RetentionStatusPublic:
    try:
        return RetentionStatusPublic.model_validate(status(es, settings).model_dump())
    except BACKEND_ERRORS as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc


@router.get("/holds", response_model=HoldsPublic, responses=AUTH_RESPONSES, summary="Legal holds (active by default)")
def holds(_user: HoldReader, params: Annotated[HoldSearch, Query()], es: EsDep) -> HoldsPublic:
    try:
        found = list_holds(es, active_only=not params.include_released)
    except BACKEND_ERRORS as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc
    return HoldsPublic(data=[HoldPublic.model_validate(h.model_dump()) for h in found], count=len(found))


@router.post(
    "/holds",
    status_code=201,
    response_model=HoldPublic,
    responses={**AUTH_RESPONSES, 409: {"model": ErrorPublic, "description": "a different hold has this id"}},
    summary="Place a legal hold: retention preserves what it covers until it is released",
)
def place(user: HoldPlacer, body: HoldCreate, settings: SettingsDep, es: EsDep) -> HoldPublic:
    try:
        request = body.request(by=user.name)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "body"
        raise BadRequest(f"{field}: {error['msg'].removeprefix('Value error, ')}") from None
    try:
        hold = place_hold(es, settings, request, hold_id=body.id)
    except HoldError as exc:
        raise Conflict(str(exc)) from exc
    except BACKEND_ERRORS as exc:
        raise BackendUnavailable(f"the hold was not stored: {exc}") from exc
    return HoldPublic.model_validate(hold.model_dump())


@router.post(
    "/holds/{hold_id}/release",
    response_model=HoldPublic,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorPublic}, 409: {"model": ErrorPublic}},
    summary="Release a hold; the record (who, when, why) and its evidence index stay",
)
def release(user: HoldReleaser, hold_id: str, body: HoldRelease, es: EsDep) -> HoldPublic:
    try:
        get_hold(es, hold_id)
    except HoldError as exc:
        raise NotFound(str(exc)) from exc
    try:
        released = release_hold(es, hold_id, by=user.name, reason=body.reason)
    except HoldError as exc:  # already released, or released concurrently
        raise Conflict(str(exc)) from exc
    return HoldPublic.model_validate(released.model_dump())
