"""Search parameters → Elasticsearch queries (pure), and the validation a bad search meets."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from api.errors import BadRequest
from api.models.alerts import AlertSearch
from api.models.audit import AuditSearch
from api.models.events import EventSearch
from api.queries import TIEBREAKER, alerts_search, audit_search, decode_cursor, encode_cursor, events_search
from api.timeparse import normalise_time

ZONE = "Asia/Shanghai"


def search(**params: Any) -> EventSearch:
    return EventSearch.model_validate(params)


def test_default_search_is_newest_first_with_exact_count() -> None:
    body = events_search(search(), ZONE)
    assert body["query"] == {"bool": {"must": [{"match_all": {}}], "filter": []}}
    assert body["sort"] == [{"@timestamp": {"order": "desc", "unmapped_type": "keyword"}}, TIEBREAKER]
    assert body["size"] == 50 and body["track_total_hits"] is True
    assert "aggs" not in body and "from" not in body


def test_query_string_filters_and_time_range() -> None:
    params = search(q="Failed password", category=["user"], host=["web01", "web02"], source_ip=["10.0.0.0/8"],
                    outcome=["failure"], code=["4625"], **{"from": "now-24h", "to": "2026-11-23 08:00"})  # fmt: skip
    body = events_search(params, ZONE)
    qs = body["query"]["bool"]["must"][0]["query_string"]
    assert qs["query"] == "Failed password" and qs["default_operator"] == "AND"
    assert qs["lenient"] is True and qs["allow_leading_wildcard"] is False and "message" in qs["fields"]
    assert body["query"]["bool"]["filter"] == [
        {"terms": {"vigil.category": ["user"]}},
        {"terms": {"host.name": ["web01", "web02"]}},
        {"terms": {"source.ip": ["10.0.0.0/8"]}},
        {"terms": {"event.outcome": ["failure"]}},
        {"terms": {"event.code": ["4625"]}},
        {"range": {"@timestamp": {"time_zone": ZONE, "gte": "now-24h", "lt": "2026-11-23T08:00:00"}}},
    ]


def test_aggregations_and_histogram() -> None:
    body = events_search(search(agg=["event.dataset", "user.name"], agg_size=5, interval="1h", size=0), ZONE)
    assert body["aggs"] == {
        "event.dataset": {"terms": {"field": "event.dataset", "size": 5}},
        "user.name": {"terms": {"field": "user.name", "size": 5}},
        "histogram": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h", "time_zone": ZONE}},
    }
    assert body["size"] == 0


def test_sort_offset_and_cursor() -> None:
    body = events_search(search(sort="host.name,-@timestamp", offset=100), ZONE)
    assert [next(iter(c)) for c in body["sort"]] == ["host.name", "@timestamp", "event.id"]
    assert body["sort"][0]["host.name"]["order"] == "asc" and body["from"] == 100
    cursor = encode_cursor([1700000000000, "abc"])
    assert decode_cursor(cursor, 2) == [1700000000000, "abc"]
    body = events_search(search(after=cursor), ZONE)
    assert body["search_after"] == [1700000000000, "abc"] and "from" not in body


@pytest.mark.parametrize("cursor", ["%%%", encode_cursor([1, 2, 3]), "eyJhIjoxfQ"])
def test_bad_cursor_is_a_clear_422(cursor: str) -> None:
    with pytest.raises(BadRequest, match="after:"):
        events_search(search(after=cursor), ZONE)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "is not a time"),
        ({"to": "2026-13-01"}, "is not a time"),
        ({"from": "2026-11-23T10:00:00+00:00", "to": "2026-11-23T09:00:00+00:00"}, "must be before"),
        ({"offset": 9990, "size": 50}, "at most 10,000"),
        ({"offset": 10, "after": "x"}, "either offset or after"),
        ({"source_ip": ["10.0.0.300"]}, "not an IP address"),
        ({"agg": ["message"]}, "cannot aggregate on 'message'"),
        ({"sort": "-message"}, "cannot sort on"),
        ({"interval": "1 hour"}, "interval"),
        ({"category": ["finance"]}, "network"),
        ({"size": -1}, "greater than or equal"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_bad_search_parameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EventSearch.model_validate(params)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", "now"), ("now-24h", "now-24h"), ("now-7d/d", "now-7d/d"), ("now/d+8h", "now/d+8h"),
        ("2026-11-23", "2026-11-23T00:00:00"), ("2026-11-23T08:00:00Z", "2026-11-23T08:00:00+00:00"),
        (" 2026-11-23 08:00:00+08:00 ", "2026-11-23T08:00:00+08:00"),
    ],
)  # fmt: skip
def test_time_bounds(text: str, expected: str) -> None:
    assert normalise_time(text) == expected


def test_audit_query() -> None:
    params = AuditSearch.model_validate({"actor": ["alice"], "role": ["officer"], "from": "now-1d", "size": 10})
    body = audit_search(params, ZONE)
    assert body["query"]["bool"]["filter"] == [
        {"terms": {"actor.name": ["alice"]}},
        {"terms": {"actor.role": ["officer"]}},
        {"range": {"@timestamp": {"time_zone": ZONE, "gte": "now-1d"}}},
    ]
    assert body["sort"] == [{"@timestamp": {"order": "desc"}}] and body["size"] == 10


def test_alerts_search_filters() -> None:
    params = AlertSearch.model_validate(
        {"severity": "high", "status": ["new", "acknowledged"], "rule": ["r1"], "entity": ["user:alice", "host:ws01"],
         "origin": ["stream"], "q": "brute force", "from": "now-1d", "time_field": "first_seen",
         "sort": "-first_seen", "size": 20, "offset": 40}
    )  # fmt: skip
    body = alerts_search(params, "Asia/Shanghai")
    query = body["query"]["bool"]
    fields = ["rule.title.text", "summary.en", "summary.zh-CN"]
    assert query["must"] == [
        {"simple_query_string": {"query": "brute force", "default_operator": "and", "fields": fields}}
    ]
    assert query["filter"][:4] == [
        {"terms": {"severity": ["high", "critical"]}},  # at least high
        {"terms": {"status": ["new", "acknowledged"]}},
        {"terms": {"rule.id": ["r1"]}},
        {"terms": {"origin": ["stream"]}},
    ]
    entity = query["filter"][4]["bool"]
    assert entity["minimum_should_match"] == 1 and entity["should"][1] == {
        "bool": {"filter": [{"term": {"entity.kind": "host"}}, {"term": {"entity.value": "ws01"}}]}}  # fmt: skip
    assert query["filter"][5] == {"range": {"first_seen": {"time_zone": "Asia/Shanghai", "gte": "now-1d"}}}
    assert body["sort"] == [{"first_seen": {"order": "desc", "unmapped_type": "keyword"}},
                            {"id": {"order": "asc", "unmapped_type": "keyword"}}]  # fmt: skip
    assert (body["size"], body["from"], body["track_total_hits"]) == (20, 40, True)


def test_alerts_aggregations() -> None:
    body = alerts_search(AlertSearch.model_validate({"agg": ["severity", "entity"], "agg_size": 5, "size": 0}), "UTC")
    assert body["aggs"]["severity"] == {"terms": {"field": "severity", "size": 5}}
    assert body["aggs"]["entity"]["aggs"]["value"] == {"terms": {"field": "entity.value", "size": 5}}
    assert body["query"]["bool"] == {"must": [{"match_all": {}}], "filter": []}


@pytest.mark.parametrize(
    ("params", "message"),
    [({"entity": ["alice"]}, "is not 'kind:value'"), ({"sort": "severity"}, "cannot sort on 'severity'"),
     ({"severity": "urgent"}, "severity"), ({"bogus": 1}, "bogus")],
)  # fmt: skip
def test_bad_alert_search_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AlertSearch.model_validate(params)
