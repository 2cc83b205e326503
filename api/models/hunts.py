"""`/hunts`: which rules are hunted and how, and one rule hunted over a past range."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from api.models.common import PublicModel
from detectors.hunt.convert import EvaluatedBy


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


class HuntRunPublic(PublicModel):
    rule_id: str
    evaluation: EvaluatedBy
    start: AwareDatetime
    end: AwareDatetime
    scanned: int = Field(description="events read (engine hunts: the rule's whole log source in the range)")
    events: int = Field(description="events the rule matched")
    rule_errors: int
    alerts: list[str] = Field(description="ids of the alerts raised or updated (the stream's ids for the same events)")
    dry_run: bool
