"""Message texts: playbook templates filled from the incident, and the engine's own reminder texts.

Drills are marked by the channels themselves (`playbooks.notify.DRILL_PREFIX`), from the message's `drill` flag."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from core.models.incident import Incident


def fields(incident: Incident, link: str | None) -> dict[str, str]:
    return {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity.value,
        "entity": incident.entity.key if incident.entity else "-",
        "playbook": incident.playbook or "-",
        "alerts": str(len(incident.alert_ids)),
        "link": link or incident.id,
        "opened_at": incident.opened_at.isoformat(),
        "assignee": incident.assignee or "-",
    }


def fill(template: str, incident: Incident, link: str | None) -> str:
    """`{title}`, `{entity}`...; an unknown placeholder stays as written rather than failing the step."""
    values = defaultdict(lambda: "", fields(incident, link))
    try:
        text = template.format_map(values)
    except (ValueError, IndexError):
        text = template
    return text


def page_text(incident: Incident, level: int, link: str | None) -> tuple[str, str]:
    subject = f"[Vigil] 值班响应 / on duty: {incident.title} ({incident.severity.value})"
    text = (
        f"事件 Incident {incident.id}: {incident.title}\n"
        f"级别 Severity: {incident.severity.value}  对象 Entity: {fields(incident, link)['entity']}\n"
        f"请在 3 分钟内确认 / acknowledge within 3 minutes (escalation level {level}).\n{link or ''}"
    )
    return subject, text


def deadline_text(incident: Incident, step_title: str, due: datetime, kind: str, link: str | None) -> tuple[str, str]:
    when = due.isoformat(timespec="minutes")
    if kind == "overdue":
        subject = f"[Vigil] 已超时 OVERDUE: {step_title} — {incident.title}"
        text = f"期限已过 / the deadline passed at {when}: {step_title}.\n事件 Incident {incident.id}\n{link or ''}"
    else:
        subject = f"[Vigil] 期限提醒 reminder: {step_title} due {when} — {incident.title}"
        text = f"截止时间 / due at {when}: {step_title}.\n事件 Incident {incident.id}\n{link or ''}"
    return subject, text
