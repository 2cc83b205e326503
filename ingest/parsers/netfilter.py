"""Packet-filter logs (dataset iptables.log) and generic key=value firewall lines (dataset firewall.log).

netfilter's LOG target writes `<prefix>IN=eth0 OUT= MAC=... SRC=... DST=... PROTO=TCP SPT=.. DPT=.. SYN`;
the prefix is whatever the admin configured (`[UFW BLOCK] `, `iptables DROP_INPUT: `, Ubiquiti's
`[WAN_LOCAL-default-D]`), so the verdict is read from words in it, never assumed.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]

SNIFF = re.compile(r"\bIN=\S* OUT=\S* ")
KV_SNIFF = re.compile(
    r"(?:^|\s)(?:srcip|src_ip)=\S+.*\s(?:dstip|dst_ip)=|(?:^|\s)date=\d{4}-\d\d-\d\d time=\d"
)

_UPTIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_NF_PAIR = re.compile(r"(?<![A-Z0-9_])([A-Z][A-Z0-9_]*)=(\S*)|\b([A-Z]{2,4})\b")
_DENY_WORDS = re.compile(r"DROP|DENY|DENIED|REJECT|BLOCK|(?:^|[-_])[DR]$", re.I)
_ALLOW_WORDS = re.compile(r"ACCEPT|ALLOW|PERMIT|PASS|(?:^|[-_])A$", re.I)
_TRANSPORTS = {"1": "icmp", "6": "tcp", "17": "udp", "47": "gre", "50": "esp", "58": "ipv6-icmp",
               "132": "sctp", "icmpv6": "ipv6-icmp"}  # fmt: skip
_NF_LABELS = ("TOS", "PREC", "TTL", "ID", "TC", "HOPLIMIT", "FLOWLBL", "WINDOW", "RES", "URGP", "TYPE",
              "CODE", "SEQ", "MARK", "PHYSIN", "PHYSOUT")  # fmt: skip


def netfilter_fields(hdr: SyslogHeader) -> Fields | None:
    return parse_netfilter_message(hdr.message)


def parse_netfilter_message(message: str) -> Fields | None:
    """ECS fields for the message part of a netfilter LOG line; None when it has no IN=/OUT= pairs."""
    message = _UPTIME.sub("", message)
    start = message.find("IN=")
    if start < 0:
        return None
    prefix = message[:start].strip().strip("[]:").strip()
    values: dict[str, str] = {}
    flags: list[str] = []
    for m in _NF_PAIR.finditer(message, start):
        if m.group(3):
            flags.append(m.group(3))
        else:
            values.setdefault(m.group(1), m.group(2))  # first wins: LEN/ID repeat for the UDP/ICMP header
    src_mac, dst_mac = _macs(values.get("MAC", ""))
    ingress, egress = values.get("IN") or None, values.get("OUT") or None
    src, dst = _ip(values.get("SRC")), _ip(values.get("DST"))
    labels = {f"iptables_{k.lower()}": values[k] for k in _NF_LABELS if values.get(k)}
    if flags:
        labels["iptables_flags"] = " ".join(flags)
    return {
        "event": {"category": ["network"], **_verdict(prefix)},
        "rule": {"name": prefix} if prefix else None,
        "observer": {"type": "firewall", "product": "netfilter", "ingress_interface": ingress,
                     "egress_interface": egress},  # fmt: skip
        "source": {"ip": src, "port": _int(values.get("SPT")), "mac": src_mac},
        "destination": {"ip": dst, "port": _int(values.get("DPT")), "mac": dst_mac},
        "network": {
            "transport": _transport(values.get("PROTO")),
            "type": _ip_version(src),
            "bytes": _int(values.get("LEN")),
            "packets": 1,
            "direction": _direction(ingress, egress),
        },
        "related": {"ip": [ip for ip in (src, dst) if ip]},
        "labels": labels,
    }


def _direction(ingress: str | None, egress: str | None) -> str | None:
    if bool(ingress) == bool(egress):  # forwarded (both) or unknown (neither)
        return None
    return "ingress" if ingress else "egress"


def _verdict(prefix: str) -> Fields:
    # Ubiquiti suffixes: -A accept, -D drop, -R reject; UFW: BLOCK/ALLOW/AUDIT; custom: DROP_INPUT...
    if _DENY_WORDS.search(prefix):
        return {"type": ["connection", "denied"], "action": "denied", "outcome": "failure"}
    if _ALLOW_WORDS.search(prefix):
        return {"type": ["connection", "allowed"], "action": "allowed", "outcome": "success"}
    return {"type": ["connection"]}


def _macs(raw: str) -> tuple[str | None, str | None]:
    octets = raw.split(":")
    if len(octets) < 12:
        return None, None
    fmt = "-".join  # ECS: upper case, hyphen separated
    return fmt(octets[6:12]).upper(), fmt(octets[:6]).upper()


def _transport(proto: str | None) -> str | None:
    return _TRANSPORTS.get(proto.lower(), proto.lower()) if proto else None


def _ip(value: str | None) -> str | None:
    """Canonical text (`2001:db8::1`), so related.ip joins across families; None when not an address."""
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def _ip_version(ip: str | None) -> str | None:
    try:
        return f"ipv{ipaddress.ip_address(ip).version}" if ip else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --- generic key=value firewalls (FortiGate, many appliances) --------------------------------------------

# Lookbehinds keep the scans linear on long tokens (a 64 KB token cost ~30 s without them).
_KV = re.compile(r'(?<![\w.-])([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_PRI = re.compile(r"^<\d{1,3}>")
# ECS field <- the vendor spellings seen for it; first present wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "source.ip": ("srcip", "src_ip", "src", "sip", "source_ip"),
    "destination.ip": ("dstip", "dst_ip", "dst", "dip", "destination_ip"),
    "source.port": ("srcport", "src_port", "sport", "spt", "s_port"),
    "destination.port": ("dstport", "dst_port", "dport", "dpt", "d_port"),
    "network.transport": ("proto", "protocol", "transport"),
    "action": ("action", "act", "fw_action", "disposition"),
    "rule.id": ("policyid", "rule_id", "ruleid", "policy_id"),
    "rule.name": ("policyname", "rule_name", "rulename", "rule", "policy"),
    "observer.name": ("devname", "device_name", "hostname"),
    "observer.ingress_interface": ("srcintf", "inif", "in_if", "inbound_if"),
    "observer.egress_interface": ("dstintf", "outif", "out_if", "outbound_if"),
    "user.name": ("user", "srcuser", "username", "unauthuser"),
    "source.bytes": ("sentbyte", "bytes_sent", "sent_bytes"),
    "destination.bytes": ("rcvdbyte", "bytes_recv", "rcvd_bytes"),
    "network.application": ("app", "service", "application"),
}
_KV_DENY = {"deny", "denied", "drop", "dropped", "block", "blocked", "reject", "rejected", "close-deny",
            "timeout"}  # fmt: skip
_KV_ALLOW = {"accept", "accepted", "allow", "allowed", "permit", "permitted", "pass", "close", "server-rst",
             "client-rst", "start"}  # fmt: skip


def kv_firewall_fields(hdr: SyslogHeader) -> Fields | None:
    values = _kv(hdr.message)
    if not values:
        return None
    fields = _kv_fields(values)
    if ts := _kv_timestamp(values, hdr.timestamp.tzinfo):
        fields["@timestamp"] = ts
    return fields


def parse_kv_firewall(raw: str, ctx: ParseContext) -> EcsEvent:
    """A `key=value ...` firewall line (e.g. FortiGate traffic), optionally after `<PRI>` or a syslog header.

    The record's own date=/time= (and tz=) or eventtime= give the time; ctx.zone when no offset is written.
    """
    values = _kv(_PRI.sub("", raw.strip()))
    if not values.keys() & {*ALIASES["source.ip"], *ALIASES["destination.ip"]}:
        raise ParseError(
            "not a key=value firewall line: no source/destination address key (srcip=, dstip=, src=...)"
        )
    timestamp = _kv_timestamp(values, ctx.zone)
    if timestamp is None:
        raise ParseError(
            "key=value firewall line has no usable time: expected date= and time=, or eventtime="
        )
    fields = _kv_fields(values)
    return build_event(ctx, parser="kv_firewall", category=Category.NETWORK, timestamp=timestamp, raw=raw,
                       dataset="firewall.log", message=values.get("msg"), **fields)  # fmt: skip


def _kv(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in _KV.finditer(text):
        value = m.group(2)
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.setdefault(m.group(1).lower(), value)
    return out


def _pick(values: dict[str, str], ecs: str) -> str | None:
    return next((values[k] for k in ALIASES[ecs] if values.get(k) not in (None, "", "N/A")), None)


def _kv_fields(values: dict[str, str]) -> Fields:
    action = (_pick(values, "action") or "").lower()
    verdict = (
        {"type": ["connection", "denied"], "action": "denied", "outcome": "failure"} if action in _KV_DENY
        else {"type": ["connection", "allowed"], "action": "allowed", "outcome": "success"}
        if action in _KV_ALLOW
        else {"type": ["connection"], "action": action or None}
    )  # fmt: skip
    raw_src, raw_dst = _pick(values, "source.ip"), _pick(values, "destination.ip")
    src, dst = _ip(raw_src), _ip(raw_dst)
    user = _pick(values, "user.name")
    return {
        "event": {"category": ["network"], **verdict},
        "source": {"ip": src, "address": None if src else raw_src, "port": _int(_pick(values, "source.port")),
                   "bytes": _int(_pick(values, "source.bytes"))},  # fmt: skip
        "destination": {"ip": dst, "address": None if dst else raw_dst,
                        "port": _int(_pick(values, "destination.port")),
                        "bytes": _int(_pick(values, "destination.bytes"))},  # fmt: skip
        "network": {"transport": _transport(_pick(values, "network.transport")), "type": _ip_version(src),
                    "application": (_pick(values, "network.application") or "").lower() or None},  # fmt: skip
        "rule": {"id": _pick(values, "rule.id"), "name": _pick(values, "rule.name")},
        "observer": {"type": "firewall", "name": _pick(values, "observer.name"),
                     "ingress_interface": _pick(values, "observer.ingress_interface"),
                     "egress_interface": _pick(values, "observer.egress_interface")},  # fmt: skip
        "user": {"name": user} if user else None,
        "related": {"ip": [ip for ip in (src, dst) if ip], "user": [user] if user else []},
        "labels": {k: values[k] for k in ("type", "subtype", "level", "logid", "sessionid") if values.get(k)},
    }


def _kv_timestamp(values: dict[str, str], default_zone: tzinfo | None) -> datetime | None:
    zone = _offset(values.get("tz")) or default_zone
    if values.get("date") and values.get("time") and zone is not None:
        try:
            return datetime.fromisoformat(f"{values['date']}T{values['time']}").replace(tzinfo=zone)
        except ValueError as exc:
            stamp = f"date={values['date']} time={values['time']}"
            raise ParseError(f"firewall {stamp} is not a valid time") from exc
    if (epoch := values.get("eventtime", "")).isdigit():
        digits = len(epoch)  # FortiOS writes seconds, or nanoseconds since 6.2
        return datetime.fromtimestamp(int(epoch) / 10 ** max(0, digits - 10), UTC)
    return None


def _offset(tz: str | None) -> timezone | None:
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", tz or "")
    if not m:
        return None
    delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3)))
    return timezone(delta if m.group(1) == "+" else -delta)
