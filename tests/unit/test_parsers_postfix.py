"""Mail logs: samplelogs/postfix (one real delivery flow), fail2ban's postfix and sendmail-reject corpora."""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.syslog import parse_syslog
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


@pytest.fixture(scope="module")
def flow() -> list[EcsEvent]:
    return [parse_syslog(row, CTX) for row in lines("samplelogs", "postfix", "postfix.log")]


def test_postfix_flow_actions(flow: list[EcsEvent]) -> None:
    assert len(flow) == 21
    assert all(e.event.dataset == "postfix.log" and e.vigil.category == Category.USER for e in flow)
    assert [e.event.action for e in flow] == [
        "smtp-disconnect",
        "mail-queued",
        "mail-delivery",
        "mail-delivery",
        "mail-delivery",
        "mail-removed",
        "smtp-connect",
        "smtp-tls",
        "smtp-tls",
        "smtp-client",
        "message-id",
        "mail-queued",
        "smtp-disconnect",
        "mail-submitted",
        "message-id",
        "mail-delivery",
        "mail-queued",
        "mail-delivery",
        "mail-removed",
        "mail-delivery",
        "mail-removed",
    ]


def test_postfix_message_is_reassembled_by_queue_id(flow: list[EcsEvent]) -> None:
    message = [e for e in flow if e.email and e.email.local_id == "4B80DE08044"]
    assert [e.event.action for e in message] == [
        "smtp-client",
        "message-id",
        "mail-queued",
        "mail-delivery",
        "mail-delivery",
        "mail-removed",
    ]
    client, msgid, queued, local, remote, _ = message
    assert client.source and (client.source.ip, client.source.domain) == (
        "192.168.4.150",
        "stegosaurus.dinos.test",
    )
    assert client.user and client.user.name == "triceratops" and client.labels["sasl_method"] == "PLAIN"
    assert client.event.category == ["email", "authentication"] and client.event.outcome == "success"
    assert (
        msgid.email and msgid.email.message_id == "gondwana.LRH.2.11.1409210944216.21048@ceratops.dinos.test"
    )
    assert queued.email and queued.email.from_ and queued.email.from_.address == ["triceratops@dinos.test"]
    assert queued.email.size == 2703 and queued.labels["email_recipient_count"] == "2"
    assert local.email and local.email.to and local.email.to.address == ["trex@dinos.test"]
    assert local.labels["email_orig_to"] == "tyrannosaurus.rex@dinos.test"
    assert local.destination and local.destination.domain == "dovecot" and local.destination.ip is None
    assert remote.destination and (remote.destination.ip, remote.destination.port) == ("192.168.9.10", 25)
    assert remote.event.outcome == "success" and remote.event.reason == "250 Ok: queued as CC3B0C8122"
    assert remote.process and remote.process.name == "postfix/smtp"


def test_postfix_large_message_size(flow: list[EcsEvent]) -> None:
    big = flow[1]
    assert big.email and big.email.size == 179692 and big.email.local_id == "ED36AD08054"
    assert big.timestamp == datetime(2026, 1, 31, 1, 50, 2, tzinfo=UTC)


def test_fail2ban_postfix_corpus() -> None:
    events, hosts = _corpus("postfix")
    assert len(events) == 63
    assert Counter(e.event.action for e, _ in events) == Counter(
        {
            "smtp-reject": 26,
            "smtp-auth": 14,
            "smtp-protocol-error": 12,
            "smtp-disconnect": 4,
            "smtp-postscreen": 4,
            "smtp-rate-limited": 2,
            "smtp-dns-mismatch": 1,
        }
    )
    assert hosts == 58


def test_postfix_reject_details() -> None:
    raw = (
        "Jul 12 07:47:48 saturn postfix/smtpd[8738]: NOQUEUE: reject: RCPT from "
        "1-2-3-4-example.com[1.2.3.4]: 554 "
        "5.7.1 <smtp@example.com>: Relay access denied; from=<john@example.com> to=<smtp@example.org> "
        "proto=SMTP "
        "helo=<198.51.100.17>"
    )
    event = parse_syslog(raw, CTX)
    assert (event.event.action, event.event.outcome, event.event.type) == (
        "smtp-reject",
        "failure",
        ["denied"],
    )
    assert event.event.reason == "<smtp@example.com>: Relay access denied"
    assert event.email and event.email.from_ and event.email.from_.address == ["john@example.com"]
    assert event.email.to and event.email.to.address == ["smtp@example.org"] and event.email.local_id is None
    assert event.labels == {"smtp_command": "RCPT", "smtp_code": "554", "smtp_helo": "198.51.100.17"}
    sasl = parse_syslog(
        "Nov  4 09:11:01 mail postfix/smtpd[1234]: warning: unknown[192.0.2.152]: SASL LOGIN "
        "authentication failed: "
        "(reason unavailable), sasl_username=admin",
        CTX,
    )
    assert sasl.event.category == ["authentication"] and sasl.user and sasl.user.name == "admin"
    assert sasl.source and sasl.source.ip == "192.0.2.152" and sasl.source.domain is None


def test_postfix_bounce_and_deferral() -> None:
    base = (
        "Nov 23 10:00:00 mx postfix/smtp[1]: 3F2A1C0042: to=<bob@partner.example>, "
        "relay=mx.partner.example[198.51.100.7]:25"
    )
    bounced = parse_syslog(f"{base}, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (user unknown)", CTX)
    deferred = parse_syslog(f"{base}, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (timed out)", CTX)
    assert (bounced.event.outcome, bounced.labels["delivery_status"]) == ("failure", "bounced")
    assert (deferred.event.outcome, deferred.labels["delivery_status"]) == (None, "deferred")


def test_sendmail_reject_corpus() -> None:
    events, hosts = _corpus("sendmail-reject")
    assert len(events) == 45
    assert all(e.event.dataset == "sendmail.log" for e, _ in events)
    assert Counter(e.event.action for e, _ in events) == Counter(
        {
            "smtp-reject": 34,
            "smtp-no-transaction": 7,
            "mail-queued": 3,
            "smtp-protocol-error": 1,
        }
    )
    assert hosts == 37
    relay = events[0][0]
    assert relay.email and relay.email.to and relay.email.to.address == ["asservnew@freemailhost.ru"]
    assert relay.email.local_id == "s1P819mk027713" and relay.labels["smtp_ruleset"] == "check_rcpt"
    assert relay.source and relay.source.ip == "128.68.136.133"
    queued = next(e for e, _ in events if e.event.action == "mail-queued")
    assert queued.email and queued.email.size == 0 and queued.email.from_
    assert queued.email.from_.address == ["davaojk25@domain.com"]


def _corpus(name: str) -> tuple[list[tuple[EcsEvent, str]], int]:
    """Parse a fail2ban file; check source against its failJSON host annotations; return the number "
    "checked."""
    events, checked, spec = [], 0, None
    for row in lines("samplelogs", "fail2ban", name):
        if row.strip().startswith("# failJSON:"):
            spec = json.loads(row.split(":", 1)[1])
            continue
        if row.lstrip().startswith("#"):
            continue
        event = parse_syslog(row, CTX)
        events.append((event, row))
        if spec and spec.get("match") and spec.get("host"):
            checked += 1
            expected = str(ipaddress.ip_address(spec["host"]))
            assert event.source and expected in (event.source.ip, event.source.domain), row
        spec = None
    assert len(events) == len(lines("samplelogs", "fail2ban", name, skip_comments=True))
    return events, checked
