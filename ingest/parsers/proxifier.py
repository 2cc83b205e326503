"""Proxifier connection log (dataset proxifier.log), as in loghub's Proxifier sample.

`[MM.DD HH:MM:SS] app.exe[ *64] - host:port <event>` where the event is one of
`open through proxy P:port HTTPS|SOCKS5`,
`close, N bytes[ (x KB)] sent, N bytes[ (x KB)] received, lifetime <1 sec|mm:ss|h:mm:ss`,
`error : <reason>`. Proxifier writes no year: the latest year that does not put the line more than a
day after reception is taken, as for RFC 3164 syslog.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta
from typing import Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event
from ingest.parsers.web_access import prune

Fields = dict[str, Any]

LINE = re.compile(
    r"\[(?P<mon>\d\d)\.(?P<day>\d\d) (?P<time>\d\d:\d\d:\d\d)\] (?P<app>.+?)(?P<x64> \*64)? - "
    r"(?P<host>\S+):(?P<port>\d{1,5}) (?P<event>.*)",
    re.S,
)
_OPEN = re.compile(r"open through proxy (?P<proxy>\S+) (?P<kind>\S+)")
_CLOSE = re.compile(
    r"close, (?P<sent>\d+) bytes(?: \([^)]*\))? +sent, (?P<recv>\d+) bytes(?: \([^)]*\))? +received, "
    r"lifetime (?P<life><1 sec|[\d:]+)"
)
_ERROR = re.compile(r"error : (?P<reason>.*?)\s*")
_ERROR_PROXY = re.compile(r"through proxy (\S+?:\d+)|to proxy (\S+?:\d+)")


def parse_proxifier(raw: str, ctx: ParseContext) -> EcsEvent:
    m = LINE.fullmatch(raw.rstrip("\r\n"))
    if not m:
        raise ParseError("not a Proxifier line: expected `[MM.DD HH:MM:SS] program - host:port event`")
    event_text = m.group("event")
    host = m.group("host")
    ip = _ip(host.strip("[]"))
    port = int(m.group("port"))
    destination: Fields = {"address": host, "ip": ip, "domain": None if ip else host, "port": port}
    fields: Fields = {
        "process": {"name": m.group("app")},
        "destination": destination,
        "labels": {"proxifier_process_bits": "64" if m.group("x64") else None},
        "related": {"ip": [ip] if ip else [], "hosts": [] if ip else [host]},
    }
    if o := _OPEN.fullmatch(event_text):
        fields["event"] = {"action": "open", "type": ["connection", "start"], "outcome": "success"}
        fields["labels"] |= {"proxifier_proxy": o.group("proxy"), "proxifier_proxy_type": o.group("kind")}
    elif c := _CLOSE.fullmatch(event_text):
        sent, received = int(c.group("sent")), int(c.group("recv"))
        fields["event"] = {"action": "close", "type": ["connection", "end"], "outcome": "success"}
        fields["source"] = {"bytes": sent}
        destination["bytes"] = received
        fields["network"] = {"bytes": sent + received}
        fields["labels"]["proxifier_lifetime"] = c.group("life")
    elif e := _ERROR.fullmatch(event_text):
        proxy = _ERROR_PROXY.search(e.group("reason"))
        fields["event"] = {"action": "error", "type": ["connection"], "outcome": "failure",
                           "reason": e.group("reason")}  # fmt: skip
        fields["labels"]["proxifier_proxy"] = (proxy.group(1) or proxy.group(2)) if proxy else None
    else:
        shown = event_text[:60]
        raise ParseError(f"Proxifier line with an unknown event {shown!r}: expected open/close/error")
    fields["event"]["category"] = ["network"]
    return build_event(ctx, parser="proxifier", category=Category.NETWORK, timestamp=_timestamp(m, ctx),
                       raw=raw, dataset="proxifier.log", message=event_text.strip(),
                       **prune(fields))  # fmt: skip


def _timestamp(m: re.Match[str], ctx: ParseContext) -> datetime:
    now = ctx.received_at.astimezone(ctx.zone)
    hour, minute, second = (int(p) for p in m.group("time").split(":"))
    month, day = int(m.group("mon")), int(m.group("day"))
    for year in (now.year + 1, now.year, now.year - 1):
        try:
            candidate = datetime(year, month, day, hour, minute, second, tzinfo=ctx.zone)
        except ValueError:  # Feb 29 outside a leap year, month 13...
            continue
        if candidate <= now + timedelta(days=1):
            return candidate
    stamp = f"{m.group('mon')}.{m.group('day')} {m.group('time')}"
    raise ParseError(f"Proxifier time [{stamp}] is not a valid date in any of the years around reception")


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
