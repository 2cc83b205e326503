"""`/reports/patrol`: the daily patrol record (JSON, HTML, PDF), its officer sign-off, the unsigned days.

Auditors and officers read; only officers sign (api/permissions.py). A GET for a day without a record
generates and stores version 1 (on demand, as the 08:30 job would have).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from api.deps import EsDep, ReportReader, ReportSigner, SettingsDep
from api.errors import BadRequest, Conflict
from api.models.common import AUTH_RESPONSES
from reports import evaluation, patrol, render
from reports.calendar import ReportSettings, load_calendar, quarter_period
from reports.errors import ReportError, SignOffError
from reports.models import Evaluation, PatrolRecord, SignOff, UnsignedDay

router = APIRouter(prefix="/reports", tags=["reports"])
Lang = Literal["zh-CN", "en"]  # reports.i18n.LANGUAGES


class UnsignedDaysPublic(BaseModel):
    data: list[UnsignedDay]
    count: int


class VersionsPublic(BaseModel):
    data: list[PatrolRecord]
    count: int


def _today(settings: SettingsDep) -> date:
    return datetime.now(UTC).astimezone(settings.zone).date()


@router.get("/patrol/unsigned", response_model=UnsignedDaysPublic, responses=AUTH_RESPONSES,
            summary="Working days without a signed patrol record")  # fmt: skip
def unsigned(
    _user: ReportReader,
    es: EsDep,
    settings: SettingsDep,
    from_: Annotated[date | None, Query(alias="from", description="first day; default: 30 days ago")] = None,
    to: Annotated[date | None, Query(description="day after the last; default: today")] = None,
) -> UnsignedDaysPublic:
    end = to or _today(settings)
    days = patrol.unsigned_days(es, load_calendar(ReportSettings().calendar_file), from_ or end - timedelta(30), end)
    return UnsignedDaysPublic(data=days, count=len(days))


@router.get("/patrol/{day}/versions", response_model=VersionsPublic, responses=AUTH_RESPONSES,
            summary="Every stored version of a day's record, oldest first")  # fmt: skip
def versions(_user: ReportReader, es: EsDep, day: date) -> VersionsPublic:
    found = patrol.versions(es, day)
    return VersionsPublic(data=found, count=len(found))


@router.get("/patrol/{day}", response_model=PatrolRecord, responses={
    **AUTH_RESPONSES, 200: {"content": {"text/html": {}, "application/pdf": {}},
                            "description": "the record as JSON, HTML or PDF (`format`)"}},
    summary="The patrol record of a day (latest version)")  # fmt: skip
def get_patrol(
    _user: ReportReader,
    es: EsDep,
    settings: SettingsDep,
    day: date,
    format: Literal["json", "html", "pdf"] = "json",  # noqa: A002 - the query parameter's public name
    lang: Lang = "zh-CN",
    version: Annotated[int | None, Query(ge=1)] = None,
) -> PatrolRecord | Response:
    if day >= _today(settings):
        raise BadRequest(f"{day} is not over yet: a patrol record covers a whole past day")
    record, _ = patrol.ensure_record(es, settings, day, datetime.now(UTC))
    if version is not None:
        chosen = [r for r in patrol.versions(es, day) if r.version == version]
        if not chosen:
            raise BadRequest(f"{day} has no version {version} (latest: {record.version})")
        record = chosen[0]
    if format == "json":
        return record
    html = render.patrol_html(record, lang, "svg" if format == "html" else "png")
    if format == "html":
        return Response(html, media_type="text/html; charset=utf-8")
    disposition = f'inline; filename="patrol-{day}-v{record.version}.pdf"'
    return Response(render.pdf(html), media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.post("/patrol/{day}/signoff", response_model=PatrolRecord, responses={
    **AUTH_RESPONSES, 409: {"description": "signed meanwhile by someone else: reload and sign again"}},
    summary="Sign the day's record (a signed record is immutable: signing again creates version N+1)")  # fmt: skip
def sign(user: ReportSigner, es: EsDep, settings: SettingsDep, day: date, body: SignOff) -> PatrolRecord:
    if day >= _today(settings):
        raise BadRequest(f"{day} is not over yet: sign a past day's record")
    try:
        return patrol.sign(es, settings, day, body, user.name, datetime.now(UTC))
    except SignOffError as exc:
        raise Conflict(str(exc)) from exc


@router.get("/evaluation/{period}", response_model=Evaluation, responses=AUTH_RESPONSES,
            summary="The monthly (YYYY-MM) or quarterly (YYYYQn) service-quality evaluation, as JSON")  # fmt: skip
def get_evaluation(_user: ReportReader, es: EsDep, settings: SettingsDep, period: str) -> Evaluation:
    calendar = load_calendar(ReportSettings().calendar_file)
    try:
        if "Q" in period.upper():
            quarter = quarter_period(period, settings.timezone)
            return evaluation.quarterly(es, settings, calendar, quarter, datetime.now(UTC))
        return evaluation.monthly(es, settings, calendar, period, datetime.now(UTC))
    except ReportError as exc:
        raise BadRequest(str(exc)) from exc
