"""The daily patrol record: a day's record with charts, the unsigned working days highlighted, the
versions, the officer's sign-off (findings, actions, remarks) and HTML/PDF export, all through the
`/reports/patrol` route functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from api.console.web import Page, render
from api.deps import EsDep, SettingsDep
from api.errors import BadRequest
from api.permissions import Permission
from api.routes import reports as reports_api
from api.tokens import Principal
from reports.calendar import ReportSettings, load_calendar, previous_working_day
from reports.models import PatrolRecord, SignOff

router = APIRouter(prefix="/console/patrol", include_in_schema=False)
PALETTE = ["#1f5fbf", "#d97a00", "#2e7d32", "#8e24aa", "#546e7a"]
SEVERITY_COLOURS = {"critical": "#8b0000", "high": "#c62828", "medium": "#d97a00", "low": "#2e7d32",
                    "informational": "#546e7a"}  # fmt: skip

Reader = Annotated[Principal, Depends(Page(Permission.READ_REPORTS))]
Signer = Annotated[Principal, Depends(Page(Permission.SIGN_REPORTS))]


def _day(settings: SettingsDep, value: str | None) -> date:
    if value:
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"day: {value!r} is not a day (YYYY-MM-DD)") from None
    today = datetime.now(UTC).astimezone(settings.zone).date()
    return previous_working_day(load_calendar(ReportSettings().calendar_file), today)


def _charts(record: PatrolRecord) -> dict[str, Any]:
    c = record.content
    hourly = {
        "type": "bar",
        "data": {"labels": [f"{h:02d}" for h in range(24)],
                 "datasets": [{"label": cat, "data": counts, "backgroundColor": PALETTE[i % len(PALETTE)]}
                              for i, (cat, counts) in enumerate(sorted(c.logs.hourly.items()))]},
        "options": {"scales": {"x": {"stacked": True}, "y": {"stacked": True}}},
    }  # fmt: skip
    counts = c.alerts.by_severity
    colours = [SEVERITY_COLOURS.get(s.key, "#546e7a") for s in counts]
    severity = {
        "type": "bar",
        "data": {"labels": [s.key for s in counts], "datasets": [{"data": [s.count for s in counts],
                                                                  "backgroundColor": colours}]},
        "options": {"plugins": {"legend": {"display": False}}},
    }  # fmt: skip
    return {"hourly": hourly, "severity": severity}


def _context(user: Principal, es: EsDep, settings: SettingsDep, day: date) -> dict[str, Any]:
    record = reports_api.get_patrol(user, es, settings, day, format="json")
    assert isinstance(record, PatrolRecord)
    unsigned = reports_api.unsigned(user, es, settings, from_=None, to=None)
    return {
        "record": record,
        "charts": _charts(record),
        "unsigned": unsigned.data,
        "versions": reports_api.versions(user, es, day).data,
        "day": day,
        "prev_day": day - timedelta(days=1),
    }


@router.get("", response_class=HTMLResponse)
def patrol_page(
    request: Request, user: Reader, es: EsDep, settings: SettingsDep, day: str | None = None
) -> HTMLResponse:
    chosen = _day(settings, day)
    return render(request, "patrol.html", user, **_context(user, es, settings, chosen))


@router.post("/{day}/signoff", response_class=HTMLResponse)
def sign(
    request: Request,
    user: Signer,
    es: EsDep,
    settings: SettingsDep,
    day: date,
    findings: Annotated[str, Form()] = "",
    actions: Annotated[str, Form()] = "",
    remarks: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """`POST /reports/patrol/{day}/signoff`; the page comes back with the signed version."""
    signed = reports_api.sign(user, es, settings, day, SignOff(findings=findings, actions=actions, remarks=remarks))
    context = _context(user, es, settings, day)
    return render(request, "patrol.html", user, signed_version=signed.version, **context)
