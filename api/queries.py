"""Every Elasticsearch query the API runs, built in one place from validated parameters (pure)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from api.errors import BadRequest
from api.models.alerts import AlertAgg, AlertSearch
from api.models.audit import AuditSearch
from api.models.entities import EntitySearch
from api.models.events import EventSearch
from core.models.alert import Severity

# Bare words in `q` search these fields. `lenient` lets a word meet ip/number fields without errors;
# leading wildcards are refused because they scan every term of the index.
DEFAULT_QUERY_FIELDS = [
    "message", "event.action", "event.dataset", "event.code", "event.outcome", "host.name", "host.hostname",
    "user.name", "user.target.name", "source.address", "destination.address", "process.name",
    "process.command_line.text", "file.path.text", "url.original.text", "dns.question.name",
]  # fmt: skip
TIEBREAKER = {"event.id": {"order": "asc", "unmapped_type": "keyword"}}  # what sort_clause adds for events
# `GET /alerts?q=`: the alert's words, in both console languages.
ALERT_TEXT_FIELDS = ["rule.title.text", "summary.en", "summary.zh-CN"]
ALERT_AGG_FIELDS: dict[AlertAgg, str] = {
    AlertAgg.SEVERITY: "severity", AlertAgg.STATUS: "status", AlertAgg.RULE: "rule.id",
    AlertAgg.ORIGIN: "origin", AlertAgg.ASSIGNEE: "assignee",
}  # fmt: skip
ENTITY_KINDS_MAX = 10  # EntityRef kinds: user, host, ip, source, process, file, rule
HISTOGRAM = "histogram"


def time_filter(from_: str | None, to: str | None, zone: str, field: str = "@timestamp") -> list[dict[str, Any]]:
    """`from` inclusive, `to` exclusive; times without an offset (and `now/d` rounding) in `zone`."""
    if from_ is None and to is None:
        return []
    bounds: dict[str, Any] = {"time_zone": zone}
    if from_ is not None:
        bounds["gte"] = from_
    if to is not None:
        bounds["lt"] = to
    return [{"range": {field: bounds}}]


def sort_clause(sort: str, tiebreaker: str = "event.id") -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for part in sort.split(","):
        name = part.strip()
        field = name.removeprefix("-")
        clauses.append({field: {"order": "desc" if name.startswith("-") else "asc", "unmapped_type": "keyword"}})
    if not any(tiebreaker in clause for clause in clauses):
        # search_after and stable pages need a total order: the deterministic document id
        clauses.append({tiebreaker: {"order": "asc", "unmapped_type": "keyword"}})
    return clauses


def encode_cursor(sort_values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(sort_values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, expected: int) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise BadRequest("after: not a cursor returned by this API (take `next` from the previous page)") from None
    if not isinstance(values, list) or len(values) != expected:
        raise BadRequest("after: the cursor does not match this sort order (keep `sort` the same across pages)")
    return values


def events_search(params: EventSearch, zone: str) -> dict[str, Any]:
    """Keyword arguments for `Elasticsearch.search` over the log indices."""
    must: list[dict[str, Any]] = []
    if params.q:
        must.append(
            {
                "query_string": {
                    "query": params.q,
                    "fields": DEFAULT_QUERY_FIELDS,
                    "default_operator": "AND",
                    "lenient": True,
                    "allow_leading_wildcard": False,
                    "time_zone": zone,
                }
            }
        )
    filters = [{"terms": {field: values}} for field, values in params.filters().items()]
    filters += time_filter(params.from_, params.to, zone)
    sort = sort_clause(params.sort)
    body: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
        "sort": sort,
        "size": params.size,
        "track_total_hits": True,  # counts are evidence in reports: exact, not "10,000+"
    }
    if params.after:
        body["search_after"] = decode_cursor(params.after, len(sort))
    elif params.offset:
        body["from"] = params.offset
    aggs: dict[str, Any] = {field: {"terms": {"field": field, "size": params.agg_size}} for field in params.agg}
    if params.interval:
        aggs[HISTOGRAM] = {
            "date_histogram": {"field": "@timestamp", "fixed_interval": params.interval, "time_zone": zone}
        }
    if aggs:
        body["aggs"] = aggs
    return body


def audit_search(params: AuditSearch, zone: str) -> dict[str, Any]:
    filters: list[dict[str, Any]] = []
    for field, values in (("actor.name", params.actor), ("actor.role", params.role), ("action", params.action)):
        if values:
            filters.append({"terms": {field: [str(v) for v in values]}})
    filters += time_filter(params.from_, params.to, zone)
    return {
        "query": {"bool": {"filter": filters}},
        "sort": [{"@timestamp": {"order": "desc"}}],
        "size": params.size,
        "from": params.offset,
        "track_total_hits": True,
    }


def alerts_search(params: AlertSearch, zone: str) -> dict[str, Any]:
    """Keyword arguments for `Elasticsearch.search` over `vigil-alerts`."""
    must: list[dict[str, Any]] = []
    if params.q:
        # simple_query_string never fails on syntax: a title search is words, not Lucene.
        must.append({"simple_query_string": {"query": params.q, "fields": ALERT_TEXT_FIELDS,
                                             "default_operator": "and"}})  # fmt: skip
    filters: list[dict[str, Any]] = []
    if params.severity is not None:
        at_least = [s.value for s in Severity if s.rank >= params.severity.rank]
        filters.append({"terms": {"severity": at_least}})
    for field, values in (("status", params.status), ("rule.id", params.rule), ("origin", params.origin),
                          ("assignee", params.assignee)):  # fmt: skip
        if values:
            filters.append({"terms": {field: [str(v) for v in values]}})
    if params.entity:
        either = [{"bool": {"filter": [{"term": {"entity.kind": ref.kind}}, {"term": {"entity.value": ref.value}}]}}
                  for ref in params.entity_refs()]  # fmt: skip
        filters.append({"bool": {"should": either, "minimum_should_match": 1}})
    filters += time_filter(params.from_, params.to, zone, field=params.time_field)
    body: dict[str, Any] = {
        "query": {"bool": {"must": must or [{"match_all": {}}], "filter": filters}},
        "sort": sort_clause(params.sort, tiebreaker="id"),
        "size": params.size,
        "from": params.offset,
        "track_total_hits": True,
    }
    aggs: dict[str, Any] = {}
    for agg in params.agg:
        if agg is AlertAgg.ENTITY:
            # Per kind, then per value: `host:ws01` and `user:ws01` are different entities.
            by_value = {"terms": {"field": "entity.value", "size": params.agg_size}}
            aggs[agg.value] = {"terms": {"field": "entity.kind", "size": ENTITY_KINDS_MAX}, "aggs": {"value": by_value}}
        else:
            aggs[agg.value] = {"terms": {"field": ALERT_AGG_FIELDS[agg], "size": params.agg_size}}
    if aggs:
        body["aggs"] = aggs
    return body


def alert_events_search(event_ids: list[str]) -> dict[str, Any]:
    """The log events an alert names, oldest first."""
    return {
        "query": {"bool": {"filter": [{"terms": {"event.id": event_ids}}]}},
        "sort": sort_clause("@timestamp"),
        "size": len(event_ids),
        "track_total_hits": True,
    }


def entities_search(params: EntitySearch) -> dict[str, Any]:
    filters = [{"terms": {"entity_kind": params.kind}}] if params.kind else []
    return {
        "query": {"bool": {"filter": filters}},
        "sort": [{"entity_kind": {"order": "asc"}}, {"entity_key": {"order": "asc"}}],
        "size": params.size,
        "from": params.offset,
        "track_total_hits": True,
    }
