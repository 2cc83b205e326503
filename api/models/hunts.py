"""`/hunts`: which rules are hunted and how, and hunt jobs (one rule over a past range, run in the background)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.audit import Actor
from api.models.common import PublicModel
from detectors.hunt.convert import EvaluatedBy

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


class HuntRulePublic(PublicModel):
    rule_id: str
    title: str
    evaluation: EvaluatedBy | None = Field(description="lucene, engine, or null: not hunted")
    kind: str | None = Field(None, description="engine: why the Lucene backend refused it; null: why it is not hunted")
    reason: str | None = None


class HuntRulesPublic(PublicModel):
    lucene: int = Field(description="rules run as Elasticsearch (Lucene) queries")
    engine: int = Field(description="rules read over their log source and decided by the stream's engine")
    engine_by_reason: dict[str, int]
    not_hunted: int = Field(description="rules the stream cannot run either (log source, placeholder)")
    not_hunted_by_reason: dict[str, int]
    data: list[HuntRulePublic] = Field(description="the engine and the not-hunted rules, with reasons")


class HuntRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    rule_id: str = Field(min_length=1, max_length=200)
    from_: AwareDatetime = Field(alias="from", description="event time, inclusive (ISO 8601 with offset)")
    to: AwareDatetime = Field(description="event time, exclusive")
    dry_run: bool = Field(False, description="return the alerts without sending them to vigil.alerts")

    @model_validator(mode="after")
    def _ordered(self) -> HuntRequest:
        if self.to <= self.from_:
            raise ValueError("`to` must be after `from`")
        return self


class HuntJobProgress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scanned: int = Field(default=0, description="events read so far (engine hunts: the rule's log source)")
    total: int | None = Field(default=None, description="events the hunt will read, counted when it started")


class HuntJobBase(BaseModel):
    """A hunt job as stored in `vigil-hunt-jobs` (`_id` = id) and as the API shows it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    rule_id: str
    evaluation: EvaluatedBy
    from_: AwareDatetime = Field(alias="from", description="event time, inclusive")
    to: AwareDatetime = Field(description="event time, exclusive")
    dry_run: bool
    status: JobStatus = "queued"
    progress: HuntJobProgress = Field(default_factory=HuntJobProgress)
    hits: int = Field(0, description="events the rule matched (so far, while running)")
    rule_errors: int = 0
    alerts: list[str] = Field(
        default_factory=list,
        description="ids of the alerts raised or updated (succeeded jobs; the stream's ids for the same events), "
        "sent to vigil.alerts unless dry_run",
    )
    error: str | None = None
    cancel_requested: bool = False
    requested_by: Actor = Field(description="the token or console user that submitted it")
    created_at: AwareDatetime
    started_at: AwareDatetime | None = None
    finished_at: AwareDatetime | None = None
    heartbeat_at: AwareDatetime = Field(description="last sign of life of the process running it")


class HuntJob(HuntJobBase):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def document(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


class HuntJobPublic(HuntJobBase, PublicModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class HuntJobsPublic(PublicModel):
    data: list[HuntJobPublic]
    count: int = Field(description="jobs matching the filter (data holds the newest `size`)")
