"""The playbook YAML, as pydantic models: what triggers it, and its ordered steps.

A step is one of eight kinds (`kind:` picks the model). Steps run in file order; consecutive steps
sharing a `group` run side by side and the next step waits for all of them. `when` skips a step whose
condition is false for the incident; `deadline` adds reminders before and an overdue action after a due
time, counted from the incident's detection, its opening, or the step's own start.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from core.models.alert import EntityKind, Severity

SLUG = r"^[a-z0-9][a-z0-9-]{0,63}$"
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: object) -> timedelta:
    """`90s`, `3m`, `24h`, `1d`, `1h30m`; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return timedelta(seconds=value)
    text = str(value).strip().lower()
    match = _DURATION.match(text)
    if not text or match is None or not any(match.groups()):
        raise ValueError(f"{value!r} is not a duration like 90s, 3m, 24h, 1d or 1h30m")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


class PlaybookModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Title(PlaybookModel):
    en: str = Field(min_length=1)
    zh: str = Field(alias="zh-CN", min_length=1)

    def get(self, lang: str) -> str:
        return self.zh if lang.lower().startswith("zh") else self.en


class Trigger(PlaybookModel):
    """An alert triggers the playbook when any of `rules`, `hints` or `tags` matches it, its severity is at
    least `min_severity` and its entity kind is one of `entity_kinds` (when given)."""

    rules: list[str] = Field(default_factory=list, description="detector/rule ids, exact")
    hints: list[str] = Field(default_factory=list, description="the alert's suggested `playbook` field")
    tags: list[str] = Field(default_factory=list, description="ATT&CK tags; a technique covers its sub-techniques")
    min_severity: Severity = Severity.INFORMATIONAL
    entity_kinds: list[EntityKind] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.lower() for v in value]


class Condition(PlaybookModel):
    """Every given field must hold; an empty condition always holds."""

    min_severity: Severity | None = None
    serious: bool | None = None
    drill: bool | None = None
    entity_kinds: list[EntityKind] = Field(default_factory=list)
    acknowledged: bool | None = Field(default=None, description="the on-duty person has acknowledged")
    steps_done: list[str] = Field(default_factory=list)


class Deadline(PlaybookModel):
    within: Duration
    start: Literal["detected", "opened", "step"] = Field("step", alias="from")
    remind: list[Duration] = Field(default_factory=list, description="reminders this long before the due time")
    notify: list[str] = Field(default_factory=list, description="channels for reminders and the overdue alert")
    overdue: Literal["alert", "escalate"] = "alert"


class StepBase(PlaybookModel):
    id: str = Field(pattern=SLUG)
    title: Title
    group: str | None = Field(default=None, pattern=SLUG)
    when: Condition | None = None
    deadline: Deadline | None = None


class EvidenceField(PlaybookModel):
    name: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    label: Title
    required: bool = True


class ManualStep(StepBase):
    kind: Literal["manual"]
    evidence: list[EvidenceField] = Field(default_factory=list)
    records: Literal["reported"] | None = Field(default=None, description="completing it records the authority report")


class NotifyStep(StepBase):
    kind: Literal["notify"]
    channels: list[str] = Field(min_length=1, description="channel names from the notify configuration")
    to: list[str] = Field(default_factory=list, description="addresses, or `on_duty` for the duty chain's first")
    subject: Title
    text: Title


class EnrichQuery(PlaybookModel):
    name: str = Field(pattern=r"^[a-z0-9_-]{1,64}$")
    index: str = "logs-*"
    query: str = Field(min_length=1, description="Lucene query_string, ANDed with the entity and the window")
    before: Duration = timedelta(hours=1)
    after: Duration = timedelta(hours=1)
    size: int = Field(20, ge=1, le=500)


class EnrichStep(StepBase):
    kind: Literal["enrich"]
    queries: list[EnrichQuery] = Field(min_length=1)


class ContainStep(StepBase):
    kind: Literal["contain"]
    action: str = Field(min_length=1, description="an action name from the notify configuration's channels")
    approval_role: Literal["officer", "admin"] = "officer"
    description: Title


class PreserveStep(StepBase):
    kind: Literal["preserve"]
    before: Duration = timedelta(days=1)
    after: Duration | None = Field(default=None, description="None: the hold stays open-ended")
    category: Literal["network", "system", "user", "deadletter"] | None = None


class ReportStep(StepBase):
    kind: Literal["report"]
    report: Literal["incident", "authority"] = "incident"
    langs: list[Literal["zh-CN", "en"]] = Field(default_factory=lambda: ["zh-CN"])  # type: ignore[arg-type]


class EscalateStep(StepBase):
    """Page the duty chain: the first person now, the next when nobody acknowledges within `ack_within`."""

    kind: Literal["escalate"]
    channels: list[str] = Field(min_length=1)
    ack_within: Duration = timedelta(minutes=3)
    start_level: int = Field(0, ge=0, description="1 starts above the on-duty person (e.g. the officer)")


class WaitStep(StepBase):
    kind: Literal["wait"]
    duration: Duration | None = None
    until: Condition | None = None

    @model_validator(mode="after")
    def _something(self) -> WaitStep:
        if self.duration is None and self.until is None:
            raise ValueError("a wait step needs a duration, an until condition, or both")
        return self


Step = Annotated[
    ManualStep | NotifyStep | EnrichStep | ContainStep | PreserveStep | ReportStep | EscalateStep | WaitStep,
    Field(discriminator="kind"),
]
STEP_KINDS = ("manual", "notify", "enrich", "contain", "preserve", "report", "escalate", "wait")


class Playbook(PlaybookModel):
    id: str = Field(pattern=SLUG)
    version: str = "1"
    title: Title
    description: Title | None = None
    trigger: Trigger
    serious_at: Severity | None = Field(default=None, description="incidents at or above it are serious (24-h report)")
    group_window: Duration = Field(timedelta(hours=1), description="alerts on one entity this close join one incident")
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> Playbook:
        ids = [s.id for s in self.steps]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"step ids must be unique: {', '.join(duplicates)} repeat")
        known = set(ids)
        for step in self.steps:
            for cond in (step.when, getattr(step, "until", None)):
                missing = [s for s in (cond.steps_done if cond else []) if s not in known]
                if missing:
                    raise ValueError(f"step {step.id!r} waits for unknown steps: {', '.join(missing)}")
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
