"""Web server access logs: NCSA Common and Combined Log Format (Apache httpd, nginx and look-alikes).

`client ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request" status bytes ["referrer" "agent"] [extra...]`
with the variants seen in the wild: a virtual-host prefix (`%v`), IPv6 clients, nginx/proxy address
lists (`10.0.0.2, 10.0.0.1, 127.0.0.1` or a quoted X-Forwarded-For before the peer), `-` sizes, request
lines that are not HTTP at all (`"-"`, `""`, TLS bytes `"\\x16\\x03\\x01"`), and trailing fields
(X-Forwarded-For, request time...).
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

Fields = dict[str, Any]

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
# The head before ident/user may hold a vhost and an address list, never brackets or bare quotes.
ACCESS = re.compile(
    r'(?P<head>(?:"[^"]*" )?[^\[\]"]{1,400}?) (?P<ident>\S+) (?P<user>\S+) '
    r"\[(?P<ts>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)\] "
    rf"{_QUOTED} (?P<status>\d{{3}}|-) (?P<bytes>\d+|-)"
    rf"(?: {_QUOTED} {_QUOTED})?(?P<extra>.*)",
    re.S,
)
_REQUEST = re.compile(
    r"(?P<method>[A-Za-z][A-Za-z_-]{0,31}) (?P<target>\S+)(?: HTTP/(?P<version>[\d.]{1,5}))?"
)
_HEAD_TOKEN = re.compile(r'"([^"]*)"|([^\s,"]+)')
_ERROR_LOG_HINT = re.compile(
    r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] \d+#\d+: "
)
_UNESCAPE = re.compile(r'\\(["\\])')


def parse_access(raw: str, ctx: ParseContext, *, dataset: str = "apache.access") -> EcsEvent:
    """A CLF/Combined access line; `dataset` tells Apache (`apache.access`) from nginx (`nginx.access`)."""
    text = raw.rstrip("\r\n")
    m = ACCESS.fullmatch(text)
    if not m:
        if _ERROR_LOG_HINT.search(text, 0, 200):
            raise ParseError("not an access-log line: it is a web server error-log line (use apache_error)")
        raise ParseError(
            'not an access-log line: expected `client ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "request" '
            "status bytes` (Common/Combined Log Format)"
        )
    request, referrer, agent = (_unescape(m.group(i)) for i in (5, 8, 9))
    status = int(m.group("status")) if m.group("status") != "-" else None
    user = m.group("user") if m.group("user") != "-" else None
    vhost, clients = _head(m.group("head"))
    source = _client(clients)
    extra = m.group("extra").strip()
    labels = {
        "access_ident": m.group("ident") if m.group("ident") != "-" else None,
        "access_client_list": ", ".join(clients) if len(clients) > 1 else None,
        "access_extra": extra or None,
    }
    fields: Fields = {
        "event": {
            "category": ["web"],
            "type": ["access"],
            "outcome": None if status is None else "success" if status < 400 else "failure",
        },
        "source": source,
        "destination": _vhost(vhost),
        "user": {"name": user} if user else None,
        "user_agent": {"original": agent} if agent and agent != "-" else None,
        "related": {
            "ip": [ip for ip in (_ip(c) for c in clients) if ip],
            "user": [user] if user else [],
        },
    }
    http, url, bad_request = request_fields(request)
    http["request"]["referrer"] = referrer if referrer and referrer != "-" else None
    http["response"] = {"status_code": status, "bytes": _int(m.group("bytes"))}
    fields["http"] = prune(http)
    fields["url"] = url
    if bad_request:
        labels["http_request_line"] = request
        fields["tags"] = ["http_request_invalid"]
    fields["labels"] = {k: v for k, v in labels.items() if v}
    return build_event(ctx, parser="web_access", category=Category.NETWORK, timestamp=_timestamp(m, ctx),
                       raw=raw, dataset=dataset, **prune(fields))  # fmt: skip


def parse_nginx_access(raw: str, ctx: ParseContext) -> EcsEvent:
    return parse_access(raw, ctx, dataset="nginx.access")


def request_fields(request: str | None) -> tuple[Fields, Fields | None, bool]:
    """http.* and url.* of an HTTP request line; the flag is True when the line is present but not HTTP."""
    http: Fields = {"request": {}}
    if not request or request == "-":
        return http, None, False  # no request was read (timeouts: 408 "-")
    r = _REQUEST.fullmatch(request)
    if not r:
        return http, None, True
    http["request"]["method"] = r.group("method").upper()
    http["version"] = r.group("version")
    return http, url_fields(r.group("target")), False


def url_fields(target: str) -> Fields:
    """url.* of a request target: origin form `/p?q`, absolute `http://h:1/p`, or authority `h:443`."""
    out: Fields = {"original": target}
    if target.startswith("/") or target == "*":
        path, _, query = target.partition("?")
        return {**out, "path": path, "query": query or None}
    if "://" in target:
        try:
            parts = urlsplit(target)
            port = parts.port
        except ValueError:
            return out
        return {**out, "full": target, "scheme": parts.scheme or None, "domain": parts.hostname or None,
                "port": port, "path": parts.path or None, "query": parts.query or None}  # fmt: skip
    host, sep, port_text = target.rpartition(":")
    if sep and port_text.isdigit() and host:  # CONNECT host:port
        return {**out, "domain": host.strip("[]"), "port": int(port_text)}
    return out


def _head(head: str) -> tuple[str | None, list[str]]:
    """(vhost, client addresses): a leading non-address token followed by more tokens is the vhost."""
    tokens: list[str] = []
    for t in _HEAD_TOKEN.finditer(head):
        tokens.extend(p.strip() for p in (t.group(1) or t.group(2)).split(",") if p.strip())
    if len(tokens) > 1 and _ip(tokens[0]) is None and not head.startswith('"'):
        return tokens[0], tokens[1:]
    return None, tokens


def _client(clients: list[str]) -> Fields | None:
    """The first public address of a proxy chain (as filebeat does), else the first one written."""
    if not clients:
        return None
    ips = [(c, ipaddress.ip_address(ip)) for c in clients if (ip := _ip(c))]
    chosen = next((str(ip) for _, ip in ips if ip.is_global), None) or _ip(clients[0])
    if chosen:
        return {"ip": chosen}
    return {"address": clients[0], "domain": clients[0]}


def _vhost(vhost: str | None) -> Fields | None:
    if not vhost:
        return None
    host, sep, port = vhost.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return {"domain": host, "port": int(port)}
    return {"domain": vhost}


def _timestamp(m: re.Match[str], ctx: ParseContext) -> datetime:
    ts = m.group("ts")
    try:
        if " " in ts:
            return datetime.strptime(ts, "%d/%b/%Y:%H:%M:%S %z")
        return datetime.strptime(ts, "%d/%b/%Y:%H:%M:%S").replace(tzinfo=ctx.zone)
    except ValueError as exc:
        raise ParseError(f"access-log time [{ts}] is not a valid date: {exc}") from exc


def _unescape(value: str | None) -> str | None:
    return _UNESCAPE.sub(r"\1", value) if value else value


def _ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address(value.strip("[]"))) if value else None
    except ValueError:
        return None


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def prune(value: Any) -> Any:
    """Drop None and empty containers so the event carries only what the line said."""
    if isinstance(value, dict):
        pruned = {k: prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, "", {}, [])}
    if isinstance(value, list):
        return [v for v in (prune(item) for item in value) if v not in (None, "", {}, [])]
    return value
