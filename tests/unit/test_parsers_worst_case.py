"""Hostile input must not stall the normaliser: every family parses (or rejects) a 64 KB line quickly.

A quadratic regex turned one 64 KB line into ~30 s of CPU before; this guards all families at once.
Time is compared side by side with a linear baseline, not against an absolute budget.
"""

from __future__ import annotations

import contextlib
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from ingest.parsers.base import ParseContext
from ingest.parsers.detect import detect_format
from ingest.parsers.registry import PARSERS

CTX = ParseContext(source="worst", received_at=datetime(2026, 11, 23, 4, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai"))
N = 64_000
BODIES = {
    "word": "Z" * N,
    "kv-then-word": "a=1 " + "Z" * N,
    "equals": "=" * N,
    "spaces": " " * N + "x",
    "brackets": "[" * N,
    "quotes": '"' * N,
    "pairs": "a=" * (N // 2),
    "pipes": "|" * N,
    "sshd": "sshd[1]: Failed password for " + "x" * N,
}
PREFIXES = ["", "Nov 23 10:00:00 host kernel: IN=eth0 OUT= ", "srcip=1.2.3.4 dstip=5.6.7.8 ",
            "type=SYSCALL msg=audit(1364481363.243:24287): ", '{"EventID":"']  # fmt: skip


def _linear_baseline(text: str) -> float:
    start = time.perf_counter()
    for _ in range(20):
        text.lower().split("=")
    return time.perf_counter() - start


@pytest.mark.parametrize("family", sorted(PARSERS))
def test_long_lines_stay_cheap(family: str) -> None:
    parser = PARSERS[family]
    for prefix in PREFIXES:
        for body in BODIES.values():
            raw = prefix + body
            baseline = _linear_baseline(raw)
            start = time.perf_counter()
            detect_format(raw)
            with contextlib.suppress(Exception):  # rejecting is fine; only the cost is under test
                parser(raw, CTX)
            elapsed = time.perf_counter() - start
            # Generous: a linear parser costs a few passes over the text; quadratic ones cost 1000x more.
            assert elapsed < max(200 * baseline, 0.05), (family, prefix[:20], body[:10], elapsed, baseline)
