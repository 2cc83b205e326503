"""Web server error logs: Apache httpd 2.2/2.4 (dataset apache.error) and nginx (dataset nginx.error).

- Apache 2.2: `[Sun Dec 04 04:47:44 2005] [notice] message`
- Apache 2.4: `[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] [client 1.2.3.4:80]
  AH00128: message, referer: http://...` (`[remote ...]` for the peer behind a proxy, `[:error]` for
  modules without a name, `(13)Permission denied: ` before the client for OS errors)
- nginx: `2015/01/21 10:56:10 [error] 2833#0: *16336 message, client: 1.2.3.4, server: x, request: "GET /"`

Lines a collector captured with a `host prog[pid]: ` prefix but their own timestamp parse here; lines
whose only timestamp is a syslog header go through the syslog parser, with `apache_error_fields` /
`nginx_error_fields` as the family hooks for its router.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event
from ingest.parsers.web_access import prune, request_fields

if TYPE_CHECKING:
    from ingest.parsers.syslog import SyslogHeader

Fields = dict[str, Any]

APACHE_PROGRAMS = ("httpd", "apache", "apache2")
NGINX_PROGRAMS = ("nginx",)

# `host prog[pid]: ` as written by journald/rsyslog templates without a date; may repeat.
_PREFIX = re.compile(r"(?:(?P<host>[\w.-]+) (?P<prog>[\w./-]+?)(?:\[(?P<pid>\d+)\])?: )+")
_APACHE_TS = re.compile(
    r"\[(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<mon>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<time>\d\d:\d\d:\d\d)"
    r"(?P<frac>\.\d{1,6})? (?P<year>\d{4})|(?P<iso>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,6})?))\] "
)
_APACHE = re.compile(
    r"\[(?:(?P<module>[\w.-]*):)?(?P<level>emerg|alert|crit|error|warn|notice|info|debug|trace[1-8])\] "
    r"(?:\[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\] )?"
    r"(?:(?P<oserr>\(-?\d+\)[^:\[\]]*): )?"
    r"(?:\[(?:client|remote) (?P<client>\[[0-9A-Fa-f:.]+\](?::\d+)?|[^\]\s]+)\] )?"
    r"(?:(?P<code>AH\d{5}): )?(?P<msg>.*)",
    re.S,
)
_NGINX = re.compile(
    r"(?:(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) )?"
    r"\[(?P<level>debug|info|notice|warn|error|crit|alert|emerg)\] "
    r"(?P<pid>\d+)#(?P<tid>\d+): (?:\*(?P<cid>\d+) )?(?P<msg>.*)",
    re.S,
)
_NGINX_KV = re.compile(r', (client|server|request|upstream|host|referrer): ("[^"]*"|[^,]*)')
_APACHE_REFERER = re.compile(r", referer: (\S+)$")
# The user named in an authentication/authorisation failure (Apache basic/digest, nginx htpasswd/PAM).
# Anchored at the message start: a requested path can contain "user root not found" too.
_USER = re.compile(
    r"""(?:Digest: |PAM: |Authorization of )?user (?:"([^"]+)"|'([^']+)'|`([^']+)'|([^\s:"'`]+))"""
    r"""(?=:| not found| was not found| in realm| to access| -)"""
)
_DENIED = re.compile(r"denied|forbidden|mismatch|not found|not authenticated|failure|failed", re.I)
_ERROR_LEVELS = {"emerg", "alert", "crit", "error"}


def parse_apache_error(raw: str, ctx: ParseContext) -> EcsEvent:
    """An Apache (2.2/2.4) or nginx error-log line that carries its own timestamp."""
    text = raw.rstrip("\r\n")
    prefix = _PREFIX.match(text)
    body = text[prefix.end() :] if prefix else text
    parsed = _apache(body, ctx.zone) or _nginx(body, ctx.zone)
    if parsed is None:
        raise ParseError(
            "not a web server error-log line: expected Apache `[Www Mmm dd hh:mm:ss yyyy] [level] message` "
            "or nginx `yyyy/mm/dd hh:mm:ss [level] pid#tid: message`"
        )
    dataset, fields = parsed
    timestamp = fields.pop("@timestamp", None)
    if timestamp is None:
        raise ParseError(
            "web server error-log line has no timestamp of its own: parse it with its syslog header"
        )
    if prefix:
        fields["host"] = {"name": prefix.group("host")}
        fields["process"] = {**fields.get("process", {}), "name": prefix.group("prog").rsplit("/", 1)[0]}
    return build_event(ctx, parser="apache_error", category=Category.SYSTEM, timestamp=timestamp, raw=raw,
                       dataset=dataset, **prune(fields))  # fmt: skip


def apache_error_fields(hdr: SyslogHeader) -> Fields | None:
    """Syslog hook for `httpd`/`apache2` (ErrorLog syslog:): the message is `[module:level] ...`."""
    parsed = _apache(hdr.message, hdr.timestamp.tzinfo)
    return prune(parsed[1]) if parsed else None


def nginx_error_fields(hdr: SyslogHeader) -> Fields | None:
    """Syslog hook for `nginx` (error_log syslog:): the message is `[level] pid#tid: ...`."""
    parsed = _nginx(hdr.message, hdr.timestamp.tzinfo)
    return prune(parsed[1]) if parsed else None


def _apache(text: str, zone: tzinfo | None) -> tuple[str, Fields] | None:
    ts = _APACHE_TS.match(text)
    m = _APACHE.fullmatch(text, ts.end() if ts else 0)
    if not m:
        return None
    message = m.group("msg")
    referer = _APACHE_REFERER.search(message)
    source = _address(m.group("client"))
    fields = _common(m.group("level"), message, source)
    fields["event"]["code"] = m.group("code")
    fields["log"]["logger"] = m.group("module") or None
    fields["process"] = {"pid": _int(m.group("pid"))}
    fields["http"] = {"request": {"referrer": referer.group(1) if referer else None}}
    fields["labels"] = {"apache_tid": m.group("tid"), "apache_os_error": m.group("oserr")}
    if ts:
        fields["@timestamp"] = _apache_time(ts, zone)
        fields["event"]["timezone"] = getattr(zone, "key", None)
    return "apache.error", fields


def _nginx(text: str, zone: tzinfo | None) -> tuple[str, Fields] | None:
    m = _NGINX.fullmatch(text)
    if not m:
        return None
    message = m.group("msg")
    kv = {k: v.strip('"') for k, v in _NGINX_KV.findall(message)}
    fields = _common(m.group("level"), message, _address(kv.get("client")))
    http, url, _ = request_fields(kv.get("request"))
    http["request"]["referrer"] = kv.get("referrer")
    fields["http"] = http
    if url is not None:
        fields["url"] = {**url, "domain": url.get("domain") or kv.get("host") or None}
    fields["process"] = {"pid": int(m.group("pid"))}
    fields["labels"] = {"nginx_tid": m.group("tid"), "nginx_connection_id": m.group("cid"),
                        "nginx_server": kv.get("server"), "nginx_upstream": kv.get("upstream")}  # fmt: skip
    if m.group("ts"):
        fields["@timestamp"] = _naive_time(datetime.strptime(m.group("ts"), "%Y/%m/%d %H:%M:%S"), zone)
        fields["event"]["timezone"] = getattr(zone, "key", None)
    return "nginx.error", fields


def _common(level: str, message: str, source: Fields | None) -> Fields:
    user_match = _USER.match(message)
    user = next((g for g in user_match.groups() if g), None) if user_match else None
    failed = bool(user or (source and _DENIED.search(message) and level in _ERROR_LEVELS))
    ip = source.get("ip") if source else None
    return {
        "message": message,
        "log": {"level": level},
        "event": {
            "category": ["web", "authentication"] if user else ["web"],
            "type": ["error"] if level in _ERROR_LEVELS else ["info"],
            "outcome": "failure" if failed else None,
        },
        "source": source,
        "user": {"name": user} if user else None,
        "related": {"ip": [ip] if ip else [], "user": [user] if user else []},
    }


def _address(value: str | None) -> Fields | None:
    """`1.2.3.4`, `1.2.3.4:80`, `2001:db8::1` (2.2, no port) or `[2001:db8::1]:80` (2.4)."""
    if not value:
        return None
    if ip := _ip(value):
        return {"ip": ip}
    host, sep, port = value.rpartition(":")
    if sep and port.isdigit() and (ip := _ip(host.strip("[]"))):
        return {"ip": ip, "port": int(port)}
    return {"address": value}


def _apache_time(m: re.Match[str], zone: tzinfo | None) -> datetime:
    if m.group("iso"):
        return _naive_time(datetime.fromisoformat(m.group("iso")), zone)
    stamp = f"{m.group('year')} {m.group('mon')} {m.group('day').strip()} {m.group('time')}"
    try:
        parsed = datetime.strptime(stamp, "%Y %b %d %H:%M:%S")
    except ValueError as exc:
        raise ParseError(f"Apache error-log time {m.group(0).strip()} is not a valid date") from exc
    micro = int((m.group("frac") or ".0")[1:].ljust(6, "0"))
    return _naive_time(parsed.replace(microsecond=micro), zone)


def _naive_time(value: datetime, zone: tzinfo | None) -> datetime:
    # Error logs write local time without an offset: the source's configured zone applies.
    return value.replace(tzinfo=zone) if zone else value


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value else None
