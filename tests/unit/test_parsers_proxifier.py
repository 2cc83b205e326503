"""Proxifier: every line of loghub/Proxifier/Proxifier_2k.log.

Expected counts were measured with grep, independently of the parser:
  open grep -c ' open through proxy ' -> 956, close grep -c ' close, ' -> 947,
  error grep -c ' error : ' -> 97,
  64-bit grep -c ' \\*64 - ' -> 728, SOCKS5 grep -c 'SOCKS5$' -> 2, month 07 grep -c '^\\[07\\.' -> 1027,
  bytes sent/received on close lines (sed -E 's/.* close, ([0-9]+) bytes.* sent, ([0-9]+) bytes.*/\\1 \\2/'
  | awk '{s+=$1; r+=$2} END {print s, r}') -> 3270535 78894959
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.proxifier import parse_proxifier
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_every_line_of_proxifier_2k() -> None:
    events = [parse_proxifier(row, CTX) for row in lines("loghub", "Proxifier", "Proxifier_2k.log")]
    assert len(events) == 2000
    assert Counter(e.event.action for e in events) == {"open": 956, "close": 947, "error": 97}
    assert Counter(e.event.outcome for e in events) == {"success": 1903, "failure": 97}
    assert sum(e.labels.get("proxifier_process_bits") == "64" for e in events) == 728
    assert sum(e.labels.get("proxifier_proxy_type") == "SOCKS5" for e in events) == 2
    assert sum(e.source.bytes or 0 for e in events if e.source) == 3270535
    assert sum(e.destination.bytes or 0 for e in events if e.destination) == 78894959
    assert sum(e.timestamp.astimezone(CTX.zone).month == 7 for e in events) == 1027
    for e in events:
        assert e.event.dataset == "proxifier.log" and e.vigil.category == Category.NETWORK
        assert e.event.category == ["network"] and e.process and e.process.name
        assert e.destination and e.destination.address and e.destination.port


def test_open_close_and_error_fields() -> None:
    rows = lines("loghub", "Proxifier", "Proxifier_2k.log")
    opened = parse_proxifier(rows[0], CTX)
    # No year in the log: the latest one not after reception (2026-11-23) -> 2026, local time UTC+8.
    assert opened.timestamp == datetime(2026, 10, 30, 8, 49, 6, tzinfo=UTC)
    assert opened.process and opened.process.name == "chrome.exe"
    assert opened.destination and (opened.destination.domain, opened.destination.port) == (
        "proxy.cse.cuhk.edu.hk",
        5070,
    )
    assert opened.labels == {"proxifier_proxy": "proxy.cse.cuhk.edu.hk:5070", "proxifier_proxy_type": "HTTPS"}
    assert opened.event.type == ["connection", "start"]
    closed = parse_proxifier(rows[13], CTX)  # `close, 1190 bytes (1.16 KB) sent, 1671 bytes (1.63 KB) ...`
    assert closed.source and closed.source.bytes == 1190
    assert closed.destination and closed.destination.bytes == 1671
    assert closed.network and closed.network.bytes == 2861 and closed.labels["proxifier_lifetime"] == "00:02"
    error = next(parse_proxifier(r, CTX) for r in rows if "Proxy closed the connection" in r)
    assert error.event.outcome == "failure" and error.process and error.process.name == "QQ.exe"
    assert error.event.reason == (
        "Could not connect through proxy proxy.cse.cuhk.edu.hk:5070 - "
        "Proxy closed the connection unexpectedly."
    )
    assert error.labels["proxifier_proxy"] == "proxy.cse.cuhk.edu.hk:5070"
    socks = next(parse_proxifier(r, CTX) for r in rows if r.endswith("SOCKS5"))
    assert socks.process and socks.process.name == "putty.exe"
    assert socks.destination and (socks.destination.ip, socks.destination.port) == ("183.62.156.108", 22)


def test_year_rolls_back_for_dates_after_reception() -> None:
    raw = "[12.31 23:59:59] a.exe - h:80 close, 1 bytes sent, 2 bytes received, lifetime <1 sec"
    e = parse_proxifier(raw, CTX)
    assert e.timestamp.astimezone(CTX.zone).year == 2025


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("10.30 16:49:06 chrome.exe - h:80 open through proxy p:1 HTTPS", "not a Proxifier line"),
        ("[10.30 16:49:06] chrome.exe - h:80 resolved to 1.2.3.4", "unknown event 'resolved to 1.2.3.4'"),
        ("[13.30 16:49:06] chrome.exe - h:80 open through proxy p:1 HTTPS", "not a valid date"),
    ],
)
def test_unparseable_lines_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_proxifier(raw, CTX)
