"""Health and retention: pipeline components and consumer lag (`/health`), silent log sources (the
latest patrol record), retention per category (`/retention/status`), the monthly and quarterly
evaluations (`/reports/evaluation`), the latest integrity verification per day and category (the
records `vigil verify` stores in `vigil-ledger`) with "verify now" (`/integrity/verify`, admins and
auditors). Each section shows only if the role may read it through the API."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from elasticsearch import ApiError as EsApiError
from elasticsearch import Elasticsearch, TransportError
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from api.console.web import Page, render
from api.deps import BackendsDep, EsDep, SettingsDep
from api.errors import ApiError, BadRequest
from api.permissions import Permission, allowed
from api.routes import health as health_api
from api.routes import integrity as integrity_api
from api.routes import reports as reports_api
from api.routes import retention as retention_api
from api.tokens import Principal
from core.ledger import VerificationRecord
from core.ledger_store import latest_verifications, ledger_indices
from core.names import Category
from reports.calendar import ReportSettings, load_calendar, previous_working_day
from reports.models import PatrolRecord

router = APIRouter(prefix="/console/health", include_in_schema=False)

Reader = Annotated[Principal, Depends(Page(Permission.READ_HEALTH))]
Verifier = Annotated[Principal, Depends(Page(Permission.VERIFY_INTEGRITY))]
INTEGRITY_DAYS = 7  # UTC days shown, today first


class IntegrityDay(BaseModel):
    """One UTC day's latest verification per category, and its ledgered indices never verified."""

    day: date
    checks: list[VerificationRecord]
    unverified: list[str]


def integrity_days(es: Elasticsearch, today: date) -> tuple[list[IntegrityDay], str | None]:
    """The last days that have a ledger or a verification; (days, the error when Elasticsearch failed)."""
    days = []
    try:
        for day in (today - timedelta(days=n) for n in range(INTEGRITY_DAYS)):
            checks = latest_verifications(es, day)
            verified = {check.index for check in checks}
            unverified = [index for index in ledger_indices(es, day) if index not in verified]
            if checks or unverified:
                days.append(IntegrityDay(day=day, checks=checks, unverified=unverified))
    except (EsApiError, TransportError) as exc:
        return days, f"Elasticsearch did not answer: {exc}"
    return days, None


@router.get("", response_class=HTMLResponse)
def health_page(
    request: Request,
    user: Reader,
    settings: SettingsDep,
    backends: BackendsDep,
    es: EsDep,
    month: str | None = None,
    quarter: str | None = None,
) -> HTMLResponse:
    context: dict[str, Any] = {"health": health_api.health(user, settings, backends), "retention": None,
                               "silent": None, "evaluation": None, "evaluation_error": None}  # fmt: skip
    context["integrity"], context["integrity_error"] = integrity_days(es, datetime.now(UTC).date())
    if allowed(user.role, Permission.READ_RETENTION):
        context["retention"] = retention_api.retention_status(user, settings, es)
    if allowed(user.role, Permission.READ_REPORTS):
        today = datetime.now(UTC).astimezone(settings.zone).date()
        day = previous_working_day(load_calendar(ReportSettings().calendar_file), today)
        record = reports_api.get_patrol(user, es, settings, day)
        assert isinstance(record, PatrolRecord)  # format json
        context["silent"] = (day, record.content.logs.silent_sources)
        period = quarter or month or day.strftime("%Y-%m")  # the month of the latest patrol day
        try:
            context["evaluation"] = reports_api.get_evaluation(user, es, settings, period)
        except ApiError as exc:
            context["evaluation_error"] = exc.detail
        context["period"] = period
    return render(request, "health.html", user, **context)


@router.post("/verify", response_class=HTMLResponse)
def verify_now(
    request: Request,
    user: Verifier,
    settings: SettingsDep,
    es: EsDep,
    day: Annotated[date, Form()],
    category: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Verify a day (one category or all) as `GET /integrity/verify` does, then show the section again."""
    error = None
    try:
        chosen = Category(category) if category else None
        verified = integrity_api.verify(user, settings, es, day, chosen).data
    except ValueError:
        raise BadRequest(f"category: one of {', '.join(c.value for c in Category)}") from None
    except ApiError as exc:
        verified, error = [], exc.detail
    days, read_error = integrity_days(es, datetime.now(UTC).date())
    return render(request, "integrity.html", user, integrity=days, integrity_error=error or read_error,
                  verified=verified, verified_day=day)  # fmt: skip
