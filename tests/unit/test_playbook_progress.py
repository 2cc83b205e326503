"""The playbook state machine with a fake clock: duty escalation, 24-hour report reminders, steps, groups."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models.alert import Severity
from core.models.incident import IncidentStatus, StepStatus
from playbooks import transitions
from playbooks.errors import Forbidden, InvalidTransition, MissingEvidence
from playbooks.progress import advance, finish
from tests.unit.playbook_kit import T0, FakeClock, alert, bundled, context


def _incident(severity: Severity = Severity.CRITICAL, clock: FakeClock | None = None):  # type: ignore[no-untyped-def]
    loaded = bundled("brute-force")
    clock = clock or FakeClock()
    incident = transitions.open_from_alert(alert(severity=severity, at=clock.now), loaded, clock.now)
    ctx = context(loaded)
    advance(incident, ctx, clock.now)
    return incident, ctx, clock


def _pages(incident):  # type: ignore[no-untyped-def]
    return [(o.recipients[0], o.channel, o.created_at) for o in incident.outbox if o.purpose in ("page", "escalate")]


def test_first_response_group_starts_together_and_pages_the_on_duty_person() -> None:
    incident, _, clock = _incident()
    states = {s.step_id: s.status for s in incident.steps}
    assert states["page-on-duty"] is StepStatus.WAITING
    assert states["notify-team"] is StepStatus.RUNNING and states["gather-context"] is StepStatus.RUNNING
    assert states["triage"] is StepStatus.PENDING  # waits for the whole group
    assert _pages(incident) == [("alice", "email", clock.now), ("alice", "webhook", clock.now)]
    notify = [o for o in incident.outbox if o.purpose == "notify"]
    assert {o.channel for o in notify} == {"email", "webhook"} and notify[0].recipients == ["alice"]
    assert "user:alice" in notify[0].text and incident.serious  # critical ≥ the playbook's serious_at


def test_unacknowledged_page_escalates_after_three_minutes_to_the_next_person() -> None:
    incident, ctx, clock = _incident()
    clock.advance(minutes=2, seconds=59)
    assert not advance(incident, ctx, clock.now) or len(_pages(incident)) == 2
    assert [p[0] for p in _pages(incident)] == ["alice", "alice"]
    clock.advance(seconds=1)  # exactly 3 minutes
    advance(incident, ctx, clock.now)
    assert [p[0] for p in _pages(incident)] == ["alice", "alice", "bob", "bob"]
    assert _pages(incident)[-1][2] == T0 + timedelta(minutes=3)
    clock.advance(minutes=3)
    advance(incident, ctx, clock.now)
    assert [p[0] for p in _pages(incident)][-2:] == ["carol", "carol"]  # past the shift: the escalation list
    clock.advance(minutes=3)
    advance(incident, ctx, clock.now)
    assert len(_pages(incident)) == 6 and incident.timeline[-1].action == "chain_exhausted"
    contact = next(d for d in incident.deadlines if d.name == "page-on-duty")
    assert contact.due == T0 + timedelta(minutes=3) and contact.met_at is None


def test_acknowledgement_stops_escalation_and_records_the_contact_time() -> None:
    incident, ctx, clock = _incident()
    clock.advance(minutes=1)
    transitions.acknowledge(incident, actor="alice", now=clock.now)
    clock.advance(minutes=10)
    advance(incident, ctx, clock.now)
    assert [p[0] for p in _pages(incident)] == ["alice", "alice"]
    assert incident.contacted_at == T0 + timedelta(minutes=1) and incident.status is IncidentStatus.IN_PROGRESS
    assert next(d for d in incident.deadlines if d.name == "page-on-duty").met_at == incident.contacted_at
    with pytest.raises(InvalidTransition):
        transitions.acknowledge(incident, actor="bob", now=clock.now)


def _run_automated(incident, ctx, clock):  # type: ignore[no-untyped-def]
    """What the executor does: every running automated step completes."""
    while running := [s for s in incident.steps if s.status is StepStatus.RUNNING]:
        for state in running:
            finish(incident, state, StepStatus.DONE, clock.now, "engine")
        advance(incident, ctx, clock.now)


def _to_authority_step(incident, ctx, clock):  # type: ignore[no-untyped-def]
    transitions.acknowledge(incident, actor="alice", now=clock.now)
    _run_automated(incident, ctx, clock)
    transitions.complete_step(incident, ctx, "triage", actor="alice", now=clock.now, comment=None,
                              evidence={"scope": "alice", "assessment": "true positive"})  # fmt: skip
    advance(incident, ctx, clock.now)
    _run_automated(incident, ctx, clock)
    contain = incident.step("contain")
    assert contain.status is StepStatus.AWAITING_APPROVAL
    with pytest.raises(Forbidden):
        transitions.decide_containment(incident, ctx, "contain", actor="alice", role="responder", approve=True,
                                       comment=None, now=clock.now)  # fmt: skip
    transitions.decide_containment(incident, ctx, "contain", actor="carol", role="officer", approve=False,
                                   comment="account already locked", now=clock.now)  # fmt: skip
    advance(incident, ctx, clock.now)
    assert incident.step("contain").status is StepStatus.REJECTED


def test_authority_report_reminds_at_t_minus_6_h_and_1_h_then_alerts_when_overdue() -> None:
    incident, ctx, clock = _incident()
    detected = incident.detected_at
    _to_authority_step(incident, ctx, clock)
    assert incident.step("report-to-authority").status is StepStatus.READY
    due = next(d.due for d in incident.deadlines if d.name == "report-to-authority")
    assert due == detected + timedelta(hours=24)

    def sent(purpose: str) -> list[str]:
        return sorted({o.created_at.isoformat() for o in incident.outbox if o.purpose == purpose})

    clock.now = due - timedelta(hours=6, seconds=1)
    advance(incident, ctx, clock.now)
    assert sent("remind") == []
    clock.now = due - timedelta(hours=6)
    advance(incident, ctx, clock.now)
    assert sent("remind") == [(due - timedelta(hours=6)).isoformat()]
    clock.now = due - timedelta(hours=1)
    advance(incident, ctx, clock.now)
    assert sent("remind") == [(due - timedelta(hours=6)).isoformat(), (due - timedelta(hours=1)).isoformat()]
    clock.now = due - timedelta(seconds=1)
    advance(incident, ctx, clock.now)
    assert sent("overdue") == []
    clock.now = due
    advance(incident, ctx, clock.now)
    assert sent("overdue") == [due.isoformat()]
    assert {o.channel for o in incident.outbox if o.purpose == "overdue"} == {"email", "webhook", "vigil.alerts"}
    advance(incident, ctx, clock.advance(hours=5))
    assert len([o for o in incident.outbox if o.purpose == "overdue"]) == 3  # fired once


def test_reporting_in_time_meets_the_deadline_and_cancels_reminders() -> None:
    incident, ctx, clock = _incident()
    _to_authority_step(incident, ctx, clock)
    with pytest.raises(MissingEvidence, match="reference"):
        transitions.complete_step(incident, ctx, "report-to-authority", actor="alice", evidence={"recipient": "x"},
                                  comment=None, now=clock.now)  # fmt: skip
    clock.advance(hours=2)
    transitions.complete_step(incident, ctx, "report-to-authority", actor="alice", comment="sent",
                              evidence={"reference": "2026-031", "recipient": "网安大队"}, now=clock.now)  # fmt: skip
    assert incident.reported_at == clock.now
    clock.advance(hours=30)
    advance(incident, ctx, clock.now)
    assert not [o for o in incident.outbox if o.purpose in ("remind", "overdue")]


def test_conditions_skip_containment_and_the_authority_report_for_a_medium_incident() -> None:
    incident, ctx, clock = _incident(Severity.MEDIUM)
    assert not incident.serious
    transitions.acknowledge(incident, actor="alice", now=clock.now)
    _run_automated(incident, ctx, clock)
    transitions.complete_step(incident, ctx, "triage", actor="alice", now=clock.now, comment=None,
                              evidence={"scope": "alice", "assessment": "false positive"})  # fmt: skip
    advance(incident, ctx, clock.now)
    skipped = {s.step_id for s in incident.steps if s.status is StepStatus.SKIPPED}
    assert skipped == {"contain", "authority-report", "report-to-authority"}
    assert incident.step("preserve-evidence").status is StepStatus.RUNNING
    assert not [d for d in incident.deadlines if d.name == "report-to-authority"]
