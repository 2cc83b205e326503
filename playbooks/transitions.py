"""What people and alerts do to an incident: open, add alerts, start a playbook, complete a step, approve a
containment, acknowledge, escalate, reassign, close. Pure like progress.py: each refuses an impossible
transition with a ResponseError, records it in the timeline, and leaves the next moves to `advance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from core.models.alert import Alert, EntityRef, Severity
from core.models.incident import Approval, Incident, IncidentStatus, Review, StepState, StepStatus, incident_id
from playbooks.errors import Forbidden, InvalidTransition, MissingEvidence, NotFound
from playbooks.loader import LoadedPlaybook
from playbooks.progress import ENGINE, Context, finish, is_serious, log, page, queue_notify, step_states
from playbooks.schema import ContainStep, EscalateStep, ManualStep, NotifyStep

ROLE_RANK = {"auditor": 0, "responder": 1, "officer": 2, "admin": 3}


def open_incident(
    *, title: str, severity: Severity, entity: EntityRef | None, now: datetime, actor: str,
    detected_at: datetime | None = None, drill: bool = False, serious: bool = False, key: str | None = None,
) -> Incident:  # fmt: skip
    ident = incident_id(key) if key else incident_id(actor, title, now.isoformat())
    incident = Incident(id=ident, title=title, severity=severity, entity=entity, drill=drill, serious=serious,
                        detected_at=detected_at or now, opened_at=now, opened_by=actor, updated_at=now)  # fmt: skip
    log(incident, now, actor, "opened", detail=("演练 drill: " if drill else "") + title)
    return incident


def open_from_alert(alert: Alert, loaded: LoadedPlaybook, now: datetime) -> Incident:
    playbook = loaded.playbook
    incident = open_incident(
        title=f"{playbook.title.get('zh-CN')}: {alert.summary.zh}", severity=alert.severity, entity=alert.entity,
        now=now, actor=ENGINE, detected_at=alert.timestamp, key=f"{playbook.id}\x1f{alert.entity.key}\x1f{alert.id}",
    )  # fmt: skip
    add_alerts(incident, [alert], now)
    start_playbook(incident, loaded, now, ENGINE)
    return incident


def add_alerts(incident: Incident, alerts: Sequence[Alert], now: datetime) -> bool:
    """Group alerts into the incident; True when one was new. Severity only ever rises."""
    new = [a for a in alerts if a.id not in incident.alert_ids]
    for alert in new:
        incident.alert_ids.append(alert.id)
        incident.rule_ids = sorted({*incident.rule_ids, alert.rule.id})
        incident.tags = sorted({*incident.tags, *alert.tags})
        incident.first_seen = min(filter(None, [incident.first_seen, alert.first_seen]))
        incident.last_seen = max(filter(None, [incident.last_seen, alert.last_seen]))
        incident.detected_at = min(incident.detected_at, alert.timestamp)
        if alert.severity.rank > incident.severity.rank:
            log(incident, now, ENGINE, "severity_raised", detail=f"{incident.severity.value} → {alert.severity.value}")
            incident.severity = alert.severity
        log(incident, now, ENGINE, "alert_added", detail=f"{alert.rule.id}: {alert.summary.en}")
    return bool(new)


def start_playbook(incident: Incident, loaded: LoadedPlaybook, now: datetime, actor: str) -> None:
    if incident.status in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED):
        raise InvalidTransition(f"incident {incident.id} is {incident.status.value}")
    if incident.playbook is not None and any(s.status is not StepStatus.PENDING for s in incident.steps):
        raise InvalidTransition(f"incident {incident.id} already runs playbook {incident.playbook}")
    playbook = loaded.playbook
    incident.playbook, incident.playbook_digest = playbook.id, loaded.digest
    incident.steps = step_states(playbook)
    incident.serious = incident.serious or is_serious(playbook, incident.severity)
    if incident.status is IncidentStatus.OPEN and incident.contacted_at is not None:
        incident.status = IncidentStatus.IN_PROGRESS
    log(
        incident,
        now,
        actor,
        "playbook_started",
        detail=f"{playbook.id} v{playbook.version} ({len(playbook.steps)} steps)",
    )


def _state(incident: Incident, step_id: str) -> StepState:
    try:
        return incident.step(step_id)
    except KeyError:
        raise NotFound(f"incident {incident.id} has no step {step_id!r}") from None


def _open(incident: Incident) -> None:
    if incident.status in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED):
        raise InvalidTransition(f"incident {incident.id} is {incident.status.value}")


def complete_step(incident: Incident, ctx: Context, step_id: str, *, actor: str, evidence: dict[str, str],
                  comment: str | None, now: datetime) -> None:  # fmt: skip
    """A person completes a manual step, or finishes by hand an automated one that failed."""
    _open(incident)
    state = _state(incident, step_id)
    step = ctx.playbook.step(step_id)
    manual_ready = isinstance(step, ManualStep) and state.status is StepStatus.READY
    if not manual_ready and state.status is not StepStatus.FAILED:
        raise InvalidTransition(f"step {step_id!r} is {state.status.value}: only a ready manual step or a failed "
                                "step can be completed by hand")  # fmt: skip
    if isinstance(step, ManualStep):
        missing = [f.name for f in step.evidence if f.required and not evidence.get(f.name, "").strip()]
        if missing:
            raise MissingEvidence(f"step {step_id!r} needs evidence: {', '.join(missing)}")
        if step.records == "reported" and incident.reported_at is None:
            incident.reported_at = now
    state.evidence = {**state.evidence, **evidence}
    state.comment = comment
    finish(incident, state, StepStatus.DONE, now, actor, detail=comment)
    incident.timeline[-1].evidence = dict(evidence)
    if incident.status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
        incident.status = IncidentStatus.IN_PROGRESS


def retry_step(incident: Incident, ctx: Context, step_id: str, *, actor: str, now: datetime) -> None:
    """A failed automated step runs again: a new attempt (new idempotency keys), intent recorded anew."""
    _open(incident)
    state = _state(incident, step_id)
    if state.status is not StepStatus.FAILED or state.kind == "manual":
        raise InvalidTransition(f"step {step_id!r} is {state.status.value}: only a failed automated step is retried")
    state.attempts += 1
    state.status, state.intent_at, state.detail = StepStatus.RUNNING, None, None
    step = ctx.playbook.step(step_id)
    if isinstance(step, NotifyStep):
        queue_notify(incident, ctx, step, state, now)
    log(incident, now, actor, "step_retried", step_id, f"attempt {state.attempts}")


def decide_containment(incident: Incident, ctx: Context, step_id: str, *, actor: str, role: str, approve: bool,
                       comment: str | None, now: datetime) -> None:  # fmt: skip
    _open(incident)
    state = _state(incident, step_id)
    step = ctx.playbook.step(step_id)
    if not isinstance(step, ContainStep) or state.status is not StepStatus.AWAITING_APPROVAL:
        raise InvalidTransition(f"step {step_id!r} is not a containment awaiting approval ({state.status.value})")
    if ROLE_RANK.get(role, -1) < ROLE_RANK[step.approval_role]:
        raise Forbidden(f"containment {step_id!r} needs approval by a {step.approval_role}")
    decision: Literal["approve", "reject"] = "approve" if approve else "reject"
    state.approvals.append(Approval(by=actor, role=role, decision=decision, at=now, comment=comment))
    if approve:
        state.status = StepStatus.RUNNING  # the engine records its intent when it runs the action
        log(incident, now, actor, "containment_approved", step_id, comment or "")
    else:
        finish(incident, state, StepStatus.REJECTED, now, actor, detail=comment or "rejected")


def acknowledge(incident: Incident, *, actor: str, now: datetime) -> None:
    """The on-duty person (or an officer for them) confirms they were reached: the 3-minute clock stops."""
    _open(incident)
    if incident.contacted_at is not None:
        raise InvalidTransition(f"incident {incident.id} was acknowledged at {incident.contacted_at.isoformat()}")
    incident.contacted_at, incident.contacted_by = now, actor
    if incident.contacts:
        incident.contacts[-1].acknowledged_at = now
    for state in incident.steps:
        if state.kind == "escalate" and state.status is StepStatus.WAITING:
            finish(incident, state, StepStatus.DONE, now, actor, detail="acknowledged")
    log(incident, now, actor, "acknowledged")
    incident.status = IncidentStatus.IN_PROGRESS if incident.steps else IncidentStatus.ACKNOWLEDGED


def escalate(incident: Incident, ctx: Context, *, actor: str, reason: str, now: datetime) -> None:
    """An officer escalates by hand: the next person of the chain is paged now."""
    _open(incident)
    for state in incident.steps:
        step = ctx.playbook.step(state.step_id)
        if isinstance(step, EscalateStep) and state.status is StepStatus.WAITING:
            level = incident.contacts[-1].level + 1 if incident.contacts else step.start_level
            log(incident, now, actor, "escalation_requested", state.step_id, reason)
            if not page(incident, ctx, step, level, now, actor):
                raise InvalidTransition("the escalation chain has nobody further")
            return
    raise InvalidTransition(f"incident {incident.id} has no unacknowledged duty page to escalate")


def reassign(incident: Incident, *, actor: str, assignee: str, now: datetime) -> None:
    _open(incident)
    previous = incident.assignee
    incident.assignee = assignee
    log(incident, now, actor, "reassigned", detail=f"{previous or '-'} → {assignee}")


def close(incident: Incident, *, actor: str, cause: str, impact: str, lessons: str, now: datetime) -> None:
    _open(incident)
    unfinished = [s.step_id for s in incident.steps if not s.status.finished]
    incident.review = Review(cause=cause, impact=impact, lessons=lessons, by=actor, at=now)
    incident.status, incident.closed_at = IncidentStatus.CLOSED, now
    for timer in incident.timers:
        if timer.pending:
            timer.cancelled_at = now
    detail = f"closed with unfinished steps: {', '.join(unfinished)}" if unfinished else "closed"
    log(incident, now, actor, "closed", detail=detail, evidence={"cause": cause, "impact": impact, "lessons": lessons})


def cancel(incident: Incident, *, actor: str, reason: str, now: datetime) -> None:
    _open(incident)
    incident.status, incident.closed_at = IncidentStatus.CANCELLED, now
    for timer in incident.timers:
        if timer.pending:
            timer.cancelled_at = now
    log(incident, now, actor, "cancelled", detail=reason)
