"""An incident in `vigil-incidents`: what happened, which playbook runs it, and every step of the response.

The document is the engine's whole durable state: step states, the timers it must fire (stored due times,
evaluated against an injected clock), the on-duty contact attempts and the timeline of every transition.
Writes use optimistic concurrency (`if_seq_no`/`if_primary_term`), so two writers never lose each other's
changes. The reports package reads `id`, `title`, `severity`, `status`, `opened_at`, `contacted_at`,
`reported_at`, `serious` and `deadlines` [{name, due, met_at}] from it (reports/incidents.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from core.models.alert import EntityRef, Severity

# Evidence values are what a person typed or an action returned: short scalars, kept as text.
Evidence = dict[str, str]


class IncidentModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class IncidentStatus(StrEnum):
    OPEN = "open"  # opened, nobody on duty has acknowledged it yet
    ACKNOWLEDGED = "acknowledged"  # the on-duty person was reached
    IN_PROGRESS = "in_progress"  # a playbook is running
    RESOLVED = "resolved"  # every step is done; the review is pending
    CLOSED = "closed"  # closed with review notes
    CANCELLED = "cancelled"  # false positive, duplicate, aborted drill

    @property
    def closed(self) -> bool:
        return self in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED, IncidentStatus.CANCELLED)


class StepStatus(StrEnum):
    PENDING = "pending"  # not reached yet
    READY = "ready"  # reached: a person must act (manual) or the engine runs it next
    RUNNING = "running"  # intent recorded, the automated action is under way (a restart retries idempotently)
    WAITING = "waiting"  # a wait step or an unacknowledged contact: a timer or an event moves it on
    AWAITING_APPROVAL = "awaiting_approval"  # a containment nobody with the role approved yet
    DONE = "done"
    SKIPPED = "skipped"  # its condition was false
    FAILED = "failed"  # the action ran and failed (the detail says why); a responder may retry
    REJECTED = "rejected"  # a containment that was rejected

    @property
    def finished(self) -> bool:
        return self in (StepStatus.DONE, StepStatus.SKIPPED, StepStatus.REJECTED)


class Approval(IncidentModel):
    by: str
    role: str
    decision: Literal["approve", "reject"]
    at: AwareDatetime
    comment: str | None = None


class Delivery(IncidentModel):
    """One notification sent by a step (mirrors playbooks.notify.Delivery plus the idempotency key)."""

    key: str
    channel: str
    ok: bool
    detail: str
    at: AwareDatetime
    recipients: list[str] = Field(default_factory=list)


class Attachment(IncidentModel):
    """A result attached by an enrich or report step: a saved query's hits, a rendered report."""

    name: str
    kind: Literal["query", "report", "action", "hold"]
    at: AwareDatetime
    summary: str
    count: int | None = None
    ref: str | None = Field(default=None, description="an id elsewhere: hold id, report id, index and query")
    rows: list[dict[str, str]] = Field(default_factory=list, description="a bounded sample, as text")


class StepState(IncidentModel):
    """The state of one playbook step in this incident (`step_id` is the playbook's step id)."""

    step_id: str
    kind: str
    title: str = ""
    group: str | None = Field(default=None, description="steps of one parallel group run side by side")
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    intent_at: AwareDatetime | None = Field(default=None, description="recorded before an automated action runs")
    started_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    completed_by: str | None = None
    due_at: AwareDatetime | None = None
    evidence: Evidence = Field(default_factory=dict)
    comment: str | None = None
    approvals: list[Approval] = Field(default_factory=list)
    deliveries: list[Delivery] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    detail: str | None = Field(default=None, description="why it failed, was skipped, or what it did")


class TimerKind(StrEnum):
    REMIND = "remind"  # a reminder before a deadline
    OVERDUE = "overdue"  # the deadline passed without the step done
    ESCALATE = "escalate"  # no acknowledgement: contact the next person on the chain
    WAKE = "wake"  # a wait step's time has come


class Timer(IncidentModel):
    """A stored due time; the engine fires every unfired timer whose `due` ≤ its clock's now."""

    id: str = Field(description="unique in the incident: step, kind and due time")
    kind: TimerKind
    due: AwareDatetime
    step_id: str | None = None
    deadline: str | None = Field(default=None, description="the deadline it belongs to")
    fired_at: AwareDatetime | None = Field(default=None, description="fired: its messages are in the outbox")
    cancelled_at: AwareDatetime | None = None

    @property
    def pending(self) -> bool:
        return self.fired_at is None and self.cancelled_at is None


class IncidentDeadline(IncidentModel):
    """A deadline, exactly the shape the reports read (`name` is the step id; its overdue alert is a timer)."""

    name: str
    due: AwareDatetime
    met_at: AwareDatetime | None = None


class ContactAttempt(IncidentModel):
    """One try to reach someone on the escalation chain (level 0 = on duty)."""

    person: str
    level: int
    at: AwareDatetime
    contacts: list[str] = Field(default_factory=list, description="channels and addresses tried")
    acknowledged_at: AwareDatetime | None = None


class Outgoing(IncidentModel):
    """A message the engine decided to send (transactional outbox): written in the same save as the transition
    that caused it, sent afterwards, `sent_at` filled after delivery. A restart sends what is still unsent, with
    the same `key` (the receivers' idempotency key), so nothing is skipped and nothing is decided twice."""

    key: str
    purpose: Literal["notify", "page", "remind", "overdue", "escalate"]
    step_id: str | None = None
    channel: str
    recipients: list[str] = Field(default_factory=list)
    subject: str
    text: str
    created_at: AwareDatetime
    sent_at: AwareDatetime | None = Field(default=None, description="delivered, or given up on (`ok` false)")
    ok: bool | None = None
    detail: str | None = None
    attempts: int = 0
    retry_at: AwareDatetime | None = Field(default=None, description="after a failed attempt: when to try again")

    def due(self, now: datetime) -> bool:
        return self.sent_at is None and (self.retry_at is None or self.retry_at <= now)


class TimelineEntry(IncidentModel):
    at: AwareDatetime
    actor: str = Field(description="a user name, or `engine` for automated transitions")
    action: str = Field(description="opened, alert_added, step_started, step_done, approved, escalated...")
    step_id: str | None = None
    detail: str = ""
    evidence: Evidence = Field(default_factory=dict)


class Review(IncidentModel):
    """The post-incident review (复盘): what caused it, what it cost, what changes."""

    cause: str = Field(min_length=1)
    impact: str = Field(min_length=1)
    lessons: str = Field(min_length=1)
    by: str
    at: AwareDatetime


class Incident(IncidentModel):
    """An incident document (`vigil-incidents`, `_id` = `id`)."""

    id: str
    title: str
    severity: Severity
    status: IncidentStatus = IncidentStatus.OPEN
    serious: bool = Field(default=False, description="reportable to the authorities within 24 hours")
    drill: bool = Field(default=False, description="演练: a synthetic incident; marked as a drill everywhere")
    playbook: str | None = None
    playbook_digest: str | None = Field(default=None, description="hash of the playbook file the steps came from")
    entity: EntityRef | None = None
    alert_ids: list[str] = Field(default_factory=list)
    rule_ids: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    first_seen: AwareDatetime | None = Field(default=None, description="earliest event time of its alerts")
    last_seen: AwareDatetime | None = None
    detected_at: AwareDatetime = Field(description="when the first alert was raised (or the incident reported)")
    opened_at: AwareDatetime
    opened_by: str
    assignee: str | None = None
    contacted_at: AwareDatetime | None = Field(default=None, description="the on-duty person acknowledged")
    contacted_by: str | None = None
    reported_at: AwareDatetime | None = Field(default=None, description="reported to the authorities")
    closed_at: AwareDatetime | None = None
    updated_at: AwareDatetime
    steps: list[StepState] = Field(default_factory=list)
    deadlines: list[IncidentDeadline] = Field(default_factory=list)
    timers: list[Timer] = Field(default_factory=list)
    contacts: list[ContactAttempt] = Field(default_factory=list)
    outbox: list[Outgoing] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    review: Review | None = None
    # Derived before each save (see `refresh_work`), indexed so the engine finds what needs it without a scan.
    wake_at: AwareDatetime | None = Field(default=None, description="the next pending timer's due time")
    work: bool = Field(default=False, description="a running step or an unsent message waits for the engine")

    @field_validator("detected_at", "opened_at", "updated_at", "first_seen", "last_seen")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return value.astimezone(UTC) if value else value

    def step(self, step_id: str) -> StepState:
        for state in self.steps:
            if state.step_id == step_id:
                return state
        raise KeyError(step_id)

    def refresh_work(self) -> None:
        retries = [o.retry_at for o in self.outbox if o.sent_at is None and o.retry_at is not None]
        self.wake_at = min([t.due for t in self.timers if t.pending] + retries, default=None)
        running = any(s.status is StepStatus.RUNNING and s.kind != "notify" for s in self.steps)
        self.work = running or any(o.sent_at is None and o.retry_at is None for o in self.outbox)

    def to_document(self) -> dict[str, object]:
        self.refresh_work()
        return self.model_dump(mode="json", by_alias=True)


def incident_id(*parts: str) -> str:
    """Deterministic id from what opened it (playbook, entity, first alert): a redelivered alert finds its
    incident instead of opening a second one."""
    return "inc-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]
