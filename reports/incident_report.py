"""The incident report (处置报告) and the authority report (报送主管部门的网络安全事件报告) of one incident.

The incident report is the full record: summary, alerts with rules and ATT&CK, every step with who did it, when
and with what evidence, containment approvals, evidence holds, contact attempts, the timeline, the review, and
whether the policy's deadlines were kept: the on-duty person reached within 3 minutes of opening, a serious
incident reported to the authorities within 24 hours of detection. The authority report is the formal filing:
organisation and contact, times of detection and report, category, impact, measures taken, current status.
Categories follow GB/T 20986 (信息安全事件分类分级指南): harmful programs, network attacks, information
destruction, equipment failure, other. A drill is marked on every page of both.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from core.models.alert import Alert
from core.models.incident import Attachment, Incident, StepStatus
from core.settings import get_settings
from reports import charts
from reports.calendar import ReportSettings
from reports.i18n import translator
from reports.incidents import CONTACT_LIMIT, REPORT_LIMIT
from reports.render import embed, render_template

Result = Literal["met", "missed", "pending", "overdue"]
CATEGORY_BY_PLAYBOOK = {
    "malware": "malware", "intrusion": "attack", "brute-force": "attack", "unauthorized-access": "attack",
    "departed-access": "attack", "vendor-access": "attack", "data-leak": "information",
    "audit-log-cleared": "information", "system-outage": "failure", "policy-violation": "other",
}  # fmt: skip
# Without a known playbook, the ATT&CK tactic decides: exfiltration and log clearing destroy information.
_INFORMATION_TAGS = ("attack.exfiltration", "attack.collection", "attack.t1070", "attack.t1048", "attack.t1567")
_MALWARE_TAGS = ("attack.t1486", "attack.t1204", "attack.t1059")


class Reporter(BaseModel):
    """The authority report's sender (`VIGIL_REPORT_ORGANISATION`, `_CONTACT`, `_CONTACT_PHONE`, `_CONTACT_EMAIL`)."""

    organisation: str = ""
    contact: str = ""
    phone: str = ""
    email: str = ""

    @classmethod
    def from_settings(cls) -> Reporter:
        s = ReportSettings()
        return cls(organisation=s.organisation, contact=s.contact, phone=s.contact_phone, email=s.contact_email)


class Check(BaseModel):
    """One policy deadline of the incident, judged."""

    key: str
    start: datetime
    limit_s: float
    due: datetime
    done_at: datetime | None
    elapsed_s: float | None
    result: Result


def checks(incident: Incident, now: datetime) -> list[Check]:
    found = [_check("inc.contact3", incident.opened_at, incident.contacted_at, CONTACT_LIMIT, now)]
    if incident.serious:
        found.append(_check("inc.report24", incident.detected_at, incident.reported_at, REPORT_LIMIT, now))
    return found


def _check(key: str, start: datetime, done: datetime | None, limit: timedelta, now: datetime) -> Check:
    if done is not None:
        result: Result = "met" if done - start <= limit else "missed"
    else:
        result = "overdue" if now - start > limit else "pending"
    return Check(key=key, start=start, limit_s=limit.total_seconds(), due=start + limit, done_at=done,
                 elapsed_s=(done - start).total_seconds() if done else None, result=result)  # fmt: skip


def category(incident: Incident) -> str:
    """`malware`, `attack`, `information`, `failure` or `other` (translated as `cat.<key>`)."""
    if incident.playbook in CATEGORY_BY_PLAYBOOK:
        return CATEGORY_BY_PLAYBOOK[incident.playbook]
    tags = [t.lower() for t in incident.tags]
    if any(t.startswith(_INFORMATION_TAGS) for t in tags):
        return "information"
    if any(t.startswith(_MALWARE_TAGS) for t in tags):
        return "malware"
    return "attack" if any(t.startswith("attack.") for t in tags) else "other"


def holds(incident: Incident) -> list[Attachment]:
    return [a for step in incident.steps for a in step.attachments if a.kind == "hold"]


def affected(incident: Incident, alerts: list[Alert]) -> list[str]:
    keys = [incident.entity.key] if incident.entity else []
    return list(dict.fromkeys(keys + [a.entity.key for a in alerts]))


def incident_report_html(incident: Incident, alerts: list[Alert], lang: str, *, authority: bool = False,
                         image: Literal["svg", "png"] = "svg", reporter: Reporter | None = None,
                         zone: str | None = None, now: datetime | None = None) -> str:  # fmt: skip
    """The incident report, or with `authority` the authority report, as HTML (`image="png"` for a PDF).
    `reporter` defaults to the report settings, `zone` to the configured time zone, `now` to the clock."""
    t = translator(lang)
    now = now or datetime.now(UTC)
    zone = zone or get_settings().timezone
    context = {
        "i": incident,
        "alerts": sorted(alerts, key=lambda a: a.first_seen),
        "checks": checks(incident, now),
        "category": category(incident),
        "holds": holds(incident),
        "affected": affected(incident, alerts),
        "generated": now,
        "tz": zone,
        "when_s": lambda v: _seconds(v, zone),
        "done_steps": [s for s in incident.steps if s.status == StepStatus.DONE],
        "approvals": [s for s in incident.steps if s.kind == "contain"],
        "summary_of": lambda a: a.summary.zh if lang == "zh-CN" else a.summary.en,
    }
    if authority:
        return render_template("authority.html", lang, zone, reporter=reporter or Reporter.from_settings(), **context)
    chart = charts.response_timeline(_spans(incident, t), _deadline_marks(incident), _minutes(incident, now) or 0.0,
                                     t("inc.chart"), image)  # fmt: skip
    return render_template("incident.html", lang, zone, charts=embed({"timeline": chart}, image), **context)


def _seconds(value: datetime | None, zone: str) -> str:
    return value.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _minutes(incident: Incident, value: datetime | None) -> float | None:
    return None if value is None else max((value - incident.detected_at).total_seconds() / 60, 0.0)


def _spans(incident: Incident, t: Callable[[str], str]) -> list[tuple[str, float, float | None]]:
    """Bars of the response chart: the duty contact, each started step, the authority report."""
    spans = [(t("inc.contacted"), _minutes(incident, incident.opened_at) or 0.0,
              _minutes(incident, incident.contacted_at))]  # fmt: skip
    spans += [(s.title or s.step_id, _minutes(incident, s.started_at) or 0.0, _minutes(incident, s.completed_at))
              for s in incident.steps if s.started_at is not None]  # fmt: skip
    if incident.serious:
        spans.append((t("inc.reported"), 0.0, _minutes(incident, incident.reported_at)))
    return spans


def _deadline_marks(incident: Incident) -> list[tuple[str, float]]:
    opened = _minutes(incident, incident.opened_at) or 0.0
    marks = [("3 min", opened + CONTACT_LIMIT.total_seconds() / 60)]
    if incident.serious:
        marks.append(("24 h", REPORT_LIMIT.total_seconds() / 60))
    return marks
