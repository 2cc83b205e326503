"""Incidents from `vigil-incidents`, when the incident engine exists (until then: "not configured").

The fields read here are the contract expected from the response package: `id`, `title`, `severity`,
`status`, `opened_at`, `contacted_at` (on-duty person reached; policy: within 3 minutes),
`reported_at` (reported to the authorities; serious incidents: within 24 hours of `detected_at`, else of
`opened_at`), `serious`, and
`deadlines` ([{name, due, met_at}]). Unknown fields are ignored; documents that do not fit are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from elasticsearch import Elasticsearch
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError

from reports import queries
from reports.calendar import Period
from reports.models import Deadline, IncidentCompliance, IncidentSection, OpenIncident

CLOSED = {"closed", "resolved", "cancelled"}
CONTACT_LIMIT = timedelta(minutes=3)
REPORT_LIMIT = timedelta(hours=24)


class IncidentDoc(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    title: str = ""
    severity: str | None = None
    status: str = "open"
    serious: bool = False
    opened_at: AwareDatetime | None = None
    detected_at: AwareDatetime | None = None
    drill: bool = False
    contacted_at: AwareDatetime | None = None
    reported_at: AwareDatetime | None = None
    deadlines: list[Deadline] = []


def _parse(docs: list[dict[str, object]]) -> list[IncidentDoc]:
    parsed = []
    for doc in docs:
        try:
            parsed.append(IncidentDoc.model_validate(doc))
        except ValidationError:
            continue
    return parsed


def open_incidents(es: Elasticsearch) -> IncidentSection:
    if not queries.incidents_configured(es):
        return IncidentSection(configured=False)
    docs = _parse(queries.incident_docs(es, {"match_all": {}}))
    return IncidentSection(configured=True, open=[
        OpenIncident(id=d.id, title=d.title, severity=d.severity, status=d.status, opened_at=d.opened_at,
                     deadlines=[x for x in d.deadlines if x.met_at is None], drill=d.drill)
        for d in docs if d.status.lower() not in CLOSED
    ])  # fmt: skip


def compliance(es: Elasticsearch, period: Period) -> IncidentCompliance:
    if not queries.incidents_configured(es):
        return IncidentCompliance(configured=False)
    query = {"range": {"opened_at": {"gte": period.start_utc.isoformat(), "lt": period.end_utc.isoformat()}}}
    opened = [d for d in _parse(queries.incident_docs(es, query)) if d.opened_at is not None]
    docs = [d for d in opened if not d.drill]
    drills = [d for d in opened if d.drill]
    serious = [d for d in docs if d.serious]
    return IncidentCompliance(
        configured=True,
        incidents=len(docs),
        contact_checked=len(docs),
        # A missing time is a miss: the policy wants the on-duty person reached (and the report sent), and recorded.
        contact_in_3_min=sum(_within(d.opened_at, d.contacted_at, CONTACT_LIMIT) for d in docs),
        report_checked=len(serious),
        report_in_24_h=sum(_within(d.detected_at or d.opened_at, d.reported_at, REPORT_LIMIT) for d in serious),
        drills=len(drills),
        drill_contact_in_3_min=sum(_within(d.opened_at, d.contacted_at, CONTACT_LIMIT) for d in drills),
    )


def _within(start: datetime | None, end: datetime | None, limit: timedelta) -> bool:
    return start is not None and end is not None and end - start <= limit
