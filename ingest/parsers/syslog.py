"""Syslog framing (RFC 3164, ISO-timestamped 3164 variants, RFC 5424) and dispatch to the log families.

`parse_header` only splits the frame; `parse_syslog` turns it into an event, handing the message to the
family module that owns the program (sshd, postfix, named...). Anything it does not know still becomes a
`syslog.generic` event: only text that is not syslog at all is a dead letter.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers import dns, kernel, linux_auth, netfilter, postfix, samba_audit
from ingest.parsers.base import ParseContext, build_event

FACILITIES = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
    "ntp", "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
)  # fmt: skip
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
_SEVERITY_ALIASES = {"emergency": 0, "panic": 0, "critical": 2, "error": 3, "warn": 4, "informational": 6}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
MONTHS = {m: i for i, m in enumerate(_MONTH_NAMES, start=1)}

_PRI = re.compile(r"<(\d{1,3})>")
_RFC5424 = re.compile(r"([1-9]\d{0,2}) (\S+) (\S+) (\S+) (\S+) (\S+)(?: |$)(.*)", re.S)
_BSD_TS = re.compile(
    r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2})"
    r"(?: (?P<year>\d{4}))? (?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})(?:\.(?P<frac>\d{1,9}))?(?: +|$)"
)
_ISO_TS = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d{1,9})?(?:Z|[+-]\d{2}:?\d{2})?)(?: +|$)"
)
# FreeBSD `syslogd -v` inserts <facility.severity> (numbers or names) after the timestamp.
_VERBOSE_PRI = re.compile(r"<(?:(\d{1,2})\.(\d)|([a-z][\w-]*)\.([a-z]+))> +")
_HOST = re.compile(r"([A-Za-z0-9_.%-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*) +")
_TAG = re.compile(
    r"(?P<app>[^\s\[\]():]{1,64})(?:\((?P<sub>[^()\s]{1,64})\))?(?:\[(?P<pid>[^\]\s]{0,32})\])?:(?: +|$)"
    r"|\[(?P<bapp>[a-z][\w.-]{0,63})\]:?(?: +|$)"  # `[sshd]: msg`, seen from some BSD/embedded loggers
)
_SD_PARAM = re.compile(r' *([^\s=\]"]+) *= *"((?:[^"\\]|\\.)*)"', re.S)
_SD_UNESCAPE = re.compile(r"\\([\"\\\]])")
_FRACTION = re.compile(r"[.,](\d+)")
_NOT_SYSLOG_HINTS = (
    (re.compile(r"type=\w+ msg=audit\("), "it is a Linux audit record; route it to the auditd parser"),
    (re.compile(r"\d{2}-[A-Z][a-z]{2}-\d{4} \d{2}:\d{2}:\d{2}"),
     "it is a BIND file-channel line; parse it with ingest.parsers.dns.parse_dns_file"),
    (re.compile(r"\[(?:\d{9,11}|\d{4}-\d{2}-\d{2} [\d:.]+)\] nsd\["),
     "it is an nsd log-file line; parse it with ingest.parsers.dns.parse_dns_file"),
    (re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d [\d:]{8} \d{4} \[pid \d+\]"),
     "it is a vsftpd log-file line; parse it with ingest.parsers.linux_auth.parse_vsftpd_log"),
)  # fmt: skip


@dataclass(frozen=True)
class SyslogHeader:
    timestamp: datetime  # aware
    message: str
    hostname: str | None = None
    host_ip: str | None = None  # a relay's address written after the hostname (Infoblox)
    appname: str | None = None  # the tag as written: `sshd(pam_unix)`, `postfix/smtpd`
    program: str | None = None  # the process name only: `sshd`
    procid: str | None = None
    msgid: str | None = None
    facility: int | None = None
    severity: int | None = None
    priority: int | None = None
    version: int | None = None
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    zone_assumed: bool = False  # the timestamp had no offset: ctx.zone was applied
    notes: tuple[str, ...] = ()  # tolerated defects, become event tags

    @property
    def pid(self) -> int | None:
        return int(self.procid) if self.procid and self.procid.isdigit() else None


def parse_header(raw: str, ctx: ParseContext) -> SyslogHeader:
    """Split a syslog line into its frame; raises ParseError when the text is not syslog."""
    text = raw.lstrip("\ufeff").rstrip("\r\n")
    pri_match = _PRI.match(text)
    pri = int(pri_match.group(1)) if pri_match else None
    if pri is not None and pri > 191:
        raise ParseError(f"not syslog: PRI <{pri}> is out of range (0-191)")
    rest = text[pri_match.end():] if pri_match else text
    if pri_match and (m5424 := _RFC5424.match(rest)):
        return _rfc5424(m5424, pri, ctx)
    return _rfc3164(rest, pri, ctx)


def _rfc5424(match: re.Match[str], pri: int | None, ctx: ParseContext) -> SyslogHeader:
    version, ts, host, app, procid, msgid, rest = match.groups()
    timestamp = _received(ctx) if ts == "-" else _iso(ts, ctx)
    sd, message, sd_ok = _structured_data(rest)
    return SyslogHeader(
        timestamp=timestamp,
        message=message.lstrip("\ufeff"),
        hostname=_nil(host),
        appname=_nil(app),
        program=_nil(app),
        procid=_nil(procid),
        msgid=_nil(msgid),
        version=int(version),
        structured_data=sd,
        zone_assumed=ts != "-" and _has_no_offset(ts),
        notes=() if sd_ok else ("syslog_structured_data_malformed",),
        **_pri_fields(pri),
    )


def _rfc3164(rest: str, pri: int | None, ctx: ParseContext) -> SyslogHeader:
    notes: list[str] = []
    if m := _ISO_TS.match(rest):
        timestamp, zone_assumed = _iso(m.group(1), ctx), _has_no_offset(m.group(1))
    elif m := _BSD_TS.match(rest):
        timestamp, zone_assumed = _bsd_timestamp(m, ctx), True
    elif pri is not None:  # RFC 3164 4.3.2: a relay stamps a message that arrives without a timestamp
        timestamp, zone_assumed = _received(ctx), False
        notes.append("syslog_timestamp_missing")
    else:
        raise ParseError(_not_syslog_reason(rest))
    rest = rest[m.end():] if m else rest
    pri_fields = _pri_fields(pri)
    if v := _VERBOSE_PRI.match(rest):
        pri_fields = _verbose_pri(v) or pri_fields
        rest = rest[v.end():]
    hostname = host_ip = None
    # RFC 3164 4.3.3: without a timestamp there is no HOSTNAME either, the content is all MSG.
    if m and (h := _HOST.match(rest)) and not _TAG.match(rest):
        hostname, rest = h.group(1), rest[h.end():]
        # Infoblox and some relays write `host 10.1.2.3 prog[1]: msg`: keep the address, not as the program.
        if (ip := _HOST.match(rest)) and _is_ip(ip.group(1)) and _TAG.match(rest[ip.end():]):
            host_ip, rest = ip.group(1), rest[ip.end():]
    appname = program = procid = None
    if t := _TAG.match(rest):
        program = t.group("app") or t.group("bapp")
        appname = f"{program}({t.group('sub')})" if t.group("sub") else program
        procid = t.group("pid") or None
        rest = rest[t.end():]
    if hostname and _is_ip(hostname):
        host_ip = host_ip or hostname
    return SyslogHeader(
        timestamp=timestamp,
        message=rest.strip(),
        hostname=hostname,
        host_ip=host_ip,
        appname=appname,
        program=program,
        procid=procid,
        zone_assumed=zone_assumed,
        notes=tuple(notes),
        **pri_fields,
    )


def _not_syslog_reason(text: str) -> str:
    for pattern, hint in _NOT_SYSLOG_HINTS:
        if pattern.search(text[:120]):
            return f"not syslog: {hint}"
    snippet = text[:40] + ("..." if len(text) > 40 else "")
    expected = "RFC 3164 'Mmm dd hh:mm:ss' or ISO 8601"
    return f"not syslog: no <PRI> and no timestamp ({expected}) at the start of {snippet!r}"


class _Pri(TypedDict, total=False):
    priority: int
    facility: int
    severity: int


def _pri_fields(pri: int | None) -> _Pri:
    if pri is None:
        return {}
    return {"priority": pri, "facility": pri >> 3, "severity": pri & 7}


def _verbose_pri(match: re.Match[str]) -> _Pri:
    if match.group(1):
        facility, severity = int(match.group(1)), int(match.group(2))
    else:
        name, sev_name = match.group(3), match.group(4)
        if name not in FACILITIES:
            return {}
        facility = FACILITIES.index(name)
        severity = (
            SEVERITIES.index(sev_name) if sev_name in SEVERITIES else _SEVERITY_ALIASES.get(sev_name, -1)
        )
        if severity < 0:
            return {}
    return {"priority": facility * 8 + severity, "facility": facility, "severity": severity}


def _structured_data(rest: str) -> tuple[dict[str, dict[str, str]], str, bool]:
    """RFC 5424 STRUCTURED-DATA and MSG; tolerant of spaces around '=' (seen in the wild)."""
    if rest in ("", "-"):
        return {}, "", True
    if rest.startswith("- "):
        return {}, rest[2:], True
    if not rest.startswith("["):
        return {}, rest, False
    elements: dict[str, dict[str, str]] = {}
    pos = 0
    while pos < len(rest) and rest[pos] == "[":
        end_id = pos + 1
        while end_id < len(rest) and rest[end_id] not in " ]":
            end_id += 1
        sd_id, pos, params = rest[pos + 1 : end_id], end_id, {}
        while m := _SD_PARAM.match(rest, pos):
            params[m.group(1)] = _SD_UNESCAPE.sub(r"\1", m.group(2))
            pos = m.end()
        if not sd_id or pos >= len(rest) or rest[pos] != "]":
            return {}, rest, False
        elements.setdefault(sd_id, {}).update(params)
        pos += 1
    return elements, rest[pos:].removeprefix(" "), True


def _bsd_timestamp(m: re.Match[str], ctx: ParseContext) -> datetime:
    now = _received(ctx).astimezone(ctx.zone)
    micro = int((m.group("frac") or "0")[:6].ljust(6, "0"))
    month = MONTHS[m.group("mon")]
    day, hour, minute, second = (int(m.group(k)) for k in ("day", "h", "m", "s"))
    # No year in RFC 3164: take the latest year that does not put the line more than a day after reception
    # (Dec 31 received on Jan 1 is last year; Jan 1 from a clock slightly ahead on Dec 31 is next year).
    years = [int(m.group("year"))] if m.group("year") else [now.year + 1, now.year, now.year - 1]
    for year in years:
        try:
            candidate = datetime(year, month, day, hour, minute, second, micro, tzinfo=ctx.zone)
        except ValueError:  # Feb 29 outside a leap year, day 31 of a short month...
            continue
        if m.group("year") or candidate <= now + timedelta(days=1):
            return candidate
    stamp = m.group(0).strip()
    raise ParseError(f"syslog timestamp {stamp!r} is not a valid date in any of the years {years}")


def _iso(value: str, ctx: ParseContext) -> datetime:
    text = _FRACTION.sub(lambda f: "." + f.group(1)[:6].ljust(6, "0"), value.replace(" ", "T", 1), count=1)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ParseError(f"syslog timestamp {value!r} is not ISO 8601: {exc}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ctx.zone)


def _has_no_offset(value: str) -> bool:
    return not (value.endswith("Z") or re.search(r"[+-]\d{2}:?\d{2}$", value))


def _received(ctx: ParseContext) -> datetime:
    received = ctx.received_at
    return received if received.tzinfo else received.replace(tzinfo=UTC)


def _nil(value: str) -> str | None:
    return None if value == "-" else value


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# --- dispatch -----------------------------------------------------------------------------------------

Fields = dict[str, Any]


@dataclass(frozen=True)
class Route:
    family: str
    dataset: str
    category: Category
    fields: Callable[[SyslogHeader], Fields | None]  # None: not this family's message after all


AUTH = Route("linux_auth", "system.auth", Category.USER, linux_auth.auth_fields)
KERNEL = Route("kernel", "system.kernel", Category.SYSTEM, kernel.kernel_fields)
NETFILTER = Route("netfilter", "iptables.log", Category.NETWORK, netfilter.netfilter_fields)
KV_FIREWALL = Route("netfilter", "firewall.log", Category.NETWORK, netfilter.kv_firewall_fields)
DNS = Route("dns", "dns.query", Category.NETWORK, dns.dns_fields)
POSTFIX = Route("postfix", "postfix.log", Category.USER, postfix.postfix_fields)
SENDMAIL = Route("postfix", "sendmail.log", Category.USER, postfix.sendmail_fields)
SAMBA = Route("samba_audit", "samba.full_audit", Category.USER, samba_audit.samba_fields)
GENERIC = Route("generic", "syslog.generic", Category.SYSTEM, lambda hdr: {})

ROUTES: dict[str, Route] = {
    **dict.fromkeys(linux_auth.PROGRAMS, AUTH),
    **dict.fromkeys(kernel.PROGRAMS, KERNEL),
    **dict.fromkeys(dns.PROGRAMS, DNS),
    **dict.fromkeys(postfix.SENDMAIL_PROGRAMS, SENDMAIL),
    **dict.fromkeys(samba_audit.PROGRAMS, SAMBA),
}
# Multi-instance and split daemons: postfix-incoming/smtpd, postfix/submission/smtpd, sshd-session, sm-mta.
PREFIX_ROUTES: tuple[tuple[str, Route], ...] = (("postfix", POSTFIX), ("sshd-", AUTH), ("sm-", SENDMAIL))
# For untagged lines or programs we do not know, the message itself can still say what it is.
CONTENT_ROUTES: tuple[tuple[re.Pattern[str], Route], ...] = (
    (linux_auth.SNIFF, AUTH),
    (dns.SNIFF, DNS),
    (samba_audit.SNIFF, SAMBA),
    (netfilter.KV_SNIFF, KV_FIREWALL),
)


def route_for(hdr: SyslogHeader) -> Route:
    if netfilter.SNIFF.search(hdr.message):  # kernel or untagged packet-filter lines
        return NETFILTER
    name = (hdr.program or "").lower()
    if route := ROUTES.get(name):
        return route
    for prefix, route in PREFIX_ROUTES:
        if name.startswith(prefix):
            return route
    for pattern, route in CONTENT_ROUTES:
        if pattern.search(hdr.message):
            return route
    return GENERIC


def parse_syslog(raw: str, ctx: ParseContext) -> EcsEvent:
    """Parse any syslog-framed line into an event of its family (generic when the program is unknown)."""
    hdr = parse_header(raw, ctx)
    route = route_for(hdr)
    fields = route.fields(hdr)
    if fields is None:
        route, fields = GENERIC, {}
    merged = _prune(_merge(header_fields(hdr, ctx), fields))
    timestamp = merged.pop("@timestamp", hdr.timestamp)
    parser = "syslog" if route is GENERIC else f"syslog.{route.family}"
    return build_event(ctx, parser=parser, category=route.category, timestamp=timestamp, raw=raw,
                       dataset=route.dataset, **merged)  # fmt: skip


def header_fields(hdr: SyslogHeader, ctx: ParseContext) -> Fields:
    """The ECS fields every syslog event carries, before the family adds its own."""
    syslog = {
        "facility": hdr.facility, "severity": hdr.severity, "priority": hdr.priority,
        "appname": hdr.appname, "procid": hdr.procid, "msgid": hdr.msgid, "hostname": hdr.hostname,
        "version": hdr.version, "structured_data": hdr.structured_data,
    }  # fmt: skip
    return {
        "message": hdr.message,
        "tags": list(hdr.notes),
        "event": {
            "severity": hdr.severity,
            "timezone": ctx.zone.key if hdr.zone_assumed else None,
        },
        "host": {"name": hdr.hostname, "hostname": hdr.hostname, "ip": [hdr.host_ip] if hdr.host_ip else []},
        "process": {"name": hdr.program, "pid": hdr.pid} if hdr.program else None,
        "log": {
            "level": SEVERITIES[hdr.severity] if hdr.severity is not None else None,
            "syslog": {k: v for k, v in syslog.items() if v not in (None, {})},
        },
        "related": {"hosts": [hdr.hostname] if hdr.hostname else []},
    }


def _merge(base: Fields, extra: Fields) -> Fields:
    """Family fields on top of header fields: nested dicts merge, lists union, None never overwrites."""
    out = dict(base)
    for key, value in extra.items():
        current = out.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            out[key] = _merge(current, value)
        elif isinstance(value, list) and isinstance(current, list):
            out[key] = list(dict.fromkeys([*current, *value]))
        elif value is not None:
            out[key] = value
    return out


def _prune(value: Any) -> Any:
    """Drop None, empty strings and empty containers so the document carries only what was seen."""
    if isinstance(value, dict):
        pruned = {k: v if k == "structured_data" else _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [v for v in (_prune(item) for item in value) if v not in (None, "", {}, [])]
    return value
