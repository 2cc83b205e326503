"""DNS server logs (dataset dns.query): BIND/named (incl. Infoblox NIOS), nsd, dnsmasq.

Through syslog (`dns_fields`) or from the servers' own log files (`parse_dns_file`). Only client-facing
lines (queries, denials, zone transfers, updates, RPZ rewrites, rate limits) are DNS events; a server's
operational chatter (`resolver priming query complete`) stays a generic syslog event.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]

PROGRAMS = ("named", "bind", "nsd", "dnsmasq")
SNIFF = re.compile(r"\bclient (?:@0x[0-9a-f]+ )?[0-9A-Fa-f.:]+#\d+")

_BIND_TIME = re.compile(r"(\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) ")
_PREFIXES = re.compile(r"(?:[a-z][\w-]*: ){1,2}")  # BIND category / severity: `query-errors: info: `
_CLIENT = re.compile(
    r"client (?:@0x[0-9a-f]+ )?(?P<cip>[0-9A-Fa-f.:]+)#(?P<cport>\d+)(?: \([^)]*\))?:? "
    r"(?:view (?P<view>[^:]+): )?(?:(?P<transport>UDP|TCP): )?"
)
_RPZ = re.compile(
    r"rpz (?P<trigger>\S+) (?P<policy>\S+) rewrite (?P<name>[^\s/]+)(?:/(?P<type>\w+)/(?P<class>\w+)"
    r"| \[(?P<type2>\w+)\]) via (?P<via>[^\s\"]+)"
)
_CEF_SRC, _CEF_SPT = re.compile(r"\bsrc=(\S+)"), re.compile(r"\bspt=(\d+)")
_FILE_BIND = re.compile(r"(?P<ts>\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}(?:\.\d{1,6})?) (?P<msg>.*)")
_FILE_NSD = re.compile(
    r"\[(?P<ts>\d{9,11}|\d{4}-\d{2}-\d{2} [\d:.]+)\] (?P<prog>[\w-]+)\[(?P<pid>\d+)\]: (?P<msg>.*)"
)


def dns_fields(hdr: SyslogHeader) -> Fields | None:
    return dns_message_fields(hdr.message, hdr.timestamp.tzinfo)


def parse_dns_file(raw: str, ctx: ParseContext) -> EcsEvent:
    """A line of BIND's file channel (`23-Aug-2013 10:32:56.621 client ...`) or of nsd's log file."""
    text = raw.strip()
    process = None
    if m := _FILE_BIND.match(text):
        timestamp, message = _bind_time(m.group("ts"), ctx.zone), m.group("msg")
    elif m := _FILE_NSD.match(text):
        ts = m.group("ts")
        timestamp = (
            datetime.fromtimestamp(int(ts), UTC)
            if ts.isdigit()
            else datetime.fromisoformat(ts).replace(tzinfo=ctx.zone)
        )
        message, process = m.group("msg"), {"name": m.group("prog"), "pid": int(m.group("pid"))}
    else:
        raise ParseError(
            "not a DNS server log-file line: expected a BIND 'dd-Mon-yyyy hh:mm:ss.mmm' or nsd '[time]' start"
        )
    fields = dns_message_fields(message, ctx.zone)
    dataset = "dns.query" if fields else "dns.log"
    fields = fields or {"event": {"category": ["network"], "type": ["info"]}}
    timestamp = fields.pop("@timestamp", timestamp)
    return build_event(
        ctx, parser="dns_file", category=Category.NETWORK if fields.get("dns") else Category.SYSTEM,
        timestamp=timestamp, raw=raw, dataset=dataset, message=message, process=process, **fields,
    )  # fmt: skip


def dns_message_fields(message: str, zone: tzinfo | None) -> Fields | None:
    """ECS fields for a DNS server message, or None when it is not about a client or zone operation."""
    embedded = None
    if m := _BIND_TIME.match(message):  # Infoblox repeats BIND's own, more precise, time inside the message
        embedded, message = _bind_time(m.group(1), zone), message[m.end():]
    message = _PREFIXES.sub("", message, count=1) if _PREFIXES.match(message) else message
    client = _CLIENT.search(message)
    body = message[client.end():] if client else message
    for pattern, build in _CLIENT_RULES if client else _SERVER_RULES:
        if m := (pattern.search(body) if pattern is _RPZ else pattern.match(body)):
            fields = build(m)
            if client:
                _add_client(fields, client)
            if embedded:
                fields["@timestamp"] = embedded
            return fields
    if client:  # a client line we do not model in detail still names the client
        fields = _dns(None, None, None)
        _add_client(fields, client)
        return fields
    return None


def _bind_time(value: str, zone: tzinfo | None) -> datetime:
    try:
        fmt = "%d-%b-%Y %H:%M:%S.%f" if "." in value else "%d-%b-%Y %H:%M:%S"
        return datetime.strptime(value, fmt).replace(tzinfo=zone)
    except ValueError as exc:
        raise ParseError(f"BIND timestamp {value!r} is not a valid date: {exc}") from exc


def _dns(action: str | None, outcome: str | None, m: re.Match[str] | None, *types: str,
         dns_type: str = "query", rcode: str | None = None, qtype: str | None = None) -> Fields:  # fmt: skip
    groups = m.groupdict() if m else {}
    question = {"name": groups.get("name"), "type": qtype or groups.get("type") or groups.get("type2"),
                "class": groups.get("class")}  # fmt: skip
    ip = _ip(groups.get("peer"))
    return {
        "event": {"category": ["network"], "type": list(types or ("protocol",)), "action": action,
                  "outcome": outcome, "reason": groups.get("reason")},  # fmt: skip
        "dns": {"type": dns_type if action else None, "question": question,
                "response_code": rcode or groups.get("rcode")},  # fmt: skip
        "network": {"protocol": "dns"},
        "source": {"ip": ip, "port": _int(groups.get("pport"))} if ip else None,
        "related": {"ip": [ip] if ip else []},
        "labels": {"dns_zone": groups["zone"]} if groups.get("zone") else {},
    }


def _add_client(fields: Fields, client: re.Match[str]) -> None:
    ip = _ip(client.group("cip"))
    fields["source"] = {"ip": ip, "port": _int(client.group("cport"))}
    fields["related"]["ip"].insert(0, ip)
    if client.group("transport"):
        fields["network"]["transport"] = client.group("transport").lower()
    if client.group("view"):
        fields["labels"]["dns_view"] = client.group("view")


def _query(m: re.Match[str]) -> Fields:
    if m.group("rcode"):  # Infoblox query+response logging
        fields = _dns("dns-query", "success" if m.group("rcode") == "NOERROR" else "failure", m, "protocol",
                      dns_type="answer")  # fmt: skip
        fields["dns"]["resolved_ip"] = _resolved(m.group("answers"))
        flags = m.group("rflags")
    else:
        fields, flags = _dns("dns-query", None, m, "protocol"), m.group("flags")
        if server := _ip(m.group("server")):
            fields["destination"] = {"ip": server}
            fields["related"]["ip"].append(server)
    if flags and flags != "-":
        fields["labels"]["dns_flags"] = flags
    return fields


def _resolved(answers: str) -> list[str]:
    ips = []
    for record in answers.split(";"):
        parts = record.split()
        if len(parts) >= 5 and parts[3] in ("A", "AAAA") and (ip := _ip(parts[4])):
            ips.append(ip)
    return ips


def _rpz(m: re.Match[str]) -> Fields:
    fields = _dns("dns-rpz-rewrite", "success", m, "protocol", "denied", rcode=m.group("policy"))
    fields["rule"] = {"name": m.group("via"), "id": m.group("trigger")}
    if (src := _CEF_SRC.search(m.string)) and (ip := _ip(src.group(1))):  # Infoblox CEF form: src= spt=
        port = _CEF_SPT.search(m.string)
        fields["source"] = {"ip": ip, "port": int(port.group(1)) if port else None}
        fields["related"]["ip"].append(ip)
    return fields


Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], Fields]]


def _on(action: str, outcome: str | None, *types: str, **kw: str) -> Callable[[re.Match[str]], Fields]:
    return lambda m: _dns(action, outcome, m, *types, **kw)


def _compile(*rules: tuple[str, Callable[[re.Match[str]], Fields]]) -> tuple[Rule, ...]:
    return tuple((re.compile(pattern), build) for pattern, build in rules)


_Q = r"(?P<name>[^'/\s]*)/(?P<type>[^/']+)/(?P<class>[^/']+)"
_ZONE = r"'(?P<name>[^'/]*)/(?P<class>[^']+)'"
_PEER = r"(?P<peer>[0-9A-Fa-f.:]+)#(?P<pport>\d+)"
_DENIED = ("protocol", "denied")
_CLIENT_RULES: tuple[Rule, ...] = (*_compile(
    (r"query: (?P<name>\S+) (?P<class>\S+) (?P<type>\S+) (?:response: (?P<rcode>[A-Z]+) (?P<rflags>\S*)"
     r"(?P<answers>.*)|(?P<flags>\S*)(?: \((?P<server>[^)]+)\))?)", _query),
    (rf"query (?:\(cache\) )?'{_Q}' denied(?: \((?P<reason>[^)]*)\))?",
     _on("dns-query-denied", "failure", *_DENIED, rcode="REFUSED")),
    (r"query failed \((?P<rcode>[^)]+)\) for (?P<name>\S*?)/(?P<class>[^/\s]+)/(?P<type>\S+)",
     _on("dns-query-failed", "failure")),
    (r"zone transfer '(?P<name>[^'/]*)/(?P<type>[AI]XFR)/(?P<class>[^']+)' denied",
     _on("dns-zone-transfer-denied", "failure", *_DENIED, rcode="REFUSED")),
    (rf"bad zone transfer request: {_ZONE}: (?P<reason>.*?)(?: \((?P<rcode>[A-Z]+)\))?$",
     _on("dns-zone-transfer-denied", "failure", *_DENIED)),
    (rf"transfer of {_ZONE}: (?P<type>[AI]XFR)\S* started",
     _on("dns-zone-transfer", "success", "protocol", "start")),
    (rf"transfer of {_ZONE}: (?P<type>[AI]XFR)\S* ended",
     _on("dns-zone-transfer", "success", "protocol", "end")),
    (r"(?P<reason>update(?: forwarding)? '(?P<zone>[^'/]*)/[^']+' denied)",
     _on("dns-update-denied", "failure", *_DENIED, dns_type="update", rcode="REFUSED")),
    (r"updating zone '(?P<zone>[^'/]*)/(?P<class>[^']+)': "
     r"(?P<reason>(?:[^']*?at '(?P<name>[^']+)' (?P<type>\w+))?.*)$",
     _on("dns-update", "success", dns_type="update")),
    (r"rewriting query name '(?P<name>[^']+)' to '[^']+', type (?P<type>\S+)",
     _on("dns-query-rewritten", None)),
    (r"received notify for zone '(?P<name>[^']+)'", _on("dns-notify", None, dns_type="notify")),
), (_RPZ, _rpz))  # fmt: skip
_SERVER_RULES: tuple[Rule, ...] = (*_compile(
    (rf"transfer of {_ZONE} from {_PEER}: (?P<reason>.*)",
     lambda m: _dns("dns-zone-transfer-in", _xfr_outcome(m["reason"]), m)),
    (rf"zone (?P<name>[^/\s]+)/(?P<class>\w+): notify from {_PEER}: (?P<reason>.*)",
     _on("dns-notify", None, dns_type="notify")),
    (r"ratelimit block (?P<name>\S+?)\.? type (?P<type>\S+) target \S+(?: query (?P<peer>\S+))?",
     _on("dns-rate-limited", "failure", *_DENIED)),
    (r"axfr for (?:zone )?(?P<name>\S+?)\.? from (?:client )?(?P<peer>\S+) refused(?:, (?P<reason>[^.]*))?",
     _on("dns-zone-transfer-denied", "failure", *_DENIED, rcode="REFUSED", qtype="AXFR")),
    (r"query\[(?P<type>\w+)\] (?P<name>\S+) from (?P<peer>\S+)", _on("dns-query", None)),
), (_RPZ, _rpz))  # fmt: skip


def _xfr_outcome(text: str) -> str | None:
    return "success" if "success" in text or "completed" in text else "failure" if "fail" in text else None


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None
