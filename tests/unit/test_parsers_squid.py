"""Squid native access.log: samplelogs/squid/access{1,4}.log and fail2ban/squid.

Expected counts were measured on the files, independently of the parser (fail2ban: after `grep -v '^#'`):
  lines grep -c . ; denied grep -c '_DENIED/' ; status >= 400 grep -cE ' [A-Z_]+/[45][0-9]{2} ' ;
  CONNECT grep -c ' CONNECT ' ; origin contacted grep -c ' DIRECT/' ; with a user awk 'NF && $8!="-"' ;
  bytes awk '{s+=$5} END {print s}'
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.squid import parse_squid
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)

# file -> (lines, denied, status >= 400, CONNECT, DIRECT/, with user, total bytes)
FILES = {
    ("squid", "access1.log"): (100, 15, 15, 9, 68, 85, 578214),
    ("squid", "access4.log"): (100, 0, 0, 89, 100, 0, 5714024),
    ("fail2ban", "squid"): (4, 3, 4, 1, 0, 0, 14930),
}


@pytest.mark.parametrize(("folder", "name"), FILES)
def test_every_line_parses(folder: str, name: str) -> None:
    total, denied, failed, connect, direct, users, size = FILES[(folder, name)]
    events = [parse_squid(row, CTX) for row in lines("samplelogs", folder, name, skip_comments=True)]
    assert len(events) == total
    assert sum("denied" in e.event.type for e in events) == denied
    assert sum(e.event.outcome == "failure" for e in events) == failed
    methods = [e.http.request.method for e in events if e.http and e.http.request]
    assert methods.count("CONNECT") == connect
    assert sum(1 for e in events if e.labels.get("squid_hierarchy_code") == "DIRECT") == direct
    assert sum(1 for e in events if e.destination and e.destination.ip) == direct
    assert sum(1 for e in events if e.user) == users
    assert sum(e.http.response.bytes or 0 for e in events if e.http and e.http.response) == size
    for e in events:
        assert e.event.dataset == "squid.access" and e.vigil.category == Category.NETWORK
        assert e.event.category == ["network", "web"] and e.event.action
        assert e.source and e.source.ip


def test_fields_of_a_cache_miss() -> None:
    raw = lines("samplelogs", "squid", "access1.log")[1]
    e = parse_squid(raw, CTX)
    assert e.timestamp == datetime(2006, 9, 8, 4, 22, 0, 327000, tzinfo=UTC)
    assert e.event.action == "TCP_MISS" and e.event.outcome == "success" and e.event.type == ["access"]
    assert e.source and e.source.ip == "10.105.21.199" and e.user and e.user.name == "badeyek"
    assert e.http and e.http.request and e.http.response and e.http.request.method == "GET"
    assert (e.http.response.status_code, e.http.response.bytes) == (200, 10182)
    assert e.url and (e.url.original, e.url.scheme, e.url.domain, e.url.path) == (
        "http://www.goonernews.com/",
        "http",
        "www.goonernews.com",
        "/",
    )
    assert e.destination and (e.destination.ip, e.destination.bytes) == ("207.58.145.61", 10182)
    assert e.labels == {"squid_elapsed_ms": "2864", "squid_hierarchy_code": "DIRECT",
                        "squid_content_type": "text/html"}  # fmt: skip
    assert e.related and e.related.ip == ["10.105.21.199", "207.58.145.61"] and e.related.user == ["badeyek"]


def test_connect_ipv6_client_and_denied_requests() -> None:
    tunnel = parse_squid(lines("samplelogs", "squid", "access4.log")[0], CTX)
    assert tunnel.source and tunnel.source.ip == "::1" and tunnel.user is None
    assert tunnel.url and (tunnel.url.domain, tunnel.url.port) == ("0.docs.google.com", 443)
    assert tunnel.labels["squid_elapsed_ms"] == "48016" and "squid_content_type" not in tunnel.labels
    rows = lines("samplelogs", "fail2ban", "squid", skip_comments=True)
    denied = parse_squid(rows[0], CTX)
    assert denied.event.action == "TCP_DENIED" and denied.event.type == ["access", "denied"]
    assert denied.event.outcome == "failure" and denied.destination is None
    assert denied.labels["squid_hierarchy_code"] == "HIER_NONE"
    not_allowed = parse_squid(rows[1], CTX)  # NONE/405 CONNECT error:method-not-allowed
    assert not_allowed.event.action == "NONE" and not_allowed.event.outcome == "failure"
    assert not_allowed.url and not_allowed.url.original == "error:method-not-allowed"


def test_extra_fields_and_hostname_peers() -> None:
    raw = "1700000000.123   7 client.lan TCP_MISS_ABORTED/000 0 GET http://a/ - FIRSTUP_PARENT/proxy2 - ua=x"
    e = parse_squid(raw, CTX)
    assert e.source and (e.source.address, e.source.ip) == ("client.lan", None)
    assert e.destination and e.destination.domain == "proxy2" and e.destination.ip is None
    assert e.http and e.http.response and e.http.response.status_code is None  # 000: no reply
    assert e.event.outcome == "failure" and e.labels["squid_extra"] == "ua=x"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("1286536309.450 2 10.0.0.1 TCP_MISS/200 1234 GET http://x/", "7 fields, expected at least 10"),
        ("yesterday 2 10.0.0.1 TCP_MISS/200 1234 GET http://x/ - DIRECT/1.2.3.4 -", "is not a Unix time"),
        ("1286536309.450 2 10.0.0.1 TCP_MISS 1234 GET http://x/ - DIRECT/1.2.3.4 -", "is not CODE/status"),
    ],
)
def test_unparseable_lines_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_squid(raw, CTX)
