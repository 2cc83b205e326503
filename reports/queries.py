"""The Elasticsearch reads the reports need, one function each (one place per query).

Counts come from aggregations (exact for the volumes a day has: terms sizes are generous); alerts and
dead letters of a period are read whole and counted in Python, since the alert store's mapping is not
ours and dead-letter reasons are full text (and the local Elasticsearch has no painless to script around it).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError
from elasticsearch.helpers import scan
from pydantic import ValidationError

from core.models.alert import Alert
from core.names import ALERTS_INDEX, DEADLETTER_PATTERN, INCIDENTS_INDEX, LOGS_PATTERN
from reports.calendar import Period
from reports.indices import HEALTH_INDEX
from reports.metrics import counts, reason_head
from reports.models import Count, SourceVolume

TERMS = 10_000
SILENT_LOOKBACK = timedelta(days=7)


def _range(start: datetime, end: datetime, field: str = "@timestamp") -> dict[str, Any]:
    return {"range": {field: {"gte": start.isoformat(), "lt": end.isoformat()}}}


def _search(es: Elasticsearch, index: str, **body: Any) -> dict[str, Any]:
    try:
        return dict(es.search(index=index, ignore_unavailable=True, allow_no_indices=True, **body))
    except NotFoundError:
        return {}


def volumes(es: Elasticsearch, period: Period) -> tuple[list[Count], list[SourceVolume], dict[str, list[int]]]:
    """Events per category, per (source, category), and per category per local hour of a one-day period."""
    aggs = {"cat": {"terms": {"field": "vigil.category", "size": 10}, "aggs": {
        "src": {"terms": {"field": "vigil.source", "size": TERMS}},
        "hour": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "time_zone": period.zone,
                                    "min_doc_count": 0, "extended_bounds": {
                                        "min": period.start_utc.isoformat(),
                                        "max": (period.end_utc - timedelta(hours=1)).isoformat()}}}}}}  # fmt: skip
    result = _search(es, LOGS_PATTERN, size=0, query=_range(period.start_utc, period.end_utc), aggs=aggs)
    buckets = result.get("aggregations", {}).get("cat", {}).get("buckets", [])
    by_category = [Count(key=b["key"], count=b["doc_count"]) for b in buckets]
    by_source = sorted(
        (SourceVolume(source=s["key"], category=b["key"], events=s["doc_count"]) for b in buckets
         for s in b["src"]["buckets"]),
        key=lambda v: (-v.events, v.source, v.category),
    )  # fmt: skip
    hourly = {b["key"]: [h["doc_count"] for h in b["hour"]["buckets"]][:24] for b in buckets}
    return by_category, by_source, hourly


def category_counts(es: Elasticsearch, period: Period) -> list[Count]:
    aggs = {"cat": {"terms": {"field": "vigil.category", "size": 10}}}
    result = _search(es, LOGS_PATTERN, size=0, query=_range(period.start_utc, period.end_utc), aggs=aggs)
    buckets = result.get("aggregations", {}).get("cat", {}).get("buckets", [])
    return [Count(key=b["key"], count=b["doc_count"]) for b in buckets]


def silent_sources(es: Elasticsearch, period: Period, seen_today: set[str]) -> list[str]:
    """Sources that sent events in the 7 days before the period but none during it."""
    start = period.start_utc - SILENT_LOOKBACK
    aggs = {"src": {"terms": {"field": "vigil.source", "size": TERMS}}}
    result = _search(es, LOGS_PATTERN, size=0, query=_range(start, period.start_utc), aggs=aggs)
    before = {b["key"] for b in result.get("aggregations", {}).get("src", {}).get("buckets", [])}
    return sorted(before - seen_today)


def deadletters(es: Elasticsearch, period: Period) -> tuple[int, list[Count], list[Count]]:
    """Total, by reason kind and by source."""
    docs = list(_scan(es, DEADLETTER_PATTERN, _range(period.start_utc, period.end_utc), ["reason", "source"]))
    reasons = counts(reason_head(str(d.get("reason", ""))) for d in docs)
    sources = counts(str(d.get("source", "?")) for d in docs)
    return len(docs), reasons, sources


def deadletter_count(es: Elasticsearch, period: Period) -> int:
    return _count(es, DEADLETTER_PATTERN, _range(period.start_utc, period.end_utc))


def event_count(es: Elasticsearch, period: Period) -> int:
    return _count(es, LOGS_PATTERN, _range(period.start_utc, period.end_utc))


def alerts(es: Elasticsearch, period: Period) -> tuple[list[Alert], int]:
    """The alerts raised in the period, and how many stored documents did not parse as alerts."""
    found, broken = [], 0
    for doc in _scan(es, ALERTS_INDEX, _range(period.start_utc, period.end_utc), None):
        try:
            found.append(Alert.model_validate(doc))
        except ValidationError:
            broken += 1
    return found, broken


def incidents_configured(es: Elasticsearch) -> bool:
    return bool(es.indices.exists(index=INCIDENTS_INDEX))


def incident_docs(es: Elasticsearch, query: dict[str, Any]) -> list[dict[str, Any]]:
    return list(_scan(es, INCIDENTS_INDEX, query, None))


def health_ok_counts(es: Elasticsearch, period: Period) -> dict[str, int]:
    """component → samples with ok=true in the period (at most one per minute counts: see reports.health)."""
    aggs = {"c": {"terms": {"field": "component", "size": 100}, "aggs": {"ok": {"filter": {"term": {"ok": True}}}}}}
    result = _search(es, HEALTH_INDEX, size=0, query=_range(period.start_utc, period.end_utc, "at"), aggs=aggs)
    return {b["key"]: b["ok"]["doc_count"] for b in result.get("aggregations", {}).get("c", {}).get("buckets", [])}


def _count(es: Elasticsearch, index: str, query: dict[str, Any]) -> int:
    try:
        return int(es.count(index=index, query=query, ignore_unavailable=True, allow_no_indices=True)["count"])
    except NotFoundError:
        return 0


def _scan(es: Elasticsearch, index: str, query: dict[str, Any], fields: list[str] | None) -> Iterator[dict[str, Any]]:
    body: dict[str, Any] = {"query": query}
    if fields is not None:
        body["_source"] = fields
    try:
        for hit in scan(es, index=index, query=body, ignore_unavailable=True, allow_no_indices=True, size=2000):
            yield hit["_source"]
    except NotFoundError:
        return
