"""The daily patrol record (巡查记录, policy rule 2): generate, store, sign, list the unsigned days.

Storage: one `vigil-reports` document per version, id `patrol:<day>:v<N>`, created with
`op_type=create`, so two generators (a restarted scheduler, a request at the same moment) cannot both
create version 1: the second meets 409 and reads the first. A version is immutable once signed: signing
an unsigned version fills it in (guarded by its sequence number); signing again — new findings — creates
version N+1 beside it, chained to N by `previous_hash`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError

from core.ledger_store import latest_verifications, ledger_indices
from core.models.entity import WorkCalendar
from core.names import REPORTS_INDEX, RULES_SUMMARY_ID
from core.settings import Settings
from reports import incidents, queries
from reports.calendar import day_period, working_days
from reports.errors import ReportError, SignOffError
from reports.indices import install_report_templates
from reports.metrics import alert_section, notable
from reports.models import (
    IntegrityCheck,
    IntegritySection,
    LogHealth,
    PatrolContent,
    PatrolRecord,
    RetentionSection,
    RulesSummary,
    ScopeRetention,
    SignOff,
    UnsignedDay,
)

RetentionReader = Callable[[Elasticsearch, Settings, datetime], RetentionSection]


def retention_section(es: Elasticsearch, settings: Settings, now: datetime) -> RetentionSection:
    """From `retention.status` (the retention package owns compliance; this only reshapes it)."""
    from retention import status

    try:
        result = status(es, settings, now)
    except Exception as exc:  # noqa: BLE001 - a broken retention view is a finding in the record, not a crash
        return RetentionSection(available=False, compliant=None, error=f"{type(exc).__name__}: {exc}")
    return RetentionSection(
        available=True,
        compliant=result.compliant,
        scopes=[ScopeRetention(scope=s.scope.value, retention_days=s.retention_days, oldest_day=s.oldest_day,
                               newest_day=s.newest_day, gaps=len(s.window_gaps), compliant=s.compliant)
                for s in result.scopes],
        findings=[f"{s.scope.value}: {f}" for s in result.scopes for f in s.findings]
        + ([result.policy_error] if result.policy_error else []),
    )  # fmt: skip


def integrity_section(es: Elasticsearch, day: date, zone: str = "UTC") -> IntegritySection:
    """The latest verification of every daily index of the UTC days the local `day` touches."""
    period = day_period(day, zone)
    first, last = period.start_utc.date(), (period.end_utc - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    try:
        checks = [IntegrityCheck(index=r.index, category=r.category, day=r.day, verified_at=r.verified_at,
                                 clean=r.clean, retired=r.retired, modified=r.modified_count,
                                 deleted=r.deleted_count, inserted=r.inserted_count,
                                 chain_breaks=len(r.chain_breaks))
                  for d in days for r in latest_verifications(es, d)]  # fmt: skip
        verified = {check.index for check in checks}
        unverified = [index for d in days for index in ledger_indices(es, d) if index not in verified]
    except (ApiError, TransportError) as exc:  # a finding in the record, not a crash
        return IntegritySection(available=False, days=days, error=f"{type(exc).__name__}: {exc}")
    return IntegritySection(available=True, days=days, checks=checks, unverified=unverified)


def build_content(
    es: Elasticsearch,
    settings: Settings,
    day: date,
    now: datetime,
    rules: RulesSummary | None = None,
    retention: RetentionReader = retention_section,
) -> PatrolContent:
    period = day_period(day, settings.timezone)
    by_category, by_source, hourly = queries.volumes(es, period)
    dl_total, dl_reasons, dl_sources = queries.deadletters(es, period)
    alerts, _ = queries.alerts(es, period)
    logs = LogHealth(
        events_total=sum(c.count for c in by_category),
        by_category=by_category,
        by_source=by_source,
        hourly=hourly,
        silent_sources=queries.silent_sources(es, period, {v.source for v in by_source}),
        deadletters_total=dl_total,
        deadletters_by_reason=dl_reasons,
        deadletters_by_source=dl_sources,
    )
    return PatrolContent(
        day=day,
        zone=settings.timezone,
        window_start=period.start_utc,
        window_end=period.end_utc,
        logs=logs,
        alerts=alert_section(alerts),
        incidents=incidents.open_incidents(es),
        retention=retention(es, settings, now),
        integrity=integrity_section(es, day, settings.timezone),
        rules=rules or read_rules_summary(es),
        notable_users=notable(alerts, "user"),
        notable_hosts=notable(alerts, "host"),
    )


# --- the version chain (pure) -------------------------------------------------------------------


def record_hash(record: PatrolRecord) -> str:
    """SHA-256 over the canonical JSON of everything in the version but the hash itself."""
    body = record.model_dump(mode="json", exclude={"content_hash"})
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def first_version(content: PatrolContent, now: datetime) -> PatrolRecord:
    draft = PatrolRecord(
        day=content.day, version=1, generated_at=now, content_hash="", content=content, previous_hash=None
    )
    return draft.model_copy(update={"content_hash": record_hash(draft)})


def signed_version(latest: PatrolRecord, signoff: SignOff, by: str, now: datetime) -> PatrolRecord:
    """The signed record: `latest` itself filled in if unsigned, else version N+1 chained to it."""
    if not by.strip():
        raise SignOffError("a sign-off needs the officer's name")
    fields: dict[str, Any] = {**signoff.model_dump(), "signed_by": by, "signed_at": now}
    if latest.signed:
        fields |= {"version": latest.version + 1, "previous_hash": latest.content_hash, "generated_at": now}
    draft = latest.model_copy(update=fields)
    return draft.model_copy(update={"content_hash": record_hash(draft)})


def chain_breaks(versions: list[PatrolRecord]) -> list[str]:
    """What is wrong with a day's stored versions: altered documents, gaps, broken links."""
    problems = []
    for i, record in enumerate(versions):
        if record.version != i + 1:
            problems.append(f"version {i + 1} missing (found {record.version})")
        if record_hash(record) != record.content_hash:
            problems.append(f"version {record.version} does not match its hash (altered)")
        if i and record.previous_hash != versions[i - 1].content_hash:
            problems.append(f"version {record.version} does not chain to version {versions[i - 1].version}")
    return problems


# --- storage --------------------------------------------------------------------------------------


def doc_id(day: date, version: int) -> str:
    return f"patrol:{day.isoformat()}:v{version}"


def versions(es: Elasticsearch, day: date) -> list[PatrolRecord]:
    if not es.indices.exists(index=REPORTS_INDEX):
        return []
    es.indices.refresh(index=REPORTS_INDEX)
    query = {"bool": {"filter": [{"term": {"kind": "patrol"}}, {"term": {"day": day.isoformat()}}]}}
    hits = es.search(index=REPORTS_INDEX, query=query, size=1000, sort=[{"version": "asc"}])["hits"]["hits"]
    return [PatrolRecord.model_validate(h["_source"]) for h in hits]


def latest(es: Elasticsearch, day: date) -> PatrolRecord | None:
    found = versions(es, day)
    return found[-1] if found else None


def _create(es: Elasticsearch, record: PatrolRecord) -> bool:
    """False when the version exists already (someone else created it first)."""
    try:
        es.create(index=REPORTS_INDEX, id=doc_id(record.day, record.version),
                  document=record.model_dump(mode="json"), refresh="wait_for")  # fmt: skip
    except ConflictError:
        return False
    return True


def ensure_record(
    es: Elasticsearch, settings: Settings, day: date, now: datetime, rules: RulesSummary | None = None
) -> tuple[PatrolRecord, bool]:
    """The day's latest version, generating and storing version 1 if there is none; (record, created)."""
    install_report_templates(es, settings)
    existing = latest(es, day)
    if existing is not None:
        return existing, False
    record = first_version(build_content(es, settings, day, now, rules), now)
    if _create(es, record):
        return record, True
    stored = latest(es, day)
    if stored is None:
        raise ReportError(f"patrol record {day} conflicted on create but cannot be read back")
    return stored, False


def sign(es: Elasticsearch, settings: Settings, day: date, signoff: SignOff, by: str, now: datetime) -> PatrolRecord:
    current, _ = ensure_record(es, settings, day, now)
    record = signed_version(current, signoff, by, now)
    if record.version > current.version:
        if not _create(es, record):
            raise SignOffError(f"version {record.version} of {day} was created meanwhile: reload and sign again")
        return record
    meta = es.get(index=REPORTS_INDEX, id=doc_id(day, current.version))
    try:
        es.index(index=REPORTS_INDEX, id=doc_id(day, current.version), document=record.model_dump(mode="json"),
                 if_seq_no=meta["_seq_no"], if_primary_term=meta["_primary_term"], refresh="wait_for")  # fmt: skip
    except ConflictError as exc:
        raise SignOffError(f"the record of {day} was signed meanwhile: reload and sign again") from exc
    return record


def unsigned_days(es: Elasticsearch, calendar: WorkCalendar, start: date, end: date) -> list[UnsignedDay]:
    """Working days in [start, end) whose latest version is unsigned, or that have no record at all."""
    latest_by_day: dict[date, dict[str, Any]] = {}
    if es.indices.exists(index=REPORTS_INDEX):
        es.indices.refresh(index=REPORTS_INDEX)
        query = {
            "bool": {
                "filter": [
                    {"term": {"kind": "patrol"}},
                    {"range": {"day": {"gte": start.isoformat(), "lt": end.isoformat()}}},
                ]
            }
        }
        for hit in es.search(index=REPORTS_INDEX, query=query, size=10_000, source_excludes=["content"],
                             sort=[{"day": "asc"}, {"version": "asc"}])["hits"]["hits"]:  # fmt: skip
            latest_by_day[date.fromisoformat(hit["_source"]["day"])] = hit["_source"]
    result = []
    for day in working_days(calendar, start, end):
        src = latest_by_day.get(day)
        if src is None or not src.get("signed_at"):
            result.append(UnsignedDay(day=day, latest_version=src["version"] if src else None))
    return result


def read_rules_summary(es: Elasticsearch) -> RulesSummary | None:
    try:
        src = dict(es.get(index=REPORTS_INDEX, id=RULES_SUMMARY_ID)["_source"])
    except NotFoundError:
        return None
    src.pop("kind", None)
    return RulesSummary.model_validate(src)
