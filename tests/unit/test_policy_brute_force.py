"""Brute force and password spraying: boundaries, order, lateness, restart, and real attack data."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from detectors.policy.brute_force import ATTEMPT, SPRAY, SUCCESS, BruteForceConfig, BruteForceDetector
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset, lines
from tests.unit.policy_support import CTX, FakeClock, feed, login, parse, restart, rules

CFG = BruteForceConfig(window=timedelta(minutes=10), lateness=timedelta(minutes=5), failures=5, attempts=20,
                       spray_users=10)  # fmt: skip


def detector() -> BruteForceDetector:
    return BruteForceDetector(CFG)


def decide(det: BruteForceDetector, events: list) -> list:
    """Feed, then tick once the last key has been quiet for the lateness: every pending event decided."""
    alerts = feed(det, events)
    return alerts + det.on_tick(max(e.timestamp for e in events) + det.config.lateness + timedelta(seconds=1))


def fails(n: int, user: str = "alice", ip: str = "10.0.0.9", start: float = 0.0, step: float = 0.5) -> list:
    return [login(start + i * step, user, ip, outcome="failure") for i in range(n)]


def test_success_after_exactly_n_failures() -> None:
    assert decide(detector(), [*fails(4), login(3, "alice", "10.0.0.9")]) == []  # N-1
    alerts = decide(detector(), [*fails(5), login(3, "alice", "10.0.0.9")])  # N
    # the same guesses are seen per account and per source: one alert each, both entities
    assert rules(alerts) == [SUCCESS.id, SUCCESS.id]
    assert {a.entity.key for a in alerts} == {"user:alice", "ip:10.0.0.9"}
    alert = alerts[0]
    assert alert.severity.value == "critical" and alert.playbook == "brute-force"
    assert alert.event_count == 6 and "attack.t1110" in alert.tags and "暴力破解" in alert.summary.zh


def test_failures_outside_the_window_do_not_count() -> None:
    old = fails(5, start=0)
    success = login(10 + 0.01, "alice", "10.0.0.9")  # 10 min after the first failure: 4 remain inside
    assert decide(detector(), [*old, success]) == []


def test_attempts_threshold_boundary() -> None:
    assert decide(detector(), fails(19, step=0.1)) == []
    alerts = decide(detector(), fails(20, step=0.1))
    assert sorted(rules(alerts)) == [ATTEMPT.id, ATTEMPT.id]  # per user and per source


def test_password_spraying_boundary() -> None:
    def spray(n: int) -> list[str]:
        return rules(decide(detector(), [login(i * 0.2, f"user{i}", "10.0.0.66", outcome="failure")
                                       for i in range(n)]))  # fmt: skip

    assert spray(9) == []
    assert spray(10) == [SPRAY.id]


def test_success_arriving_before_its_failures() -> None:
    det = detector()
    evs = [*fails(5), login(3, "alice", "10.0.0.9")]
    assert feed(det, [evs[-1], *evs[:4]]) == []  # nothing is decided before the watermark passes
    assert rules(decide(det, [evs[4]])) == [SUCCESS.id, SUCCESS.id]  # the 5th, later still, completes it


def test_too_late_events_go_to_the_late_counter() -> None:
    det = detector()
    feed(det, [login(60, "alice", "10.0.0.9", outcome="failure")])
    assert decide(det, fails(5, start=0)) == []  # an hour older than the newest: beyond window + lateness
    assert det.state.late == det.state.dropped == 10  # five events, two keys each


def test_restart_mid_window() -> None:
    det = detector()
    feed(det, fails(3))
    det = restart(det, detector)
    feed(det, fails(2, start=2))
    det = restart(det, detector)
    assert len(decide(det, [login(4, "alice", "10.0.0.9")])) == 2


def test_tick_forgets_closed_windows() -> None:
    det, clock = detector(), FakeClock()
    feed(det, fails(3))
    det.on_tick(clock.advance(minutes=15))
    assert len(det.state.failures) == 2  # newest + window + lateness not yet passed
    det.on_tick(clock.advance(minutes=2))
    assert det.state.failures == {}


def test_loghub_openssh_brute_force_is_detected() -> None:
    det = detector()
    alerts = decide(det, [parse(line) for line in lines("loghub", "OpenSSH", "OpenSSH_2k.log")])
    by_rule = Counter(rules(alerts))
    sources = {a.entity.value for a in alerts if a.rule.id == ATTEMPT.id and a.entity.kind == "ip"}
    assert by_rule[ATTEMPT.id] >= 1 and "183.62.140.253" in sources
    assert by_rule[SUCCESS.id] == 0  # the one Accepted login in the sample follows no failures
    assert by_rule[SPRAY.id] >= 1  # invalid-user dictionary runs from one address


def test_windows_4625_local_bruteforce_mdecrevoisier() -> None:
    path = dataset("attack", "mdecrevoisier", "TA0006-Credential Access", "T1110.xxx-Brut force",
                   "ID 4776,4625-AccountRestore local bruteforce.jsonl")  # fmt: skip
    det = BruteForceDetector(CFG.model_copy(update={"attempts": 8}))
    alerts = decide(det, [parse_windows(line, CTX) for line in path.read_text().splitlines() if line.strip()])
    assert {a.entity.key for a in alerts if a.rule.id == ATTEMPT.id} == {"user:admin", "user:administrator"}


def test_sshd_companion_lines_are_not_extra_guesses() -> None:
    rows = [
        "Dec  1 10:00:00 srv sshd[1]: Invalid user bob from 10.0.0.9 port 1",
        "Dec  1 10:00:00 srv sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 "
        "tty=ssh ruser= rhost=10.0.0.9  user=bob",
        "Dec  1 10:00:01 srv sshd[1]: Failed password for invalid user bob from 10.0.0.9 port 1 ssh2",
    ]
    det = detector()
    decide(det, [parse(r) for r in rows])
    assert det.state.failures["ip:10.0.0.9"].held_total == 1


def test_kerberos_spray_mdecrevoisier() -> None:
    path = dataset("attack", "mdecrevoisier", "TA0006-Credential Access", "T1110.xxx-Brut force",
                   "ID4768-4771-Kerberos brutforce with non existing users.jsonl")  # fmt: skip
    alerts = decide(BruteForceDetector(), [parse_windows(line, CTX) for line in path.read_text().splitlines() if line])
    assert SPRAY.id in rules(alerts) and all(a.entity.kind in ("ip", "user") for a in alerts)


def test_shuffled_loghub_failures_within_the_allowance_give_the_alerts_of_time_order() -> None:
    """The real OpenSSH sample (2,000 lines: brute force and spraying from several sources), delivered
    in time order and in 5 random orders where no event comes more than `lateness` behind the newest."""
    events = sorted((parse(line) for line in lines("loghub", "OpenSSH", "OpenSSH_2k.log")), key=lambda e: e.timestamp)
    ordered = decide(detector(), events)
    assert Counter(rules(ordered))[ATTEMPT.id] >= 1 and Counter(rules(ordered))[SPRAY.id] >= 1
    expected = sorted(a.model_dump_json() for a in ordered)
    allowance = CFG.lateness.total_seconds() * 0.99
    for seed in range(5):
        jitter = random.Random(seed)
        arrival = sorted(events, key=lambda e: e.timestamp.timestamp() + jitter.uniform(0, allowance))
        assert arrival != events  # really out of order
        det = detector()
        assert sorted(a.model_dump_json() for a in decide(det, arrival)) == expected, seed
        assert det.state.late == 0


def test_an_event_behind_the_watermark_is_late_and_judged_at_once() -> None:
    det = detector()
    feed(det, fails(5))
    feed(det, [login(8, "alice", "10.0.0.9", outcome="failure")])  # the watermark (8 - 5 min) passes the 5
    late = feed(det, [login(2.5, "alice", "10.0.0.9")])  # behind it: judged on arrival, not held back
    assert rules(late) == [SUCCESS.id, SUCCESS.id] and det.state.late == 2 and det.state.dropped == 0


def test_a_guessing_burst_keeps_one_bin_per_second_and_counts_every_guess() -> None:
    """1,000 guesses a second for 10 s from one source against 12 accounts: about 10 bins per key (the
    per-event window held all 10,000), the same alerts, and the success after them counts every failure
    while its listed ids stay capped."""
    burst = [login(i / 60_000, f"user{i % 12}", "10.0.0.66", outcome="failure") for i in range(10_000)]
    det = detector()
    success = login(0.5, "user3", "10.0.0.66")
    alerts = decide(det, [*burst, success])
    by_rule = Counter((a.rule.id, a.entity.key) for a in alerts)
    assert by_rule[(ATTEMPT.id, "ip:10.0.0.66")] == 1 and by_rule[(SPRAY.id, "ip:10.0.0.66")] == 1
    assert sum(n for (rule, key), n in by_rule.items() if rule == ATTEMPT.id and key.startswith("user:")) == 12
    spray = next(a for a in alerts if a.rule.id == SPRAY.id)
    assert spray.context["accounts"] == 10 and spray.event_count == 10  # fired at the 10th account, in the 1st bin
    [ip_success] = [a for a in alerts if a.rule.id == SUCCESS.id and a.entity.key == "ip:10.0.0.66"]
    assert ip_success.event_count == 10_001 and ip_success.context["failures"] == 10_000
    assert len(ip_success.event_ids) == 201 and ip_success.event_ids[-2:] == [burst[-1].event.id, success.event.id]
    assert det.state.failures["user:user3"].bins == []  # accounted for by the success
    assert max(len(w.bins) for w in det.state.failures.values()) <= 11
