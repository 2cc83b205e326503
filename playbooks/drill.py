"""Drills (演练): any playbook on a synthetic incident, marked as a drill everywhere, timings recorded.

The synthetic incident is as severe as the playbook's worst case (its `serious_at`, else high), so the
drill walks the longest path: containment, the authority report and its 24-hour deadline included.
Messages carry the drill flag (the channels prefix 【演练】), holds say "drill" in their reason, a
containment command is not run.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel

from core.models.alert import EntityRef, Severity
from core.models.incident import Incident
from playbooks import transitions
from playbooks.loader import LoadedPlaybook


def open_drill(loaded: LoadedPlaybook, *, actor: str, now: datetime, entity: EntityRef | None = None) -> Incident:
    playbook = loaded.playbook
    severity = max(playbook.serious_at or Severity.HIGH, playbook.trigger.min_severity, key=lambda s: s.rank)
    incident = transitions.open_incident(
        title=f"演练 Drill: {playbook.title.get('zh-CN')} / {playbook.title.en}", severity=severity,
        entity=entity or EntityRef(kind="host", value="drill-host"), now=now, actor=actor, drill=True,
        key=f"drill\x1f{playbook.id}\x1f{actor}\x1f{now.isoformat()}",
    )  # fmt: skip
    incident.first_seen = incident.last_seen = now
    transitions.start_playbook(incident, loaded, now, actor)
    return incident


class StepTiming(BaseModel):
    step_id: str
    status: str
    started_at: datetime | None
    completed_at: datetime | None
    seconds: float | None


class DrillTimings(BaseModel):
    """What the evaluation reports use: how long reaching someone and every step took."""

    incident_id: str
    playbook: str | None
    drill: bool
    contact_seconds: float | None
    report_seconds: float | None
    steps: list[StepTiming]


def timings(incident: Incident) -> DrillTimings:
    def secs(delta: timedelta | None) -> float | None:
        return delta.total_seconds() if delta is not None else None

    return DrillTimings(
        incident_id=incident.id, playbook=incident.playbook, drill=incident.drill,
        contact_seconds=secs(incident.contacted_at - incident.opened_at if incident.contacted_at else None),
        report_seconds=secs(incident.reported_at - incident.detected_at if incident.reported_at else None),
        steps=[StepTiming(step_id=s.step_id, status=s.status.value, started_at=s.started_at,
                          completed_at=s.completed_at,
                          seconds=secs(s.completed_at - s.started_at if s.started_at and s.completed_at else None))
               for s in incident.steps],
    )  # fmt: skip
