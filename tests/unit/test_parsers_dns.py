"""DNS server logs: Infoblox-wrapped BIND (samplelogs/dns_bind), fail2ban's named-refused and nsd corpora."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.dns import parse_dns_file
from ingest.parsers.syslog import parse_syslog
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)
_FILE_LINE = re.compile(r"\d{2}-[A-Z][a-z]{2}-\d{4} |\[[\d\- :.]+\] nsd\[")


def parse(raw: str) -> EcsEvent:
    """How a normaliser routes these sources: the servers' own log files, else syslog."""
    return parse_dns_file(raw, CTX) if _FILE_LINE.match(raw) else parse_syslog(raw, CTX)


TEST_DNS_ACTIONS = [
    "dns-query",
    "dns-query",
    "dns-query",
    "dns-query",
    "dns-query",
    "dns-query-failed",
    "dns-query",
    None,
    "dns-query-rewritten",
    "dns-update",
    "dns-rpz-rewrite",
    "dns-notify",
    "dns-notify",
    "dns-zone-transfer-in",
    "dns-zone-transfer-in",
    "dns-zone-transfer",
    "dns-zone-transfer",
    None,
    None,
    None,
    None,
    "dns-query",
    "dns-query",
    "dns-query-failed",
    "dns-query",
    "dns-query",
    "dns-query",
    "dns-query",
]


@pytest.fixture(scope="module")
def infoblox() -> list[EcsEvent]:
    return [parse(row) for row in lines("samplelogs", "dns_bind", "test-dns.log")]


def test_infoblox_every_line(infoblox: list[EcsEvent]) -> None:
    assert [e.event.action for e in infoblox] == TEST_DNS_ACTIONS
    for event, action in zip(infoblox, TEST_DNS_ACTIONS, strict=True):
        # Server chatter (rpz reload, priming, DNSSEC validation) stays generic syslog.
        assert event.event.dataset == ("dns.query" if action else "syslog.generic")
        assert event.vigil.category == (Category.NETWORK if action else Category.SYSTEM)
        assert event.process and event.process.name == "named"


def test_infoblox_query_with_response(infoblox: list[EcsEvent]) -> None:
    answer, refused = infoblox[0], infoblox[1]
    assert answer.dns and answer.dns.question and answer.dns.question.name == "a1.foo.com"
    assert (answer.dns.question.type, answer.dns.question.class_) == ("A", "IN")
    assert (answer.dns.type, answer.dns.response_code, answer.event.outcome) == (
        "answer",
        "NOERROR",
        "success",
    )
    assert answer.dns.resolved_ip == ["0.0.0.0"]  # "foo.com" is not an address and is skipped
    assert answer.source and (answer.source.ip, answer.source.port) == ("192.168.0.1", 57398)
    assert answer.network and answer.network.transport == "udp"
    # BIND's own timestamp inside the message wins over the relay's syslog header.
    assert answer.timestamp == datetime(2022, 4, 7, 0, 8, 10, 43000, tzinfo=UTC)
    assert refused.dns and refused.dns.response_code == "REFUSED" and refused.event.outcome == "failure"
    two = infoblox[4]
    assert two.dns and two.dns.resolved_ip == ["192.168.0.2", "192.168.0.3"]


def test_infoblox_other_client_lines(infoblox: list[EcsEvent]) -> None:
    failed, query = infoblox[5], infoblox[6]
    assert failed.dns and failed.dns.response_code == "REFUSED" and failed.dns.question
    assert (failed.dns.question.name, failed.dns.question.type) == ("config.nos-avg.cz", "TXT")
    assert query.destination and query.destination.ip == "192.168.0.1" and query.labels["dns_flags"] == "+"
    update = infoblox[9]
    assert update.dns and update.dns.type == "update" and update.labels["dns_zone"] == "test1.com"
    assert update.dns.question and (update.dns.question.name, update.dns.question.type) == (
        "a6.test1.com",
        "A",
    )
    rpz = infoblox[10]
    assert rpz.rule and (rpz.rule.name, rpz.rule.id) == ("nxd1.com.rpz1.com", "QNAME")
    assert (
        rpz.dns and rpz.dns.question and (rpz.dns.question.name, rpz.dns.question.type) == ("nxd1.com", "A")
    )
    assert rpz.source and (rpz.source.ip, rpz.source.port) == ("192.168.0.1", 51424)
    axfr = infoblox[15]
    assert (
        axfr.dns
        and axfr.dns.question
        and (axfr.dns.question.name, axfr.dns.question.type) == ("test.com", "AXFR")
    )
    assert axfr.event.type == ["protocol", "start"]
    relayed = infoblox[24]  # "a1.foo.com 89.160.20.112 named[...]": relay address kept on the host
    assert relayed.host and relayed.host.name == "a1.foo.com" and relayed.host.ip == ["89.160.20.112"]
    assert relayed.dns and relayed.dns.question and relayed.dns.question.type == "PTR"
    viewed = infoblox[25]
    assert viewed.labels["dns_view"] == "12" and viewed.dns and viewed.dns.question
    assert viewed.dns.question.name == "settings-win.data.microsoft.com"
    chaos = infoblox[27]
    assert (
        chaos.dns
        and chaos.dns.question
        and (chaos.dns.question.name, chaos.dns.question.class_)
        == (
            "version.bind",
            "CH",
        )
    )


def test_named_refused_corpus() -> None:
    rows = lines("samplelogs", "fail2ban", "named-refused", skip_comments=True)
    assert len(rows) == 16
    expected_hosts = _annotated_hosts("named-refused")
    parsed = 0
    for row in rows:
        if row.startswith("atom named"):  # no timestamp, no PRI: not syslog (fail2ban reads it from journald)
            with pytest.raises(ParseError, match="no <PRI> and no timestamp"):
                parse(row)
            continue
        event = parse(row)
        parsed += 1
        assert event.event.dataset == "dns.query" and event.event.outcome == "failure", row
        assert event.event.action in ("dns-query-denied", "dns-zone-transfer-denied")
        assert event.source and event.source.ip == expected_hosts[row], row
    assert parsed == 15


def test_named_refused_details() -> None:
    rows = lines("samplelogs", "fail2ban", "named-refused", skip_comments=True)
    denied = parse(rows[0])
    assert (
        denied.dns
        and denied.dns.question
        and (denied.dns.question.name, denied.dns.question.type)
        == (
            "ricreig.com",
            "NS",
        )
    )
    root = parse(rows[5])
    assert (
        root.dns
        and root.dns.question
        and root.dns.question.name == "."
        and root.labels["dns_view"] == "external"
    )
    file_line = parse(rows[6])
    assert file_line.vigil.parser == "dns_file" and file_line.timestamp == datetime(
        2013, 8, 10, 19, 36, 11, 372000, tzinfo=UTC
    )
    assert file_line.dns and file_line.dns.question and file_line.dns.question.type == "AXFR"
    notauth = parse(rows[11])
    assert notauth.dns and notauth.dns.response_code == "NOTAUTH"
    assert notauth.event.reason == "non-authoritative zone"


def test_nsd_corpus() -> None:
    rows = lines("samplelogs", "fail2ban", "nsd", skip_comments=True)
    ratelimit, axfr_zone, axfr = (parse(row) for row in rows)
    assert (
        ratelimit.event.action == "dns-rate-limited"
        and ratelimit.source
        and ratelimit.source.ip == "192.0.2.105"
    )
    assert ratelimit.timestamp == datetime.fromtimestamp(1387288694, UTC)
    assert ratelimit.process and (ratelimit.process.name, ratelimit.process.pid) == ("nsd", 7745)
    assert axfr_zone.event.action == axfr.event.action == "dns-zone-transfer-denied"
    assert axfr_zone.dns and axfr_zone.dns.question and axfr_zone.dns.question.name == "domain.nl"
    assert axfr.source and axfr.source.ip == "192.0.2.32"
    assert axfr.timestamp == datetime(2021, 3, 4, 21, 25, 14, 562000, tzinfo=UTC)  # no offset: ctx zone


def test_dns_file_parser_rejects_other_text() -> None:
    with pytest.raises(ParseError, match="not a DNS server log-file line"):
        parse_dns_file("Nov 23 10:00:00 h named[1]: x", CTX)
    chatter = parse_dns_file(
        "23-Aug-2013 10:32:56.621 general: info: zone example.com/IN: loaded serial 1", CTX
    )
    assert chatter.event.dataset == "dns.log" and chatter.event.action is None


def test_dnsmasq_query() -> None:
    event = parse_syslog(
        "Nov 23 10:00:00 gw dnsmasq[812]: query[AAAA] updates.example.org from 10.0.0.23", CTX
    )
    assert event.event.action == "dns-query" and event.source and event.source.ip == "10.0.0.23"
    assert event.dns and event.dns.question and event.dns.question.type == "AAAA"


def _annotated_hosts(name: str) -> dict[str, str]:
    out, spec = {}, None
    for row in lines("samplelogs", "fail2ban", name):
        if row.strip().startswith("# failJSON:"):
            spec = json.loads(row.split(":", 1)[1])
        elif not row.lstrip().startswith("#"):
            if spec and spec.get("host"):
                out[row] = spec["host"]
            spec = None
    return out
