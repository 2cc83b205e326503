"""Request and response bodies of `/incidents`, `/playbooks` and `/duty`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, Field

from api.models.common import PublicModel
from core.models.alert import Alert, EntityRef, Severity
from core.models.incident import (
    Attachment,
    ContactAttempt,
    Incident,
    IncidentDeadline,
    IncidentStatus,
    Outgoing,
    Review,
    StepState,
    TimelineEntry,
)


class IncidentBase(PublicModel):
    """What a list row and the whole incident both show."""

    id: str
    title: str
    severity: Severity
    status: IncidentStatus
    serious: bool
    drill: bool
    playbook: str | None
    entity: EntityRef | None
    assignee: str | None
    detected_at: AwareDatetime
    opened_at: AwareDatetime
    contacted_at: AwareDatetime | None
    reported_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    deadlines: list[IncidentDeadline]


class IncidentSummary(IncidentBase):
    alert_count: int
    version: str

    @classmethod
    def of(cls, incident: Incident, version: str) -> IncidentSummary:
        return cls.model_validate({**incident.model_dump(), "alert_count": len(incident.alert_ids), "version": version})


class IncidentsPublic(PublicModel):
    data: list[IncidentSummary]
    count: int


class IncidentPublic(IncidentBase):
    """One incident whole: steps, deadlines, contacts, timeline, messages, and its alerts."""

    alert_ids: list[str]
    rule_ids: list[str]
    tags: list[str]
    first_seen: AwareDatetime | None
    last_seen: AwareDatetime | None
    opened_by: str
    contacted_by: str | None
    updated_at: AwareDatetime
    steps: list[StepState]
    contacts: list[ContactAttempt]
    outbox: list[Outgoing]
    timeline: list[TimelineEntry]
    review: Review | None
    alerts: list[Alert] = Field(default_factory=list)
    version: str = Field(description="the ETag: send it back as If-Match to change exactly what you read")


class TimelinePublic(PublicModel):
    data: list[TimelineEntry]
    count: int


class StepEvidence(PublicModel):
    step_id: str
    title: str
    status: str
    completed_by: str | None
    completed_at: AwareDatetime | None
    evidence: dict[str, str]
    comment: str | None
    attachments: list[Attachment]


class EvidencePublic(PublicModel):
    incident_id: str
    drill: bool
    steps: list[StepEvidence]
    holds: list[str] = Field(description="ids of the legal holds the incident placed (GET /holds/{id})")


class IncidentCreate(PublicModel):
    title: str = Field(min_length=1, max_length=500)
    severity: Severity
    entity: str | None = Field(default=None, description="`user:alice`, `host:ws01`...")
    playbook: str | None = Field(default=None, description="start this playbook at once")
    serious: bool = False
    detected_at: AwareDatetime | None = Field(default=None, description="when it was noticed; default now")
    alert_ids: list[str] = Field(default_factory=list, max_length=100,
                                 description="alerts to group into it (each must exist, else 422)")  # fmt: skip


class DrillCreate(PublicModel):
    playbook: str


class PlaybookStart(PublicModel):
    playbook: str


class StepCompletion(PublicModel):
    evidence: dict[str, str] = Field(default_factory=dict)
    comment: str | None = Field(default=None, max_length=10_000)


class ContainmentDecision(PublicModel):
    decision: Literal["approve", "reject"]
    comment: str | None = Field(default=None, max_length=10_000)


class Escalation(PublicModel):
    reason: str = Field(min_length=1, max_length=2000)


class Reassignment(PublicModel):
    assignee: str = Field(min_length=1, max_length=200)


class Closure(PublicModel):
    cause: str = Field(min_length=1)
    impact: str = Field(min_length=1)
    lessons: str = Field(min_length=1)


class Cancellation(PublicModel):
    reason: str = Field(min_length=1, max_length=2000)


class PlaybookSummary(PublicModel):
    id: str
    version: str
    title: dict[str, str]
    trigger: dict[str, Any]
    steps: int
    digest: str


class PlaybookProblem(PublicModel):
    file: str
    line: int
    field: str
    message: str


class PlaybooksPublic(PublicModel):
    data: list[PlaybookSummary]
    count: int
    problems: list[PlaybookProblem]


class PlaybookText(PublicModel):
    yaml: str = Field(min_length=1, max_length=1_000_000)
    name: str = Field(default="playbook.yml", max_length=200)


class ValidationPublic(PublicModel):
    valid: bool
    id: str | None
    problems: list[PlaybookProblem]


class DutyPerson(PublicModel):
    key: str
    name: str
    role: str
    email: str | None
    phone: str | None


class RosterPublic(PublicModel):
    version: str = Field(description="of the roster file (also the `ETag`): send it as `If-Match` with a change")
    at: AwareDatetime
    on_duty: list[str]
    chain: list[str]
    people: list[DutyPerson]
    shifts: list[dict[str, Any]]
    escalation: list[str]
    calendar: dict[str, Any]
