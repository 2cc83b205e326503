"""The report models: the JSON output, the stored documents and what the templates render."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.models.rules import RulesSummary


class ReportModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Count(ReportModel):
    key: str
    count: int
    label: str | None = None  # e.g. a rule's title beside its id


class SourceVolume(ReportModel):
    source: str
    category: str
    events: int


class LogHealth(ReportModel):
    events_total: int
    by_category: list[Count]
    by_source: list[SourceVolume]
    hourly: dict[str, list[int]] = Field(description="category → events per local hour 0..23")
    silent_sources: list[str] = Field(description="seen in the previous 7 days, not on the day")
    deadletters_total: int
    deadletters_by_reason: list[Count]
    deadletters_by_source: list[Count]


class ResponseTimes(ReportModel):
    """Seconds from raising an alert to its first triage (acknowledge) and to its closing (resolve)."""

    alerts: int
    acknowledged: int
    resolved: int
    mtta_s: float | None
    mttr_s: float | None
    max_tta_s: float | None


class AlertSection(ReportModel):
    total: int
    by_severity: list[Count]
    by_rule: list[Count]
    by_status: list[Count]
    response: ResponseTimes
    unacknowledged_high: int = Field(description="high/critical alerts still new")


class Deadline(ReportModel):
    name: str
    due: AwareDatetime
    met_at: AwareDatetime | None = None


class OpenIncident(ReportModel):
    id: str
    title: str
    severity: str | None
    status: str
    opened_at: AwareDatetime | None
    deadlines: list[Deadline]
    drill: bool = False


class IncidentSection(ReportModel):
    configured: bool
    open: list[OpenIncident] = Field(default_factory=list)


class ScopeRetention(ReportModel):
    scope: str
    retention_days: int
    oldest_day: date | None
    newest_day: date | None
    gaps: int
    compliant: bool


class RetentionSection(ReportModel):
    available: bool
    compliant: bool | None
    scopes: list[ScopeRetention] = Field(default_factory=list)
    findings: list[str] = Field(default_factory=list)
    error: str | None = None


class IntegrityCheck(ReportModel):
    """The latest verification of one daily index against the integrity ledger (`vigil verify`)."""

    index: str
    category: str
    day: date
    verified_at: AwareDatetime
    clean: bool
    retired: bool
    modified: int
    deleted: int
    inserted: int
    chain_breaks: int


class IntegritySection(ReportModel):
    available: bool
    days: list[date] = Field(default_factory=list, description="the UTC days of the ledger the record's window touches")
    checks: list[IntegrityCheck] = Field(default_factory=list)
    unverified: list[str] = Field(default_factory=list, description="indices in the ledger with no verification yet")
    error: str | None = None


class PatrolContent(ReportModel):
    """Everything the machine found for one working day; hashed, never edited after storing."""

    day: date
    zone: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    logs: LogHealth
    alerts: AlertSection
    incidents: IncidentSection
    retention: RetentionSection
    integrity: IntegritySection = Field(default_factory=lambda: IntegritySection(available=False))
    rules: RulesSummary | None
    notable_users: list[Count]
    notable_hosts: list[Count]


class SignOff(ReportModel):
    """What the officer writes: findings, actions taken, remarks; who signs is the caller."""

    findings: str = Field("", max_length=20_000)
    actions: str = Field("", max_length=20_000)
    remarks: str = Field("", max_length=5_000)


class PatrolRecord(ReportModel):
    """One version of a day's patrol record, as stored in `vigil-reports` (one document per version)."""

    kind: str = "patrol"
    day: date
    version: int = Field(ge=1)
    generated_at: AwareDatetime
    content_hash: str
    content: PatrolContent
    findings: str = ""
    actions: str = ""
    remarks: str = ""
    signed_by: str | None = None
    signed_at: AwareDatetime | None = None
    previous_hash: str | None = Field(None, description="content hash of version N-1: the version chain")

    @property
    def signed(self) -> bool:
        return self.signed_at is not None


class UnsignedDay(ReportModel):
    day: date
    latest_version: int | None = Field(description="None: no record was generated for the day")


class Availability(ReportModel):
    component: str
    ok: int
    expected: int
    ratio: float | None


class RuleFalsePositives(ReportModel):
    rule: str
    title: str | None
    alerts: int
    false_positives: int
    ratio: float


class IncidentCompliance(ReportModel):
    configured: bool
    incidents: int = 0
    contact_checked: int = 0
    contact_in_3_min: int = 0
    report_checked: int = 0
    report_in_24_h: int = 0
    drills: int = Field(default=0, description="演练 of the period: measured apart, never counted as incidents")
    drill_contact_in_3_min: int = 0


class Evaluation(ReportModel):
    kind: str = Field(description="monthly (small) or quarterly (full)")
    period: str
    start: date
    end: date
    zone: str
    generated_at: datetime
    availability: list[Availability]
    events: int
    deadletters: int
    deadletter_ratio: float | None
    response: ResponseTimes
    response_by_severity: dict[str, ResponseTimes]
    incidents: IncidentCompliance
    false_positives: list[RuleFalsePositives]
    working_days: int
    signed_days: int
    signoff_ratio: float | None
    unsigned_days: list[date]
    retention: RetentionSection
    by_category: list[Count]
    alerts_by_severity: list[Count]
    monthly: list[Evaluation] = Field(default_factory=list, description="quarterly: the three months")
