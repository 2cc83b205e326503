"""Brute force's reorder buffer bounded by `max_pending`: exact below the cap, oldest decided early
beyond it (counted in `early`), the same alerts through a burst and across a restart mid-burst."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest

from core.models.alert import AlertDraft
from core.models.ecs import EcsEvent
from detectors.policy.brute_force import ATTEMPT, SPRAY, SUCCESS, BruteForceConfig, BruteForceDetector
from tests.unit.policy_support import feed, login, restart, rules

CAP = 30
CFG = BruteForceConfig(window=timedelta(minutes=10), lateness=timedelta(minutes=5), failures=5, attempts=20,
                       spray_users=10, max_pending=CAP)  # fmt: skip
UNBOUNDED = CFG.model_copy(update={"max_pending": 10**9})


def capped() -> BruteForceDetector:
    return BruteForceDetector(CFG)


def decide(det: BruteForceDetector, events: list[EcsEvent]) -> list[AlertDraft]:
    """Feed, then tick once every key has been quiet for the lateness: every pending event decided."""
    alerts = feed(det, events)
    return alerts + det.on_tick(max(e.timestamp for e in events) + det.config.lateness + timedelta(seconds=1))


def dumps(alerts: list[AlertDraft]) -> list[str]:
    return sorted(a.model_dump_json() for a in alerts)


def fails(n: int, user: str = "alice", ip: str = "10.0.0.9", step: float = 0.001) -> list[EcsEvent]:
    """`n` failures `step` minutes apart: all inside the 5-minute allowance, so all wait."""
    return [login(i * step, user, ip, outcome="failure") for i in range(n)]


def test_the_default_cap_is_a_few_thousand() -> None:
    assert BruteForceConfig().max_pending == 5_000


@pytest.mark.parametrize(("n", "early"), [(CAP - 1, 0), (CAP, 0), (CAP + 1, 1)])
def test_cap_boundary(n: int, early: int) -> None:
    events = fails(n)
    det = capped()
    feed(det, events)
    # two keys per event (user and source): each holds at most the cap, the excess decided per key
    assert det.state.early == 2 * early
    assert {k: len(m.pending) for k, m in det.state.open.items()} == {"user:alice": n - early, "ip:10.0.0.9": n - early}
    if early:
        assert det.state.open["ip:10.0.0.9"].decided == events[0].timestamp  # the oldest went first
    else:
        assert det.state.open["ip:10.0.0.9"].decided is None  # nothing decided before the watermark
    alerts = det.on_tick(events[-1].timestamp + CFG.lateness + timedelta(seconds=1))
    assert dumps(alerts) == dumps(decide(BruteForceDetector(UNBOUNDED), events))
    assert sorted(rules(alerts)) == [ATTEMPT.id, ATTEMPT.id]


def test_the_oldest_in_event_time_go_first_whatever_the_arrival_order() -> None:
    events = fails(CAP + 3)
    held = events[1 : CAP + 1]
    random.Random(3).shuffle(held)
    det = capped()
    feed(det, held)  # the cap reached in a random order: nothing decided yet
    assert det.state.early == 0
    feed(det, [events[0], *events[CAP + 1 :]])  # the earliest comes last, then two more
    mark = det.state.open["user:alice"]
    assert det.state.early == 2 * 3 and mark.decided == events[2].timestamp
    assert [p.item.event_id for p in mark.pending] == [e.event.id for e in events[3:]]
    assert det.state.late == 0


def test_an_event_behind_an_early_decision_is_late_not_lost() -> None:
    events = fails(CAP + 5)
    det = capped()
    feed(det, events[1:])  # 4 decided early, up to events[4]
    assert det.state.early == 2 * 4 and det.state.late == 0
    feed(det, [events[0]])  # older than what was decided: judged at once, counted late
    assert det.state.late == 2 and det.state.failures["user:alice"].held_total == 5


def test_a_burst_beyond_the_cap_still_alerts_with_every_failure_counted() -> None:
    """3,000 guesses in 3 s from one source against 12 accounts (100 times the cap), then a success: the
    alerts of the unbounded buffer, while no key ever holds more than the cap."""
    burst = [login(i / 60_000, f"user{i % 12}", "10.0.0.66", outcome="failure") for i in range(3_000)]
    success = login(0.06, "user3", "10.0.0.66")
    det, peak = capped(), 0
    alerts: list[AlertDraft] = []
    for event in [*burst, success]:
        alerts += det.on_event(event, [])
        peak = max(peak, *(len(m.pending) for m in det.state.open.values()))
    alerts += det.on_tick(success.timestamp + CFG.lateness + timedelta(seconds=1))
    assert peak == CAP and det.state.early > 3_000 and det.state.late == det.state.dropped == 0
    assert dumps(alerts) == dumps(decide(BruteForceDetector(UNBOUNDED), [*burst, success]))
    by_rule = Counter((a.rule.id, a.entity.key) for a in alerts)
    assert by_rule[(ATTEMPT.id, "ip:10.0.0.66")] == 1 and by_rule[(SPRAY.id, "ip:10.0.0.66")] == 1
    [ip_success] = [a for a in alerts if a.rule.id == SUCCESS.id and a.entity.key == "ip:10.0.0.66"]
    assert ip_success.context["failures"] == 3_000 and ip_success.event_count == 3_001


def test_restart_mid_burst_keeps_the_counts_and_the_alerts() -> None:
    burst = [login(i / 60_000, f"user{i % 12}", "10.0.0.66", outcome="failure") for i in range(1_000)]
    events = [*burst, login(0.02, "user3", "10.0.0.66")]
    straight = capped()
    expected = decide(straight, events)
    det = capped()
    before = feed(det, events[:500])
    det = restart(det, capped)
    per_key = Counter(["ip:10.0.0.66"] * 500 + [f"user:user{i % 12}" for i in range(500)])
    assert det.state.early == sum(n - CAP for n in per_key.values() if n > CAP) > 0
    assert {len(m.pending) for m in det.state.open.values()} == {CAP}
    after = decide(det, events[500:])
    assert dumps(before + after) == dumps(expected)
    assert (det.state.early, det.state.late) == (straight.state.early, straight.state.late)
    assert any(a.rule.id == SUCCESS.id and a.context["failures"] == 1_000 for a in before + after)


def test_a_smaller_cap_after_a_restart_decides_the_excess_on_the_next_event() -> None:
    det = BruteForceDetector(UNBOUNDED)
    feed(det, fails(CAP + 10))
    det = restart(det, capped)
    assert det.state.early == 0 and len(det.state.open["user:alice"].pending) == CAP + 10
    feed(det, [login(1, "alice", "10.0.0.9", outcome="failure")])
    assert det.state.early == 2 * 11 and len(det.state.open["user:alice"].pending) == CAP


def test_max_pending_is_checked_when_read() -> None:
    with pytest.raises(ValueError, match="max_pending"):
        BruteForceConfig(max_pending=0)
