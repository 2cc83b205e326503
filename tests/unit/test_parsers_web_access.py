"""Access logs (CLF/Combined): samplelogs/apache, samplelogs/nginx and the access lines of fail2ban/nginx-*.

Expected counts were measured with grep on the files, independently of the parser:
  lines:    grep -c .                                      (fail2ban: after `grep -v '^#'`)
  failures: grep -cE '" [45][0-9]{2} '                     (status >= 400)
  no HTTP request line: grep -cE '\\] "(-|)" '
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.apache_error import parse_apache_error
from ingest.parsers.base import ParseContext
from ingest.parsers.detect import detect_format
from ingest.parsers.web_access import parse_access, parse_nginx_access
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)

# file -> (lines, status >= 400, lines without an HTTP request line)
FILES = {
    ("apache", "apache-combined.log"): (5, 0, 0),
    ("apache", "darwin-2.4.23.log"): (6, 4, 1),
    ("apache", "test.log"): (7, 5, 2),
    ("nginx", "access.log"): (13, 8, 0),
    ("nginx", "test.log"): (7, 3, 1),
}


@pytest.mark.parametrize(("folder", "name"), FILES)
def test_every_line_of_the_access_samples_parses(folder: str, name: str) -> None:
    parse = parse_nginx_access if folder == "nginx" else parse_access
    events = [parse(row, CTX) for row in lines("samplelogs", folder, name)]
    total, failures, no_request = FILES[(folder, name)]
    assert len(events) == total
    assert sum(e.event.outcome == "failure" for e in events) == failures
    assert sum(e.http is None or e.http.request is None or e.http.request.method is None for e in events) == (
        no_request
    )
    for e in events:
        assert e.event.dataset == f"{folder}.access" and e.vigil.category == Category.NETWORK
        assert e.event.category == ["web"] and e.event.type == ["access"]
        assert e.source and (e.source.ip or e.source.address)
        assert e.http and e.http.response and e.http.response.status_code


def test_combined_line_fields() -> None:
    raw = lines("samplelogs", "apache", "apache-combined.log")[0]
    e = parse_access(raw, CTX)
    assert e.timestamp == datetime(2018, 3, 23, 12, 31, 1, tzinfo=UTC)
    assert e.source and e.source.ip == "192.168.1.23" and e.user is None
    assert e.http and e.http.request and e.http.response
    assert (e.http.request.method, e.http.version, e.http.request.referrer) == (
        "GET",
        "1.1",
        "https://fubarservice.example.com/",
    )
    assert (e.http.response.status_code, e.http.response.bytes) == (200, 28)
    assert e.url and (e.url.original, e.url.path, e.url.query) == ("/api/config", "/api/config", None)
    assert e.user_agent and e.user_agent.original == "libcurl"
    assert e.event.outcome == "success" and e.event.original == raw


def test_dash_size_ipv6_and_missing_request() -> None:
    rows = lines("samplelogs", "apache", "darwin-2.4.23.log")
    not_modified = parse_access(lines("samplelogs", "apache", "apache-combined.log")[4], CTX)
    assert not_modified.http and not_modified.http.response and not_modified.http.response.bytes is None
    ipv6 = parse_access(rows[0], CTX)
    assert ipv6.source and ipv6.source.ip == "::1"
    assert ipv6.timestamp == datetime(2016, 12, 26, 14, 16, 28, tzinfo=UTC)  # +0200 honoured
    timeout = parse_access(rows[2], CTX)  # `"-" 408 -`: the client never sent a request
    assert timeout.http and timeout.http.request is None and timeout.url is None
    assert timeout.event.outcome == "failure" and "http_request_invalid" not in timeout.tags


def test_nginx_variants() -> None:
    rows = lines("samplelogs", "nginx", "test.log")
    hostname_client = parse_access(lines("samplelogs", "apache", "test.log")[4], CTX)
    assert hostname_client.source and hostname_client.source.ip is None
    assert hostname_client.source.address == "monitoring-server"
    assert hostname_client.labels["access_extra"] == '"-"'  # nginx's trailing $http_x_forwarded_for
    vhost = parse_nginx_access(lines("samplelogs", "nginx", "access.log")[12], CTX)
    assert vhost.destination and vhost.destination.domain == "lessons.example.com"
    assert vhost.source and vhost.source.ip == "192.168.0.1"
    assert vhost.http and vhost.http.response and vhost.http.response.bytes == 7648063
    private_chain = parse_nginx_access(rows[0], CTX)  # all private: the first address
    assert private_chain.source and private_chain.source.ip == "10.0.0.2"
    assert private_chain.labels["access_client_list"] == "10.0.0.2, 10.0.0.1, 127.0.0.1"
    public_in_chain = parse_nginx_access(rows[2], CTX)  # the first public address is the client
    assert public_in_chain.source and public_in_chain.source.ip == "85.181.35.98"
    quoted_xff = parse_nginx_access(rows[4], CTX)
    assert quoted_xff.source and quoted_xff.source.ip == "199.96.1.1"
    assert quoted_xff.url and (quoted_xff.url.path, quoted_xff.url.query) == ("/assets/xxxx", "q=100")
    v6_chain = parse_nginx_access(rows[5], CTX)
    assert v6_chain.source and v6_chain.source.ip == "2a03:0:10ff:f00f::8000"  # canonical form
    assert v6_chain.related and "10.2.2.121" in v6_chain.related.ip
    empty_request = parse_nginx_access(rows[6], CTX)
    assert empty_request.http and empty_request.http.response
    assert empty_request.http.response.status_code == 400


def test_tls_bytes_instead_of_a_request_line_are_kept() -> None:
    raw = r'203.0.113.9 - - [10/Oct/2024:13:55:36 -0700] "\x16\x03\x01\x02" 400 226 "-" "-"'
    e = parse_access(raw, CTX)
    assert e.http and e.http.request is None and e.http.response and e.http.response.status_code == 400
    assert e.labels["http_request_line"] == r"\x16\x03\x01\x02" and e.tags == ["http_request_invalid"]
    assert e.event.outcome == "failure"


def test_user_vhost_with_port_request_time_and_proxy_target() -> None:
    raw = (
        "www.example.com:443 198.51.100.7 - alice [10/Oct/2024:13:55:36 +0000] "
        '"GET http://evil.example:8080/x?y=1 HTTP/1.0" 502 - "-" "curl/8.0" 0.004'
    )
    e = parse_access(raw, CTX)
    assert e.user and e.user.name == "alice" and e.related and e.related.user == ["alice"]
    assert e.destination and (e.destination.domain, e.destination.port) == ("www.example.com", 443)
    assert e.url and (e.url.scheme, e.url.domain, e.url.port, e.url.path, e.url.query) == (
        "http",
        "evil.example",
        8080,
        "/x",
        "y=1",
    )
    assert e.labels["access_extra"] == "0.004" and e.event.outcome == "failure"


def test_fail2ban_nginx_botsearch_routes_access_and_error_lines() -> None:
    # measured: 8 access lines (grep -cE '^[0-9.]+ - \S+ \['), 6 nginx error-log lines (4 bare, 2 after
    # a `host nginx[pid]: ` prefix)
    routed = {"apache_access": 0, "apache_error": 0}
    rows = lines("samplelogs", "fail2ban", "nginx-botsearch", skip_comments=True)
    for row in rows:
        family = detect_format(row)
        routed[family] += 1
        if family == "apache_access":
            e = parse_nginx_access(row, CTX)
            assert e.event.dataset == "nginx.access" and e.http and e.http.response
            assert e.http.response.status_code == 404
        else:
            assert parse_apache_error(row, CTX).event.dataset == "nginx.error"
    assert routed == {"apache_access": 8, "apache_error": 6}
    users = [parse_nginx_access(r, CTX).user for r in rows[6:8]]
    assert [u.name if u else None for u in users] == ["root", "tomcat"]


@pytest.mark.parametrize("name", ["nginx-http-auth", "nginx-limit-req"])
def test_fail2ban_nginx_files_hold_only_error_log_lines(name: str) -> None:
    rows = lines("samplelogs", "fail2ban", name, skip_comments=True)
    assert rows and all(detect_format(r) == "apache_error" for r in rows)
    for row in rows:
        with pytest.raises(ParseError, match="error-log line"):
            parse_access(row, CTX)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not an access-log line"),
        ('127.0.0.1 - - [2024-01-01T00:00:00Z] "GET / HTTP/1.1" 200 1', "not an access-log line"),
        ('127.0.0.1 - - [32/Foo/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1', "not a valid date"),
        ('127.0.0.1 - - [31/Feb/2024:00:00:00 +0000] "GET / HTTP/1.1" 200 1', "not a valid date"),
        ("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok", "use apache_error"),
    ],
)
def test_unparseable_lines_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_access(raw, CTX)
