"""The playbook state machine: pure functions from (incident, playbook, roster, now) to the next incident.

`advance` moves an incident as far as it can go without a person: it fires due timers, finishes waits
whose condition holds, skips steps whose `when` is false and starts the next steps (a parallel group at
once). Automated steps are started as `running` with their intent recorded; messages go to the incident's
outbox. Nothing here does I/O or reads a clock: the engine saves the result, then runs the recorded
actions and sends the outbox (playbooks/engine.py), so a restart redoes exactly what was not yet done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.models.alert import Severity
from core.models.incident import (
    ContactAttempt,
    Incident,
    IncidentDeadline,
    IncidentStatus,
    Outgoing,
    StepState,
    StepStatus,
    TimelineEntry,
    Timer,
    TimerKind,
)
from playbooks import messages
from playbooks.roster import Roster
from playbooks.schema import Condition, EscalateStep, NotifyStep, Playbook, Step, WaitStep

ENGINE = "engine"
ALERTS_CHANNEL = "vigil.alerts"  # an outbox entry on this channel becomes an alert (overdue deadlines)
AUTOMATED = ("notify", "enrich", "preserve", "report")


@dataclass(frozen=True)
class Context:
    playbook: Playbook
    roster: Roster
    link: str | None = None


def log(incident: Incident, now: datetime, actor: str, action: str, step_id: str | None = None, detail: str = "",
        evidence: dict[str, str] | None = None) -> None:  # fmt: skip
    incident.timeline.append(
        TimelineEntry(at=now, actor=actor, action=action, step_id=step_id, detail=detail, evidence=evidence or {})
    )
    incident.updated_at = now


def holds(condition: Condition | None, incident: Incident) -> bool:
    if condition is None:
        return True
    if condition.min_severity is not None and incident.severity.rank < condition.min_severity.rank:
        return False
    if condition.serious is not None and incident.serious != condition.serious:
        return False
    if condition.drill is not None and incident.drill != condition.drill:
        return False
    if condition.entity_kinds and (incident.entity is None or incident.entity.kind not in condition.entity_kinds):
        return False
    if condition.acknowledged is not None and (incident.contacted_at is not None) != condition.acknowledged:
        return False
    return all(incident.step(s).status.finished for s in condition.steps_done)


def frontier(incident: Incident) -> list[StepState]:
    """The first unfinished step, with the rest of its parallel group."""
    for i, state in enumerate(incident.steps):
        if state.status.finished:
            continue
        if state.group is None:
            return [state]
        group = []
        for other in incident.steps[i:]:
            if other.group != state.group:
                break
            group.append(other)
        return [s for s in group if not s.status.finished]
    return []


def advance(incident: Incident, ctx: Context, now: datetime) -> bool:
    """Every transition that needs nobody, until none is left; True when anything changed."""
    if incident.status in (IncidentStatus.CLOSED, IncidentStatus.CANCELLED) or not incident.steps:
        return False
    before = incident.model_dump_json()
    arm_deadlines(incident, ctx, now)
    for _ in range(len(incident.steps) * 4 + 8):  # bounded: a pass that changes nothing ends it
        mark = incident.model_dump_json()
        fire_timers(incident, ctx, now)
        finish_waits(incident, ctx, now)
        for state in frontier(incident):
            if state.status is StepStatus.PENDING:
                start(incident, ctx, state, now)
        if incident.model_dump_json() == mark:
            break
    if all(s.status.finished for s in incident.steps) and not incident.status.closed:
        incident.status = IncidentStatus.RESOLVED
        log(incident, now, ENGINE, "playbook_finished", detail=f"all {len(incident.steps)} steps finished")
    return incident.model_dump_json() != before


def start(incident: Incident, ctx: Context, state: StepState, now: datetime) -> None:
    """Start (or skip) a pending step."""
    step = ctx.playbook.step(state.step_id)
    if not holds(step.when, incident):
        finish(incident, state, StepStatus.SKIPPED, now, ENGINE, detail="condition not met")
        return
    state.started_at = now
    state.attempts += 1
    if step.kind in AUTOMATED:
        state.status = StepStatus.RUNNING  # the engine records its intent just before the action runs
        if isinstance(step, NotifyStep):
            queue_notify(incident, ctx, step, state, now)
    elif step.kind == "contain":
        state.status = StepStatus.AWAITING_APPROVAL
    elif isinstance(step, EscalateStep):
        state.status = StepStatus.WAITING
        _set_deadline(incident, state.step_id, now + step.ack_within)
        page(incident, ctx, step, step.start_level, now)
    elif isinstance(step, WaitStep):
        state.status = StepStatus.WAITING
        if step.duration is not None:
            _add_timer(incident, TimerKind.WAKE, now + step.duration, state.step_id)
    else:
        state.status = StepStatus.READY
    if step.deadline is not None and step.deadline.start == "step":
        _arm(incident, step, now + step.deadline.within, now)
    log(incident, now, ENGINE, "step_started", state.step_id, f"{step.kind}: {step.title.en}")


def arm_deadlines(incident: Incident, ctx: Context, now: datetime) -> None:
    """Deadlines counted from detection or opening run from then, whichever step the playbook is at: the
    24-hour report reminders fire even while containment is still going on."""
    armed = {d.name for d in incident.deadlines}
    for state in incident.steps:
        step = ctx.playbook.step(state.step_id)
        deadline = step.deadline
        if deadline is None or deadline.start == "step" or state.step_id in armed or state.status.finished:
            continue
        if holds(step.when, incident):
            base = incident.detected_at if deadline.start == "detected" else incident.opened_at
            _arm(incident, step, base + deadline.within, now)


def _arm(incident: Incident, step: Step, due: datetime, now: datetime) -> None:
    assert step.deadline is not None
    _set_deadline(incident, step.id, due)
    for before in step.deadline.remind:
        if due - before > now:  # a reminder whose time already passed would only be noise
            _add_timer(incident, TimerKind.REMIND, due - before, step.id, deadline=step.id)
    _add_timer(incident, TimerKind.OVERDUE, due, step.id, deadline=step.id)


def finish(incident: Incident, state: StepState, status: StepStatus, now: datetime, actor: str, *,
           detail: str | None = None) -> None:  # fmt: skip
    state.status, state.completed_at, state.completed_by = status, now, actor
    if detail:
        state.detail = detail
    if status is StepStatus.SKIPPED:  # not due at all rather than met
        incident.deadlines = [d for d in incident.deadlines if d.name != state.step_id]
    for deadline in incident.deadlines:
        if deadline.name == state.step_id and deadline.met_at is None:
            deadline.met_at = now
    for timer in incident.timers:
        if timer.step_id == state.step_id and timer.pending:
            timer.cancelled_at = now
    log(incident, now, actor, f"step_{status.value}", state.step_id, detail or "")


def fire_timers(incident: Incident, ctx: Context, now: datetime) -> None:
    for timer in sorted((t for t in incident.timers if t.pending and t.due <= now), key=lambda t: t.due):
        timer.fired_at = now
        state = incident.step(timer.step_id) if timer.step_id else None
        if state is None or state.status.finished:
            continue
        step = ctx.playbook.step(state.step_id)
        if timer.kind is TimerKind.ESCALATE and isinstance(step, EscalateStep):
            if state.status is StepStatus.WAITING:
                page(incident, ctx, step, incident.contacts[-1].level + 1 if incident.contacts else 0, now)
        elif timer.kind in (TimerKind.REMIND, TimerKind.OVERDUE):
            _deadline_message(incident, ctx, step, timer, now)


def finish_waits(incident: Incident, ctx: Context, now: datetime) -> None:
    for state in incident.steps:
        if state.status is not StepStatus.WAITING or state.kind != "wait":
            continue
        step = ctx.playbook.step(state.step_id)
        assert isinstance(step, WaitStep)
        woke = step.duration is None or any(
            t.kind is TimerKind.WAKE and t.step_id == state.step_id and t.fired_at for t in incident.timers
        )
        if woke and holds(step.until, incident):
            finish(incident, state, StepStatus.DONE, now, ENGINE, detail="wait over")


def page(incident: Incident, ctx: Context, step: EscalateStep, level: int, now: datetime, actor: str = ENGINE) -> bool:
    """Page the person at `level` of the chain (as it stood when the step started); False past its end."""
    state = incident.step(step.id)
    chain = ctx.roster.chain(state.started_at or now)
    if level >= len(chain):
        log(incident, now, actor, "chain_exhausted", step.id, f"nobody above level {level - 1} to escalate to")
        return False
    person = chain[level]
    subject, text = messages.page_text(incident, level, ctx.link)
    for channel in step.channels:
        _queue(incident, f"{incident.id}:{step.id}:page{level}:{channel}", "page" if level == 0 else "escalate",
               step.id, channel, [person], subject, text, now)  # fmt: skip
    incident.contacts.append(ContactAttempt(person=person, level=level, at=now, contacts=list(step.channels)))
    for timer in incident.timers:
        if timer.step_id == step.id and timer.kind is TimerKind.ESCALATE and timer.pending:
            timer.cancelled_at = now
    _add_timer(incident, TimerKind.ESCALATE, now + step.ack_within, step.id)
    action = "paged" if level == 0 else "escalated"
    log(incident, now, actor, action, step.id, f"level {level}: {person} ({ctx.roster.person(person).name})")
    return True


def queue_notify(incident: Incident, ctx: Context, step: NotifyStep, state: StepState, now: datetime) -> None:
    chain = ctx.roster.chain(now)
    to = [(chain[0] if chain else "") if r == "on_duty" else r for r in step.to]
    to = [r for r in to if r]
    subject = messages.fill(step.subject.get("zh-CN"), incident, ctx.link)
    text = messages.fill(step.text.get("zh-CN") + "\n\n" + step.text.get("en"), incident, ctx.link)
    for channel in step.channels:
        key = f"{incident.id}:{step.id}:{state.attempts}:{channel}"
        _queue(incident, key, "notify", step.id, channel, to, subject, text, now)


def _deadline_message(incident: Incident, ctx: Context, step: Step, timer: Timer, now: datetime) -> None:
    assert step.deadline is not None
    kind = "overdue" if timer.kind is TimerKind.OVERDUE else "remind"
    due = next(d.due for d in incident.deadlines if d.name == step.id)
    subject, text = messages.deadline_text(incident, step.title.get("zh-CN"), due, kind, ctx.link)
    chain = ctx.roster.chain(now)
    recipients = chain[:1] + ([incident.assignee] if incident.assignee else [])
    if kind == "overdue" and step.deadline.overdue == "escalate":
        recipients = [p for p in ctx.roster.escalation] or chain[:1]
    for channel in step.deadline.notify:
        _queue(incident, f"{incident.id}:{timer.id}:{channel}", kind, step.id, channel, recipients, subject, text, now)
    if kind == "overdue":
        _queue(incident, f"{incident.id}:{timer.id}:alert", "overdue", step.id, ALERTS_CHANNEL, [], subject, text, now)
    log(incident, now, ENGINE, "overdue" if kind == "overdue" else "reminded", step.id, f"due {due.isoformat()}")


def _queue(incident: Incident, key: str, purpose: str, step_id: str | None, channel: str, recipients: list[str],
           subject: str, text: str, now: datetime) -> None:  # fmt: skip
    if any(o.key == key for o in incident.outbox):
        return
    incident.outbox.append(
        Outgoing.model_validate({"key": key, "purpose": purpose, "step_id": step_id, "channel": channel,
                                 "recipients": recipients, "subject": subject, "text": text, "created_at": now})
    )  # fmt: skip


def _set_deadline(incident: Incident, name: str, due: datetime) -> None:
    incident.step(name).due_at = due
    for deadline in incident.deadlines:
        if deadline.name == name:
            deadline.due, deadline.met_at = due, None
            return
    incident.deadlines.append(IncidentDeadline(name=name, due=due))


def _add_timer(incident: Incident, kind: TimerKind, due: datetime, step_id: str, deadline: str | None = None) -> None:
    timer_id = f"{step_id}:{kind.value}:{due.isoformat()}"
    if not any(t.id == timer_id for t in incident.timers):
        incident.timers.append(Timer(id=timer_id, kind=kind, due=due, step_id=step_id, deadline=deadline))


def next_due(incident: Incident) -> datetime | None:
    """When the engine must look at this incident again without being asked."""
    return min((t.due for t in incident.timers if t.pending), default=None)


def is_serious(playbook: Playbook, severity: Severity) -> bool:
    return playbook.serious_at is not None and severity.rank >= playbook.serious_at.rank


def step_states(playbook: Playbook) -> list[StepState]:
    return [StepState(step_id=s.id, kind=s.kind, title=s.title.en, group=s.group) for s in playbook.steps]
