"""Correlation windows: every type, boundaries, sliding vs buckets, late and out-of-order events,
group-by isolation, aliases, dedup, and a restart mid-window through a JSON checkpoint."""

from __future__ import annotations

import json

from core.models.alert import Alert, AlertOrigin, DetectorKind, Severity
from detectors.sigma.correlation import CorrelationDetector
from tests.unit.correlation_kit import (
    FAILED,
    FAILED_ID,
    RECON,
    SUCCESS,
    T0,
    Harness,
    at,
    correlation,
    ecs_event,
    event,
)

BRUTE = correlation("event_count", ["failed_login"], condition="gte: 5")


def failures(*seconds: float, user: str = "alice", **data: str) -> list:
    return [event(s, User=user, **data) for s in seconds]


# --- event_count --------------------------------------------------------------------------------------


def test_event_count_fires_at_the_nth_event_not_before():
    h = Harness(FAILED, BRUTE)
    assert h.feed(*failures(0, 10, 20, 30)) == []
    [alert] = h.feed(*failures(40))
    assert alert.rule.kind is DetectorKind.CORRELATION
    assert alert.event_count == 5
    assert (alert.first_seen, alert.last_seen) == (at(0), at(40))
    assert alert.severity is Severity.HIGH
    assert alert.entity.key == "user:alice"
    assert alert.dedup_key == "c0000000-0000-4000-8000-000000000001|user=alice"
    assert alert.tags == ["attack.credential-access", "attack.t1110"]  # inherited from the counted rule
    assert alert.summary.en.startswith("test event_count: event_count gte 5 within 1m held for User=alice")
    assert "关联规则" in alert.summary.zh


def test_gt_needs_one_more_than_gte():
    h = Harness(FAILED, correlation("event_count", ["failed_login"], condition="gt: 5"))
    assert h.feed(*failures(0, 1, 2, 3, 4)) == []
    assert len(h.feed(*failures(5))) == 1


def test_window_edges_are_inclusive():
    h = Harness(FAILED, BRUTE)
    assert len(h.feed(*failures(0, 15, 30, 45, 60))) == 1  # first and last exactly one timespan apart
    h = Harness(FAILED, BRUTE)
    assert h.feed(*failures(0, 15, 30, 45, 60.001)) == []  # the first event is out of the window ending at 60.001


def test_sliding_window_catches_a_burst_straddling_a_minute_boundary():
    h = Harness(FAILED, BRUTE)
    burst = [50, 53, 57, 61, 64]  # 09:00:50 .. 09:01:04: never 5 in one clock minute
    assert len(h.feed(*failures(*burst))) == 1


def test_one_alert_per_episode_then_a_new_episode_after_a_quiet_timespan():
    h = Harness(FAILED, BRUTE)
    first = h.feed(*failures(*range(0, 40, 2)))  # 20 failures in 40 s
    assert len(first) == 1
    assert h.feed(*failures(100)) == []  # condition no longer holds: no alert, episode ends
    second = h.feed(*failures(200, 201, 202, 203, 204))
    assert len(second) == 1
    assert second[0].first_seen == at(200)
    ids = {Alert.of(a, origin=AlertOrigin.STREAM, raised_at=T0).id for a in first + second}
    assert len(ids) == 2


def test_groups_are_isolated_and_compared_case_insensitively():
    h = Harness(FAILED, BRUTE)
    mixed = [event(i, User=("alice" if i % 2 else "bob")) for i in range(8)]  # 4 each
    assert h.feed(*mixed) == []
    [alert] = h.feed(event(9, User="ALICE"))
    assert alert.entity.key == "user:alice"
    assert alert.event_count == 5


def test_events_without_the_group_by_field_are_not_counted_but_reported():
    h = Harness(FAILED, BRUTE)
    assert h.feed(*[event(i) for i in range(6)]) == []
    rule_id = h.engine.correlations.rules[0].id
    assert h.detector.snapshot().rules[rule_id].ungrouped == 6


def test_redelivered_events_are_counted_once():
    h = Harness(FAILED, BRUTE)
    once = failures(0, 1, 2, 3)
    assert h.feed(*once, *once) == []  # at-least-once delivery: the same four events again
    assert len(h.feed(*failures(4))) == 1


def test_a_flood_is_bounded_per_group_and_the_drops_are_counted():
    h = Harness(FAILED, correlation("event_count", ["failed_login"], condition="gte: 8"), max_entries=10)
    assert len(h.feed(*failures(*range(30)))) == 1
    status = h.detector.status().rules[0]
    assert (status.entries, status.dropped) == (10, 20)


# --- late and out-of-order events ---------------------------------------------------------------------


def test_out_of_order_event_within_the_allowance_is_inserted_in_time_order():
    h = Harness(FAILED, BRUTE)
    assert h.feed(*failures(0, 10, 20, 40)) == []
    [alert] = h.feed(*failures(30))  # arrives last, belongs between 20 and 40
    assert (alert.first_seen, alert.last_seen, alert.event_count) == (at(0), at(40), 5)


def test_out_of_order_event_completes_a_window_ending_at_a_later_event():
    h = Harness(FAILED, BRUTE)
    assert h.feed(*failures(10, 20, 65, 68)) == []
    [alert] = h.feed(*failures(12))  # the windows ending at 12, 20 and 65 stay short; the one ending at 68 has 5
    assert (alert.first_seen, alert.last_seen) == (at(10), at(68))


def test_events_later_than_the_allowance_are_counted_not_windowed():
    h = Harness(FAILED, BRUTE, allowance=60)
    assert h.feed(*failures(600, 601, 602, 603)) == []
    late = failures(400)
    assert h.feed(*late) == []  # would have been the 5th event, but 400 < 603 - 60
    state = h.detector.snapshot()
    rule_id = h.engine.correlations.rules[0].id
    assert (state.late, state.rules[rule_id].late) == (1, 1)
    [sample] = state.late_recent
    assert (sample.event_id, sample.group, sample.watermark) == (late[0].event.id, "User=alice", at(543))
    assert h.detector.status().late == 1
    assert len(h.feed(*failures(604))) == 1  # the windows were not disturbed


def test_lateness_is_per_group_so_imports_and_skewed_clocks_stay_contained():
    h = Harness(FAILED, BRUTE, allowance=60)
    h.tick(86_400)  # the live clock is a day ahead of what follows
    assert len(h.feed(*failures(0, 1, 2, 3, 4))) == 1  # an imported old file still correlates
    assert h.feed(*failures(100_000, user="skewed")) == []  # one future-dated event...
    assert h.feed(*failures(5, 6, 7, 8, user="bob")) == []  # ...makes nobody else late
    assert len(h.feed(*failures(9, user="bob"))) == 1
    assert h.feed(*failures(200, user="skewed")) == []  # but is late for its own group
    assert h.detector.snapshot().late == 1


# --- value_count, value_sum, value_avg ----------------------------------------------------------------


def test_value_count_counts_distinct_values():
    rule = correlation("value_count", ["failed_login"], group_by=("IpAddress",), condition="field: User; gte: 3")
    h = Harness(FAILED, rule)
    same = [event(i, User="alice", IpAddress="10.0.0.9") for i in range(5)]
    assert h.feed(*same) == []
    assert h.feed(event(6, User="bob", IpAddress="10.0.0.9")) == []  # 2 distinct
    assert h.feed(event(7, User="carol", IpAddress="10.0.0.8")) == []  # other group
    [alert] = h.feed(event(8, User="Carol", IpAddress="10.0.0.9"))
    assert alert.entity.key == "ip:10.0.0.9"
    assert alert.context["value"] == 3


BYTES = "\n".join(
    [
        "title: website_access",
        "id: 0f000000-0000-4000-8000-000000000001",
        "name: website_access",
        "logsource: {product: windows, service: security}",
        "detection: {selection: {EventID: 5156}, condition: selection}",
    ]
)


def test_value_sum_compares_the_sum_of_a_numeric_field():
    rule = correlation("value_sum", ["website_access"], timespan="1h", group_by=("SourceIP", "User"),
                       condition="field: bytes_sent; gt: 1000000")  # fmt: skip
    h = Harness(BYTES, rule)

    def upload(ts: float, size: str, user: str = "bob") -> list:
        return [event(ts, "5156", SourceIP="10.1.1.1", User=user, bytes_sent=size)]

    assert h.feed(*upload(0, "500000"), *upload(60, "500000")) == []  # exactly 1,000,000: not gt
    assert h.feed(*upload(90, "n/a"), *upload(95, "700000", user="eve")) == []  # not a number; another group
    [alert] = h.feed(*upload(120, "1"))
    assert alert.context["value"] == 1000001
    assert alert.event_count == 4  # the non-numeric event is in the window, adds nothing


def test_value_avg_and_a_range_condition():
    rule = correlation("value_avg", ["website_access"], timespan="1h", group_by=("User",),
                       condition="field: bytes_sent; gt: 500")  # fmt: skip
    h = Harness(BYTES, rule)
    assert h.feed(event(0, "5156", User="bob", bytes_sent="400"), event(1, "5156", User="bob", bytes_sent="600")) == []
    assert len(h.feed(event(2, "5156", User="bob", bytes_sent="900"))) == 1


# --- temporal and temporal_ordered -------------------------------------------------------------------


def recon(ts: float, which: str, user: str = "alice", host: str = "ws1"):
    return event(ts, {"a": "4798", "b": "4799", "c": "5140"}[which], ComputerName=host, User=user)


def temporal(kind: str) -> str:
    return correlation(kind, ["recon_cmd_a", "recon_cmd_b", "recon_cmd_c"], timespan="5m",
                       group_by=("ComputerName", "User"))  # fmt: skip


def test_temporal_needs_every_rule_in_any_order_within_the_timespan():
    h = Harness(RECON, temporal("temporal"))
    assert h.feed(recon(0, "c"), recon(10, "a"), recon(20, "a")) == []
    [alert] = h.feed(recon(30, "b"))
    assert alert.entity.key == "user:alice"
    assert alert.event_count == 4
    h = Harness(RECON, temporal("temporal"))
    assert h.feed(recon(0, "a"), recon(10, "b"), recon(311, "c")) == []  # c comes 5m01s after a
    assert h.feed(recon(400, "a", user="bob"), recon(401, "b"), recon(402, "c", host="ws2")) == []  # 3 groups


def test_temporal_ordered_needs_the_given_order():
    h = Harness(RECON, temporal("temporal_ordered"))
    assert h.feed(recon(0, "c"), recon(1, "b"), recon(2, "a")) == []
    assert h.feed(recon(3, "c")) == []  # a, c: b is missing between them
    assert len(h.feed(recon(4, "b"), recon(5, "c"))) == 1  # a(2) b(4) c(5)


def test_temporal_ordered_accepts_an_out_of_order_arrival_by_event_time():
    h = Harness(RECON, temporal("temporal_ordered"))
    assert h.feed(recon(0, "a"), recon(20, "c")) == []
    assert len(h.feed(recon(10, "b"))) == 1  # arrives last, happened between a and c


ALIAS_RULES = """title: internal_error
id: 0a000000-0000-4000-8000-000000000001
name: internal_error
logsource: {category: webserver}
detection: {selection: {http.response.status_code: 500}, condition: selection}
---
title: new_network_connection
id: 0a000000-0000-4000-8000-000000000002
name: new_network_connection
logsource: {category: firewall}
detection: {selection: {event.category: network, event.outcome: success}, condition: selection}
"""
ALIASES = """    aliases:
        internal_ip:
            internal_error: destination.ip
            new_network_connection: source.ip
        remote_ip:
            internal_error: source.ip
            new_network_connection: destination.ip"""


def test_aliases_group_different_fields_of_different_rules():
    rule = correlation("temporal", ["internal_error", "new_network_connection"], timespan="10s",
                       group_by=("internal_ip", "remote_ip"), extra=ALIASES)  # fmt: skip
    h = Harness(ALIAS_RULES, rule)

    def error(ts: float, inside: str, outside: str):
        return ecs_event(ts, "apache.access", http={"response": {"status_code": 500}},
                         source={"ip": outside}, destination={"ip": inside})  # fmt: skip

    def connection(ts: float, inside: str, outside: str):
        return ecs_event(ts, "iptables.log", event={"category": ["network"], "outcome": "success"},
                         source={"ip": inside}, destination={"ip": outside})  # fmt: skip

    assert h.feed(error(0, "10.0.0.1", "1.2.3.4"), connection(1, "1.2.3.4", "10.0.0.1")) == []  # reversed
    [alert] = h.feed(connection(2, "10.0.0.1", "1.2.3.4"))
    assert alert.context["group.internal_ip"] == "10.0.0.1"
    assert alert.context["group.remote_ip"] == "1.2.3.4"


# --- conditions decided when the window closes --------------------------------------------------------


def test_lt_is_decided_when_the_window_closes():
    h = Harness(FAILED, correlation("event_count", ["failed_login"], timespan="10m", condition="lt: 3"), allowance=60)
    assert h.feed(*failures(0, 60), *failures(0, 30, 90, user="bob")) == []
    assert h.tick(599) == []  # alice's window [0, 600] is still open
    assert h.tick(660) == []  # 600 is not yet behind the clock's watermark (660 - 60)
    [alert] = h.tick(661)
    assert (alert.entity.key, alert.event_count) == ("user:alice", 2)
    assert h.feed(*failures(500)) == []  # inside alice's decided window: late, not a new window
    assert h.detector.snapshot().rules[h.engine.correlations.rules[0].id].late == 1
    assert h.tick(2000) == []  # bob had 3: not fewer than 3; nothing fires twice
    assert h.detector.status().rules[0].groups == 0  # both idle for allowance + timespan: forgotten


def test_at_close_windows_close_on_the_groups_own_events_too():
    h = Harness(FAILED, correlation("event_count", ["failed_login"], timespan="1m", condition="lt: 3"), allowance=10)
    h.tick(10_000)  # a live clock far ahead; the group below is an import still arriving
    h.feed(*failures(0, 30))
    assert h.tick(10_001) == []  # the group is not idle: only its own watermark closes windows
    assert h.feed(*failures(50)) == []  # still inside the open window [0, 60]
    assert h.feed(*failures(200)) == []  # watermark 190: [0, 60] is over, with 3 events
    h.feed(*failures(215))
    [alert] = h.tick(10_050)  # idle now: [200, 260] closes with 2 events
    assert (alert.first_seen, alert.event_count) == (at(200), 2)


def test_eq_and_ranges_count_the_whole_window_not_a_passing_value():
    eq = Harness(FAILED, correlation("event_count", ["failed_login"], condition="eq: 3"), allowance=0)
    assert eq.feed(*failures(0, 1, 2, 3, 4)) == []  # passes 3 on the way to 5
    assert eq.tick(61) == []
    ranged = Harness(FAILED, correlation("event_count", ["failed_login"], condition="gt: 2; lte: 4"), allowance=0)
    ranged.feed(*failures(0, 1, 2), *failures(0, 1, 2, 3, 4, user="bob"))
    assert [a.entity.key for a in ranged.tick(61)] == ["user:alice"]


def test_lte_and_neq_at_close():
    lte = Harness(FAILED, correlation("event_count", ["failed_login"], condition="lte: 2"), allowance=0)
    lte.feed(*failures(0, 59), *failures(0, 30, 60, user="bob"))
    assert [a.entity.key for a in lte.tick(61)] == ["user:alice"]  # 2 <= 2; bob's 3 are not
    neq = Harness(FAILED, correlation("event_count", ["failed_login"], condition="neq: 2"), allowance=0)
    neq.feed(*failures(0, 59), *failures(0, user="bob"), *failures(0, 1, 2, user="carol"))
    assert sorted(a.entity.key for a in neq.tick(61)) == ["user:bob", "user:carol"]


def test_value_count_over_several_fields_counts_distinct_combinations():
    pair = "field: [User, Host]; gte: 3"
    rule = correlation("value_count", ["failed_login"], group_by=("IpAddress",), condition=pair)
    h = Harness(FAILED, rule)
    same_user = [event(i, IpAddress="10.0.0.1", User="alice", Host=f"ws{i % 2}") for i in range(4)]  # 2 combinations
    assert h.feed(*same_user) == []
    assert len(h.feed(event(5, IpAddress="10.0.0.1", User="bob", Host="ws0"))) == 1


# --- generate, restart ---------------------------------------------------------------------------------


def test_generate_false_silences_the_base_rules_and_true_keeps_them():
    quiet = Harness(FAILED, BRUTE)
    assert quiet.detector.suppresses(FAILED_ID)
    loud = Harness(FAILED, BRUTE.replace("    timespan:", "    generate: true\n    timespan:"))
    assert not loud.detector.suppresses(FAILED_ID)
    assert len(loud.engine.correlations.rules) == 1 and loud.engine.correlations.rules[0].generate


def test_restart_mid_window_continues_the_count_and_keeps_the_alert_id():
    events = failures(0, 10, 20, 30, 40, 50)
    straight = Harness(FAILED, BRUTE)
    [expected] = straight.feed(*events)

    first = Harness(FAILED, BRUTE)
    assert first.feed(*events[:3]) == []
    checkpoint = first.detector.snapshot().model_dump_json()
    second = Harness(FAILED, BRUTE)
    second.detector.restore(json.loads(checkpoint))
    assert second.detector.snapshot() == first.detector.snapshot()  # exact round trip
    [alert] = second.feed(*events[3:])
    assert alert == expected
    key = Alert.of(alert, origin=AlertOrigin.STREAM, raised_at=T0).id
    assert key == Alert.of(expected, origin=AlertOrigin.STREAM, raised_at=T0).id

    third = Harness(FAILED, BRUTE)  # restarted after the alert: the episode is remembered
    third.detector.restore(json.loads(second.detector.snapshot().model_dump_json()))
    assert third.feed(*failures(55, 58)) == []


def test_state_is_garbage_collected_behind_the_watermark():
    h = Harness(FAILED, BRUTE, allowance=60)
    h.feed(*failures(0, 1, 2, user="alice"), *failures(0, 1, user="bob"))
    h.tick(10_000)
    assert h.detector.status().rules[0].groups == 0
    assert isinstance(h.detector, CorrelationDetector)


def test_chained_correlations_follow_the_spec_example():
    """Spec "Failed Logins Followed by Successful Login": temporal_ordered over an event_count."""
    text = SPEC_CHAIN
    h = Harness(text)
    many = [event(i, User="alice") for i in range(10)]
    assert h.feed(*many[:9], event(20, "4624", User="alice")) == []  # 9 failures only
    [alert] = h.feed(many[9], event(30, "4624", User="alice"))
    assert alert.rule.id == "b180ead8-d58f-40b2-ae54-c8940995b9b6"  # only the outer rule alerts
    assert alert.severity is Severity.HIGH
    ordered = Harness(text)
    assert ordered.feed(event(0, "4624", User="bob"), *[event(1 + i, User="bob") for i in range(10)]) == []
    quiet = ordered.engine.correlations.quiet
    assert {"53ba33fd-3a50-4468-a5ef-c583635cfa92", "a8418a5a-5fc4-46b5-b23b-6c73beb19d41"} <= quiet


SPEC_CHAIN = (
    """title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
status: experimental
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
"""
    + FAILED
    + "---\n"
    + SUCCESS
)
