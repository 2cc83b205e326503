"""Web server error logs: loghub Apache_2k (Apache 2.2), fail2ban apache-* (2.2, 2.4, syslog-framed)
and the nginx error-log lines of fail2ban nginx-*.

Expected counts were measured with grep, independently of the parser (fail2ban: after `grep -v '^#'`):
  Apache_2k:   grep -c '\\] \\[notice\\] ' -> 1405, grep -c '\\] \\[error\\] ' -> 595,
               grep -c '\\[client ' -> 32
  apache-*:    lines grep -c . ; `[pid `: grep -c '\\[pid ' ; with a port:
               grep -cE '\\[(client|remote) (\\[[0-9a-f:]+\\]|[^]]*):[0-9]+\\]' ;
               AH codes: grep -cE '\\] AH[0-9]{5}: '
               syslog-framed: grep -cE '^[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} '
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.apache_error import apache_error_fields, nginx_error_fields, parse_apache_error
from ingest.parsers.base import ParseContext
from ingest.parsers.detect import detect_format
from ingest.parsers.syslog import parse_header
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_loghub_apache_2k() -> None:
    events = [parse_apache_error(row, CTX) for row in lines("loghub", "Apache", "Apache_2k.log")]
    assert len(events) == 2000
    assert Counter(e.log.level for e in events if e.log) == {"notice": 1405, "error": 595}
    assert sum(1 for e in events if e.source and e.source.ip) == 32
    assert all(e.event.dataset == "apache.error" and e.vigil.category == Category.SYSTEM for e in events)
    first = events[0]
    # Local time without offset: the configured zone (Asia/Shanghai, UTC+8) applies.
    assert first.timestamp == datetime(2005, 12, 3, 20, 47, 44, tzinfo=UTC)
    assert first.event.timezone == "Asia/Shanghai"
    assert first.message == "workerEnv.init() ok /etc/httpd/conf/workers2.properties"
    assert first.event.type == ["info"] and first.event.outcome is None
    forbidden = next(e for e in events if e.source)
    assert forbidden.source and forbidden.source.ip == "222.166.160.184"
    assert forbidden.message == "Directory index forbidden by rule: /var/www/html/"
    assert forbidden.event.type == ["error"] and forbidden.event.outcome == "failure"


# file -> (lines, own timestamp, syslog-framed, [pid ...], client with port, AH codes)
FAIL2BAN = {
    "apache-auth": (45, 41, 4, 25, 25, 23),
    "apache-botsearch": (19, 19, 0, 0, 0, 0),
    "apache-noscript": (13, 13, 0, 6, 5, 5),
}


@pytest.mark.parametrize("name", FAIL2BAN)
def test_fail2ban_apache_files(name: str) -> None:
    total, own, framed, with_pid, with_port, with_code = FAIL2BAN[name]
    rows = lines("samplelogs", "fail2ban", name, skip_comments=True)
    assert len(rows) == total
    by_family = Counter(detect_format(r) for r in rows)
    assert by_family == {k: v for k, v in {"apache_error": own, "syslog": framed}.items() if v}
    fields = []
    for row in rows:
        if detect_format(row) == "apache_error":
            e = parse_apache_error(row, CTX)
            assert e.log and e.log.level == "error" and e.event.dataset == "apache.error"
            fields.append(e.model_dump(exclude_none=True))
        else:  # ErrorLog syslog: the syslog parser routes httpd/apache2 messages to this hook
            hook = apache_error_fields(parse_header(row, CTX))
            assert hook is not None and hook["log"]["level"] == "error"
            fields.append(hook)
    assert sum(bool(f.get("process", {}).get("pid")) for f in fields) == with_pid
    assert sum(bool(f.get("source", {}).get("port")) for f in fields) == with_port
    assert sum(bool(f.get("event", {}).get("code")) for f in fields) == with_code


def test_apache_2_4_line_fields() -> None:
    rows = lines("samplelogs", "fail2ban", "apache-auth", skip_comments=True)
    e = parse_apache_error(rows[5], CTX)
    assert e.timestamp == datetime(2013, 7, 20, 13, 34, 49, 453232, tzinfo=UTC)
    assert e.log and (e.log.level, e.log.logger) == ("error", "access_compat")
    assert e.process and e.process.pid == 17512 and e.labels["apache_tid"] == "140123104306944"
    assert e.source and (e.source.ip, e.source.port) == ("127.0.0.1", 51380)
    assert e.event.code == "AH01797"
    assert e.message == "client denied by server configuration: /var/www/html/noentry/cant_get_me.html"
    v6 = parse_apache_error(rows[17], CTX)  # `[client [2001:db8::...]:51548]`
    assert v6.source and (v6.source.ip, v6.source.port) == ("2001:db8::80da:af6b:8b2c", 51548)
    assert v6.user and v6.user.name == "test-ipv6" and v6.event.category == ["web", "authentication"]
    v6_22 = parse_apache_error(rows[3], CTX)  # Apache 2.2: `[client 2001:db8::...]`, no port
    assert v6_22.source and (v6_22.source.ip, v6_22.source.port) == ("2001:db8::80da:af6b:8b2c", None)
    remote = parse_apache_error(rows[39], CTX)  # `[remote ...]`: the peer behind a proxy
    assert remote.source and remote.source.ip == "192.0.2.111"
    assert remote.user and remote.user.name == "whatever"
    referer = parse_apache_error(rows[34], CTX)
    assert (
        referer.http
        and referer.http.request
        and referer.http.request.referrer == "http://sj.hopto.org/management.html"
    )


def test_user_names_in_auth_failures() -> None:
    rows = lines("samplelogs", "fail2ban", "apache-auth", skip_comments=True)
    events = [parse_apache_error(r, CTX) for r in rows if detect_format(r) == "apache_error"]
    users = [e.user.name for e in events if e.user]
    # grep -cE '\] (AH[0-9]{5}: )?(Digest: |Authorization of )?user (`[^']+'|[^ :]+)( not found|:| in realm|
    # to access)' counts 19: minus the syslog-framed line (hook below) and minus line 1, where
    # "user root not found" is part of a requested path, not Apache's message: 17.
    assert len(users) == 17
    assert Counter(users) == {"username": 9, "test-ipv6": 2, "wrongusername": 2, "dsfasdf": 1, "root": 1,
                              "gg": 1, "whatever": 1}  # fmt: skip
    assert all(e.event.outcome == "failure" for e in events if e.user)
    injected = parse_apache_error(rows[0], CTX)
    assert injected.user is None and injected.source and injected.source.ip == "192.168.33.1"
    framed = apache_error_fields(parse_header(rows[-1], CTX))
    assert framed and framed["user"] == {"name": "wrongusername"} and framed["source"] == {"ip": "127.0.0.1"}


# file -> (lines, with a request line, with a user)
NGINX = {"nginx-http-auth": (18, 11, 10), "nginx-limit-req": (9, 9, 0)}


@pytest.mark.parametrize("name", NGINX)
def test_fail2ban_nginx_error_files(name: str) -> None:
    # measured: lines grep -c . ; request lines grep -c 'request: "' ; users grep -cE '\*[0-9]+ (PAM: )?user '
    total, with_request, with_user = NGINX[name]
    events = [parse_apache_error(r, CTX) for r in lines("samplelogs", "fail2ban", name, skip_comments=True)]
    assert len(events) == total
    assert all(e.event.dataset == "nginx.error" and e.process and e.process.pid for e in events)
    assert sum(1 for e in events if e.http and e.http.request and e.http.request.method) == with_request
    assert sum(1 for e in events if e.user) == with_user
    assert all(e.source and e.source.ip for e in events)


def test_nginx_line_fields() -> None:
    rows = lines("samplelogs", "fail2ban", "nginx-http-auth", skip_comments=True)
    e = parse_apache_error(rows[3], CTX)
    assert e.timestamp == datetime(2014, 4, 2, 4, 37, 58, tzinfo=UTC)
    assert e.log and e.log.level == "error" and e.process and e.process.pid == 6563
    assert e.labels["nginx_connection_id"] == "1861" and e.labels["nginx_server"] == "scribend.io"
    assert e.user and e.user.name == "scribendio" and e.event.outcome == "failure"
    assert e.source and e.source.ip == "10.0.2.2"
    assert e.http and e.http.request and (e.http.request.method, e.http.version) == ("GET", "1.1")
    assert e.http.request.referrer == "https://scribend.io/admin"
    assert e.url and (e.url.path, e.url.domain) == ("/admin", "scribend.io")
    prefixed = parse_apache_error(rows[7], CTX)  # `host nginx[983478]: 2023/12/09 ...`
    assert prefixed.host and prefixed.host.name == "host"
    assert prefixed.process and (prefixed.process.name, prefixed.process.pid) == ("nginx", 983478)
    assert prefixed.user and prefixed.user.name == "fakeusername"
    pam = parse_apache_error(rows[8], CTX)  # `host nginx[23141]: host nginx: 2025/...`: prefixes repeat
    assert pam.user and pam.user.name == "username" and pam.http and pam.http.version == "2.0"


def test_syslog_hooks_without_own_timestamp() -> None:
    raw = "<27>Jan  5 10:00:00 web1 nginx: [error] 123#0: *9 limiting requests, client: 192.0.2.9"
    hdr = parse_header(raw, CTX)
    fields = nginx_error_fields(hdr)
    assert fields and "@timestamp" not in fields and fields["source"] == {"ip": "192.0.2.9"}
    assert apache_error_fields(parse_header("Jan  5 10:00:00 web1 httpd: not an error line", CTX)) is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("[error] [client 127.0.0.1] user x not found", "no timestamp of its own"),
        ("[Sun Dec 04 04:47:44 2005] notice workerEnv.init() ok", "not a web server error-log line"),
        ("[Sun Feb 31 04:47:44 2005] [notice] x", "not a valid date"),
        ('127.0.0.1 - - [12/Apr/2018:09:48:40 +0200] "" 400 0 "-" "-"', "not a web server error-log line"),
    ],
)
def test_unparseable_lines_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_apache_error(raw, CTX)
