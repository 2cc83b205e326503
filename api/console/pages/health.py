"""Health and retention: pipeline components and consumer lag (`/health`), silent log sources (the
latest patrol record), retention per category (`/retention/status`), the monthly and quarterly
evaluations (`/reports/evaluation`). Each section shows only if the role may read it through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.console.web import Page, render
from api.deps import BackendsDep, EsDep, SettingsDep
from api.errors import ApiError
from api.permissions import Permission, allowed
from api.routes import health as health_api
from api.routes import reports as reports_api
from api.routes import retention as retention_api
from api.tokens import Principal
from reports.calendar import ReportSettings, load_calendar, previous_working_day
from reports.models import PatrolRecord

router = APIRouter(prefix="/console/health", include_in_schema=False)

Reader = Annotated[Principal, Depends(Page(Permission.READ_HEALTH))]


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
