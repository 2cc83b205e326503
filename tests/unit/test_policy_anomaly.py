"""Volume spikes against an hour-of-week baseline, and first-seen pairs after a learning period."""

from __future__ import annotations

from datetime import datetime, timedelta

from detectors.policy.anomaly import (
    FIRST_SEEN,
    SPIKE,
    FirstSeenConfig,
    FirstSeenDetector,
    SpikeConfig,
    VolumeSpikeDetector,
)
from tests.unit.policy_support import SHANGHAI, FakeClock, event, feed, login, restart, rules

CFG = SpikeConfig(min_count=50, z=4.0, factor=3.0, min_slot=3, min_overall=24, alpha=0.2)
MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=SHANGHAI)  # a Monday, local midnight


def spike() -> VolumeSpikeDetector:
    return VolumeSpikeDetector(CFG)


def hour(det: VolumeSpikeDetector, start: datetime, n: int, host: str = "web01") -> list:
    step = timedelta(hours=1) / max(n, 1)
    return feed(det, [event(start + i * step, host=host, category="web") for i in range(n)])


def weeks_of_office_traffic(det: VolumeSpikeDetector, weeks: int) -> None:
    """Busy 300/h on working hours (Mon-Fri 09-18), 5/h otherwise."""
    for h in range(weeks * 7 * 24):
        start = MONDAY + timedelta(hours=h)
        local = start.astimezone(SHANGHAI)
        busy = local.weekday() < 5 and 9 <= local.hour < 18
        hour(det, start, 300 if busy else 5)


def test_seasonality_busy_monday_is_normal_but_the_same_volume_at_night_is_a_spike() -> None:
    det = spike()
    weeks_of_office_traffic(det, 3)
    week4 = MONDAY + timedelta(weeks=3)
    assert hour(det, week4 + timedelta(hours=10), 300) == []  # Monday 10:00: usual
    alerts = hour(det, week4 + timedelta(hours=11), 5) + hour(det, week4 + timedelta(hours=12), 300)
    alerts += hour(det, week4 + timedelta(hours=13), 5)
    assert alerts == []
    # Monday 03:00 of week 5 with office volume: a spike, judged when the hour closes
    night = MONDAY + timedelta(weeks=4, hours=3)
    det2 = restart(det, spike)
    hour(det2, night - timedelta(hours=1), 5)
    assert hour(det2, night, 300) == []  # the hour is still open
    alerts = det2.on_tick(night + timedelta(hours=1, minutes=10))
    assert rules(alerts) == [SPIKE.id] and alerts[0].entity.key == "host:web01"
    assert alerts[0].context["count"] == 300 and alerts[0].playbook == "anomaly"
    assert alerts[0].first_seen == night


def test_learning_period_and_min_count() -> None:
    det = spike()
    hour(det, MONDAY, 5)
    hour(det, MONDAY + timedelta(hours=1), 1000)  # no baseline yet: never alert while learning
    assert det.on_tick(MONDAY + timedelta(hours=3)) == []
    det = spike()
    for h in range(30):
        hour(det, MONDAY + timedelta(hours=h), 2)
    hour(det, MONDAY + timedelta(hours=30), 49)  # far above usual but under min_count
    assert det.on_tick(MONDAY + timedelta(hours=32)) == []


def test_late_event_for_a_closed_hour_goes_to_late_not_the_bin() -> None:
    det = spike()
    hour(det, MONDAY, 10)
    hour(det, MONDAY + timedelta(hours=2), 10)  # closes the first hour (watermark passed)
    feed(det, [event(MONDAY + timedelta(minutes=30), host="web01")])
    assert det.state.late == 1
    # an event inside the lateness allowance still lands in its (open) hour
    feed(det, [event(MONDAY + timedelta(hours=1, minutes=59), host="web01")])
    assert det.state.late == 1


def first_seen() -> FirstSeenDetector:
    return FirstSeenDetector(FirstSeenConfig(learning=timedelta(days=7)))


def test_first_seen_host_after_learning_boundary() -> None:
    det, clock = first_seen(), FakeClock()
    start = clock.now
    feed(det, [login(start, "alice", host="ws01")])
    assert feed(det, [login(start + timedelta(days=7) - timedelta(seconds=1), "alice", host="ws02")]) == []
    alerts = feed(det, [login(start + timedelta(days=7), "alice", host="srv-db")])
    assert rules(alerts) == [FIRST_SEEN.id] and alerts[0].context["value"] == "srv-db"
    assert feed(det, [login(start + timedelta(days=8), "alice", host="ws02")]) == []  # learned


def test_first_seen_process_and_destination_with_restart_and_out_of_order() -> None:
    det = first_seen()
    t = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    proc = {"category": "process", "type": "start", "host": "ws01"}
    feed(det, [event(t, process__name="explorer.exe", **proc)])
    det = restart(det, first_seen)
    feed(det, [event(t - timedelta(days=8), process__name="outlook.exe", **proc)])  # older: extends learning
    alerts = feed(det, [event(t, process__name="psexec.exe", **proc)])
    assert rules(alerts) == [FIRST_SEEN.id] and alerts[0].entity.key == "host:ws01"
    net = {"category": "network", "user": "bob"}
    feed(det, [event(t - timedelta(days=10), url__domain="intranet.corp", **net)])
    assert rules(feed(det, [event(t, url__domain="pastebin.com", **net)])) == [FIRST_SEEN.id]
