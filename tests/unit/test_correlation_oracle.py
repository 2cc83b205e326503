"""The detector against a brute-force recount of every window, on seeded random streams: in time order
(the running-window path) and shuffled within the allowance (the out-of-order path)."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import timedelta

import pytest

from tests.unit.correlation_kit import FAILED, RECON, Harness, at, correlation, event

SPAN = 60
RECON_CODES = {"a": "4798", "b": "4799", "c": "5140"}
CASES = {
    "event_count": (FAILED, correlation("event_count", ["failed_login"], condition="gte: 6")),
    "value_count": (FAILED, correlation("value_count", ["failed_login"], condition="field: Ip; gte: 4")),
    "value_sum": (FAILED, correlation("value_sum", ["failed_login"], condition="field: Size; gt: 20.5")),
    "temporal": (RECON, correlation("temporal", ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"])),
    "temporal_ordered": (RECON, correlation("temporal_ordered", ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"])),
}


def stream(kind: str, seed: int) -> list[tuple[float, str, dict[str, str]]]:
    rng = random.Random(seed)
    out = []
    for _ in range(400):
        ts = round(rng.uniform(0, 1200), 3)
        code = RECON_CODES[rng.choice("abc")] if kind.startswith("temporal") else "4625"
        out.append((ts, code, {"User": rng.choice("uvwxy"), "Ip": rng.choice("pqrstu"),
                               "Size": str(rng.choice((0.5, 1, 2, 3.25, 4)))}))  # fmt: skip
    return sorted(out, key=lambda x: x[0])


def oracle(kind: str, items: list[tuple[float, str, dict[str, str]]]) -> dict[str, list[float]]:
    """Per user: the event times at which the window [t - 60 s, t] satisfies the condition."""
    by_user: dict[str, list[tuple[float, str, dict[str, str]]]] = defaultdict(list)
    for item in items:
        by_user[item[2]["User"]].append(item)
    holds: dict[str, list[float]] = {}
    for user, rows in by_user.items():
        times = []
        for t, _, _ in rows:
            window = [r for r in rows if t - SPAN <= r[0] <= t]
            if _satisfied(kind, window):
                times.append(t)
        holds[user] = times
    return holds


def _satisfied(kind: str, window: list[tuple[float, str, dict[str, str]]]) -> bool:
    codes = [code for _, code, _ in window]
    match kind:
        case "event_count":
            return len(window) >= 6
        case "value_count":
            return len({d["Ip"] for _, _, d in window}) >= 4
        case "value_sum":
            return sum(float(d["Size"]) for _, _, d in window) > 20.5
        case "temporal":
            return set(RECON_CODES.values()) <= set(codes)
    step = 0
    for code in codes:
        if step < 3 and code == RECON_CODES["abc"[step]]:
            step += 1
    return step == 3


def episodes(times: list[float]) -> list[float]:
    return [t for i, t in enumerate(times) if i == 0 or t - times[i - 1] > SPAN]


@pytest.mark.parametrize("kind", list(CASES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_in_order_alerts_are_exactly_the_episodes_of_a_full_recount(kind: str, seed: int):
    items = stream(kind, seed)
    h = Harness(*CASES[kind])
    alerts = h.feed(*[event(t, code, **data) for t, code, data in items])
    expected = sorted((user, at(t)) for user, times in oracle(kind, items).items() for t in episodes(times))
    assert sorted((a.entity.value, a.last_seen) for a in alerts) == expected
    assert expected  # the seeds give every kind something to find


@pytest.mark.parametrize("kind", list(CASES))
def test_shuffled_within_the_allowance_alerts_the_same_groups(kind: str):
    items = stream(kind, 7)
    rng = random.Random(7)
    arrival = sorted(items, key=lambda x: x[0] + rng.uniform(0, 240))  # up to 4 minutes late
    h = Harness(*CASES[kind], allowance=300)
    alerts = h.feed(*[event(t, code, **data) for t, code, data in arrival])
    assert h.detector.snapshot().late == 0
    assert {a.entity.value for a in alerts} == {user for user, times in oracle(kind, items).items() if times}
    for a in alerts:  # each alert's window is a real one
        assert a.last_seen - a.first_seen <= timedelta(seconds=SPAN)


@pytest.mark.parametrize("kind", list(CASES))
def test_a_restart_anywhere_changes_nothing(kind: str):
    """Checkpoint through JSON every 37 events, restore into a fresh detector: the same alerts."""
    items = stream(kind, 11)
    events = [event(t, code, **data) for t, code, data in items]
    straight = Harness(*CASES[kind]).feed(*events)
    restarted = []
    h = Harness(*CASES[kind])
    for i in range(0, len(events), 37):
        restarted += h.feed(*events[i : i + 37])
        checkpoint = json.loads(h.detector.snapshot().model_dump_json())
        h = Harness(*CASES[kind])
        h.detector.restore(checkpoint)
    assert restarted == straight
    assert straight
