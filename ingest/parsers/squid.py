"""Squid native access.log (dataset squid.access).

`time elapsed client result/status bytes method URL user hierarchy/peer type`, e.g.
`1286536309.450 2 10.0.0.1 TCP_MISS/200 1234 GET http://x/ user DIRECT/1.2.3.4 text/html`.
Squid pads `elapsed` with spaces, so fields are whitespace-separated; fields a custom `logformat`
appends after the ten standard ones are kept in `squid_extra`.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from typing import Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event
from ingest.parsers.web_access import prune, url_fields

Fields = dict[str, Any]

_EPOCH = re.compile(r"\d{9,11}(?:\.\d{1,6})?")
_RESULT = re.compile(r"(?P<code>[A-Z][A-Z_]*)/(?P<status>\d{3})")
_FAILED_WORDS = ("ABORTED", "ERROR", "TIMEOUT")  # TCP_MISS_ABORTED...; TCP_SWAPFAIL_MISS still served
_PEER = re.compile(r"(?P<hier>[A-Z_]+)/(?P<peer>\S+)")


def parse_squid(raw: str, ctx: ParseContext) -> EcsEvent:
    parts = raw.split()
    if len(parts) < 10:
        raise ParseError(f"not a squid native access-log line: {len(parts)} fields, expected at least 10")
    stamp, elapsed, client, result, size, method, url, user, hierarchy, mime = parts[:10]
    if not _EPOCH.fullmatch(stamp):
        raise ParseError(f"not a squid native access-log line: {stamp[:30]!r} is not a Unix time")
    r = _RESULT.fullmatch(result)
    if not r:
        raise ParseError(f"squid result {result[:40]!r} is not CODE/status (e.g. TCP_MISS/200)")
    code, status = r.group("code"), int(r.group("status"))
    peer = _PEER.fullmatch(hierarchy)
    destination = _endpoint(peer.group("peer")) if peer else None
    size_bytes = int(size) if size.isdigit() else None
    if destination is not None:
        destination["bytes"] = size_bytes  # what the origin sent the client through the proxy
    client_ip = _ip(client)
    user_name = None if user == "-" else user
    denied = "DENIED" in code
    failed = denied or status >= 400 or code.startswith("NONE") or any(w in code for w in _FAILED_WORDS)
    fields: Fields = {
        "event": {
            "category": ["network", "web"],
            "type": ["access", "denied"] if denied else ["access"],
            "action": code,
            "outcome": "failure" if failed else "success",
        },
        "source": {"ip": client_ip} if client_ip else {"address": client, "domain": client},
        "destination": destination,
        "user": {"name": user_name} if user_name else None,
        "http": {
            "request": {"method": method if method not in ("-", "NONE") else None},
            "response": {"status_code": status or None, "bytes": size_bytes},  # 000: no reply
        },
        "url": url_fields(url) if url != "-" else None,
        "related": {
            "ip": [ip for ip in (client_ip, (destination or {}).get("ip")) if ip],
            "user": [user_name] if user_name else [],
        },
        "labels": {
            "squid_elapsed_ms": elapsed,
            "squid_hierarchy_code": peer.group("hier") if peer else hierarchy,
            "squid_content_type": None if mime == "-" else mime,
            "squid_extra": " ".join(parts[10:]) or None,
        },
    }
    timestamp = datetime.fromtimestamp(float(stamp), UTC)
    return build_event(ctx, parser="squid", category=Category.NETWORK, timestamp=timestamp, raw=raw,
                       dataset="squid.access", **prune(fields))  # fmt: skip


def _endpoint(peer: str) -> Fields | None:
    if peer == "-":
        return None
    if ip := _ip(peer):
        return {"ip": ip}
    return {"address": peer, "domain": peer}


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
