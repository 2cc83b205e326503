"""netfilter LOG lines (samplelogs/iptables: plain iptables, IPv6, Ubiquiti EdgeOS) and key=value firewalls.

The FortiGate-style key=value lines below are GENERATED in FortiOS 7.x traffic-log shape (the shared
datasets hold no such firewall log).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.netfilter import parse_kv_firewall
from ingest.parsers.syslog import parse_syslog
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_iptables_file() -> None:
    events = [parse_syslog(row, CTX) for row in lines("samplelogs", "iptables", "iptables.log")]
    assert len(events) == 12
    assert all(e.event.dataset == "iptables.log" and e.vigil.category == Category.NETWORK for e in events)
    drops = events[:10]
    assert all(e.event.action == "denied" and e.event.outcome == "failure" for e in drops)
    assert all(e.rule and e.rule.name == "iptables DROP_INPUT" for e in drops)
    first = drops[0]
    assert first.source and (first.source.ip, first.source.port, first.source.mac) == (
        "203.0.113.36",
        17805,
        "90-10-9E-EC-2C-71",
    )
    assert first.destination and (first.destination.ip, first.destination.port) == ("172.16.54.114", 445)
    assert first.destination.mac == "90-10-35-5A-1E-3A"
    assert first.network and (first.network.transport, first.network.type, first.network.bytes) == (
        "tcp",
        "ipv4",
        52,
    )
    assert first.network.direction == "ingress"
    assert (
        first.observer
        and first.observer.ingress_interface == "eth0"
        and first.observer.egress_interface is None
    )
    assert first.labels["iptables_flags"] == "DF SYN" and first.labels["iptables_ttl"] == "115"
    assert first.related and first.related.ip == ["203.0.113.36", "172.16.54.114"]
    assert first.timestamp == datetime(2026, 1, 7, 19, 37, 9, tzinfo=UTC)
    # Untagged lines with a Ubiquiti-style rule prefix ("-A": accept); UDP and ICMP repeat LEN/ID.
    udp, icmp = events[10:]
    assert (
        udp.process is None
        and udp.rule
        and udp.rule.name == "SOMETHING-1234-A"
        and udp.event.action == "allowed"
    )
    assert udp.network and udp.network.bytes == 32 and udp.source and udp.source.port == 9000
    assert icmp.network and icmp.network.transport == "icmp" and icmp.labels["iptables_type"] == "8"
    assert icmp.labels["iptables_id"] == "6789"


def test_iptables_ipv6_file() -> None:
    events = [parse_syslog(row, CTX) for row in lines("samplelogs", "iptables", "ipv6.log")]
    assert len(events) == 11
    for event in events:
        assert event.event.dataset == "iptables.log" and event.event.action is None and event.rule is None
        assert event.network and (event.network.type, event.network.transport) == ("ipv6", "ipv6-icmp")
        assert event.network.direction == "egress"
        assert event.source and event.source.ip and ":" in event.source.ip
    assert events[0].source and events[0].source.ip == "2001:db8::1"  # canonical form
    assert events[0].labels["iptables_hoplimit"] == "64" and events[0].labels["iptables_type"] == "128"
    assert events[-1].source and events[-1].source.mac == "90-10-AA-BB-CC-DD"  # MAC longer than 14 octets
    assert events[-1].labels["iptables_mark"] == "0xd4"


def test_ubiquiti_file() -> None:
    events = [parse_syslog(row, CTX) for row in lines("samplelogs", "iptables", "ubiquiti.log")]
    assert [(e.rule.name if e.rule else None, e.event.action) for e in events] == [
        ("LAN_LOCAL-default-A", "allowed"),
        ("WAN_OUT-2000-A", "allowed"),
        ("source-dest-default-D", "denied"),
        ("WAN_OUT-2000-A", "allowed"),
        ("WAN_OUT-2000-A", "allowed"),
    ]
    assert events[1].labels["iptables_flags"] == "DF ACK PSH"
    assert events[1].observer and events[1].observer.egress_interface == "eth2"


@pytest.mark.parametrize(
    ("prefix", "action"),
    [
        ("[UFW BLOCK] ", "denied"),
        ("[UFW ALLOW] ", "allowed"),
        ("[UFW AUDIT] ", None),
        ("REJECT-IN: ", "denied"),
        ("[WAN_LOCAL-default-D]", "denied"),
        ("fw-accept ", "allowed"),
    ],
)
def test_prefix_verdicts(prefix: str, action: str | None) -> None:
    packet = "IN=eth0 OUT= SRC=10.0.0.9 DST=10.0.0.1 LEN=60 PROTO=TCP SPT=1 DPT=22"
    raw = f"Nov 23 10:00:00 gw kernel: [  307.7] {prefix}{packet}"
    assert parse_syslog(raw, CTX).event.action == action


# GENERATED FortiGate traffic logs (see module docstring).
FORTI_DENY = (
    '<189>date=2026-11-23 time=10:11:12 devname="FGT-HQ" devid="FG100F0000000001" '
    'eventtime=1795399872123456789 tz="+0800" logid="0000000013" type="traffic" subtype="forward" '
    'level="notice" vd="root" srcip=10.20.30.40 srcport=51234 srcintf="port1" dstip=203.0.113.9 dstport=3389 '
    'dstintf="wan1" sessionid=8812 proto=6 action="deny" policyid=0 policyname="implicit deny" service="RDP" '
    'user="alice" sentbyte=0 rcvdbyte=0 msg="Denied by \\"policy\\""'
)
FORTI_ACCEPT = (
    "date=2026-11-23 time=10:12:00 devname=FGT-HQ srcip=10.20.30.41 srcport=50000 dstip=8.8.8.8 dstport=53 "
    "proto=17 action=accept policyid=12 service=DNS sentbyte=64 rcvdbyte=128"
)


def test_kv_firewall_deny() -> None:
    event = parse_kv_firewall(FORTI_DENY, CTX)
    assert event.event.dataset == "firewall.log" and event.vigil.category == Category.NETWORK
    assert (event.event.action, event.event.outcome, event.event.type) == (
        "denied",
        "failure",
        ["connection", "denied"],
    )
    assert event.timestamp == datetime(2026, 11, 23, 2, 11, 12, tzinfo=UTC)  # tz="+0800" honoured
    assert event.source and (event.source.ip, event.source.port) == ("10.20.30.40", 51234)
    assert event.destination and (event.destination.ip, event.destination.port) == ("203.0.113.9", 3389)
    assert event.network and (event.network.transport, event.network.application) == ("tcp", "rdp")
    assert event.rule and (event.rule.id, event.rule.name) == ("0", "implicit deny")
    assert event.observer and (event.observer.name, event.observer.ingress_interface) == ("FGT-HQ", "port1")
    assert event.user and event.user.name == "alice" and event.vigil.entity == "user:alice"
    assert event.message == 'Denied by "policy"'
    assert event.labels["subtype"] == "forward"


def test_kv_firewall_accept_without_tz_uses_ctx_zone_and_syslog_wrapping() -> None:
    event = parse_kv_firewall(FORTI_ACCEPT, CTX)
    assert event.timestamp == datetime(2026, 11, 23, 2, 12, tzinfo=UTC)
    assert (event.event.action, event.network and event.network.transport) == ("allowed", "udp")
    assert event.source and event.source.bytes == 64 and event.destination and event.destination.bytes == 128
    wrapped = parse_syslog(f"Nov 23 10:12:01 fgt-hq {FORTI_ACCEPT}", CTX)
    assert wrapped.event.dataset == "firewall.log" and wrapped.event.action == "allowed"
    assert wrapped.timestamp == event.timestamp  # the record's own date/time wins over the syslog header


def test_kv_firewall_epoch_and_errors() -> None:
    event = parse_kv_firewall("eventtime=1795399872 src=10.0.0.1 dst=10.0.0.2 act=drop", CTX)
    assert event.timestamp == datetime.fromtimestamp(1795399872, UTC) and event.event.action == "denied"
    with pytest.raises(ParseError, match="no source/destination"):
        parse_kv_firewall("date=2026-11-23 time=10:00:00 foo=bar", CTX)
    with pytest.raises(ParseError, match="no usable time"):
        parse_kv_firewall("srcip=10.0.0.1 dstip=10.0.0.2 action=deny", CTX)
