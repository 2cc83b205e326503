"""Every Elasticsearch query the API runs, built in one place from validated parameters (pure)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from api.errors import BadRequest
from api.models.audit import AuditSearch
from api.models.events import EventSearch

# Bare words in `q` search these fields. `lenient` lets a word meet ip/number fields without errors;
# leading wildcards are refused because they scan every term of the index.
DEFAULT_QUERY_FIELDS = [
    "message", "event.action", "event.dataset", "event.code", "event.outcome", "host.name", "host.hostname",
    "user.name", "user.target.name", "source.address", "destination.address", "process.name",
    "process.command_line.text", "file.path.text", "url.original.text", "dns.question.name",
]  # fmt: skip
TIEBREAKER = {"event.id": {"order": "asc", "unmapped_type": "keyword"}}
HISTOGRAM = "histogram"


def time_filter(from_: str | None, to: str | None, zone: str) -> list[dict[str, Any]]:
    """`from` inclusive, `to` exclusive; times without an offset (and `now/d` rounding) in `zone`."""
    if from_ is None and to is None:
        return []
    bounds: dict[str, Any] = {"time_zone": zone}
    if from_ is not None:
        bounds["gte"] = from_
    if to is not None:
        bounds["lt"] = to
    return [{"range": {"@timestamp": bounds}}]


def sort_clause(sort: str) -> list[dict[str, Any]]:
    clauses: list[dict[str, Any]] = []
    for part in sort.split(","):
        name = part.strip()
        field = name.removeprefix("-")
        clauses.append({field: {"order": "desc" if name.startswith("-") else "asc", "unmapped_type": "keyword"}})
    if not any("event.id" in clause for clause in clauses):
        clauses.append(TIEBREAKER)  # search_after needs a total order: the deterministic event id
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
