"""Flatline: a source that normally reports goes silent → one META alert from on_tick, per episode."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.models.alert import DetectorKind
from core.models.ecs import EcsEvent
from detectors.base import Detector
from detectors.flatline import FlatlineDetector, FlatlineSettings

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 23:30 in Shanghai on 2 March is 15:30 UTC: a cadence running across local midnight.
START = datetime(2026, 3, 2, 23, 30, tzinfo=SHANGHAI)


def event(ts: datetime, source: str = "fw01", category: str = "network", *, ingested: datetime | None = None):
    return EcsEvent.model_validate(
        {
            "@timestamp": ts,
            "event": {"ingested": ingested} if ingested else {},
            "vigil": {"category": category, "source": source, "parser": "test"},
        }
    )


def every(step: timedelta, count: int, start: datetime = START, **kw) -> list[EcsEvent]:
    return [event(start + i * step, **kw) for i in range(count)]


def feed(detector: FlatlineDetector, events: list[EcsEvent]) -> list:
    alerts = []
    for e in events:
        alerts += detector.on_event(e, [])
    return alerts


def test_it_is_a_detector():
    assert isinstance(FlatlineDetector(), Detector)


def test_normal_cadence_across_local_midnight_raises_nothing():
    d = FlatlineDetector()
    minute = timedelta(minutes=1)
    events = every(minute, 60)  # 23:30 .. 00:29 Shanghai time
    assert feed(d, events) == []
    for i in range(60):  # ticks between events, half a minute after each
        assert d.on_tick(events[i].timestamp + minute / 2) == []


def test_silence_fires_once_from_the_tick_and_recovery_resets():
    d = FlatlineDetector()
    minute = timedelta(minutes=1)
    events = every(minute, 60)
    feed(d, events)
    last = events[-1].timestamp
    assert d.on_tick(last + timedelta(minutes=4, seconds=59)) == []  # floor: 5 minutes (usual gap 1 min x 3)
    [alert] = d.on_tick(last + timedelta(minutes=5, seconds=1))
    assert alert.rule.kind is DetectorKind.META
    assert alert.playbook == "log-source-silent"
    assert alert.entity.key == "source:fw01"
    assert alert.first_seen == last and alert.event_count == 0
    assert "00:29:00 (Asia/Shanghai)" in alert.summary.en  # the last event, shown in the local zone
    assert "已静默 5分1秒" in alert.summary.zh
    assert d.on_tick(last + timedelta(hours=3)) == []  # one alert per episode

    back = last + timedelta(hours=3, minutes=1)
    assert feed(d, [event(back)]) == []  # recovery: never an alert from an event
    [day] = d.snapshot().sources["fw01\x1fnetwork"].days.values()
    assert max(day.longest.values()) == 300  # the 3-hour outage was learned as its 5-minute threshold
    feed(d, every(minute, 3, back + minute))
    assert d.on_tick(back + timedelta(minutes=4)) == []
    assert len(d.on_tick(back + timedelta(minutes=20))) == 1  # a new episode


def test_a_source_still_learning_never_fires():
    d = FlatlineDetector(FlatlineSettings(min_gaps=20))
    feed(d, every(timedelta(minutes=1), 20))  # 19 gaps
    assert d.on_tick(START + timedelta(days=1)) == []


def test_bursty_source_learns_its_pause_not_its_burst():
    """100 events in a second every hour: silent for 50 minutes is normal, for 4 hours it is not."""
    d = FlatlineDetector()
    events = [event(START + timedelta(hours=h, milliseconds=10 * i)) for h in range(6) for i in range(100)]
    feed(d, events)
    last = events[-1].timestamp
    assert d.on_tick(last + timedelta(minutes=50)) == []
    assert d.on_tick(last + timedelta(hours=2, minutes=59)) == []  # 3 x the hourly gap
    assert len(d.on_tick(last + timedelta(hours=3, minutes=1))) == 1


def test_sources_and_categories_are_tracked_apart():
    d = FlatlineDetector()
    minute = timedelta(minutes=1)
    feed(d, every(minute, 30, source="fw01") + every(minute, 30, source="dc01", category="system"))
    feed(d, [event(START + 40 * minute, source="fw01")])  # fw01 keeps reporting, dc01 stopped at +29 min
    alerts = d.on_tick(START + 40 * minute)
    assert [a.entity.key for a in alerts] == ["source:dc01"]
    assert alerts[0].dedup_key == "flatline|dc01|system"


def test_arrival_time_is_the_ingest_time_when_known():
    """A source whose clock is 8 hours behind (local time written as UTC) is not silent."""
    d = FlatlineDetector()
    minute = timedelta(minutes=1)
    skewed = [event(START + i * minute - timedelta(hours=8), ingested=START + i * minute) for i in range(30)]
    feed(d, skewed)
    assert d.on_tick(START + 31 * minute) == []


def test_snapshot_restore_round_trips_through_json():
    d = FlatlineDetector()
    minute = timedelta(minutes=1)
    feed(d, every(minute, 30))
    restored = FlatlineDetector()
    restored.restore(json.loads(d.snapshot().model_dump_json()))
    assert restored.snapshot() == d.snapshot()
    later = START + 40 * minute
    assert [a.model_dump() for a in restored.on_tick(later)] == [a.model_dump() for a in d.on_tick(later)]
    assert restored.snapshot().sources["fw01\x1fnetwork"].silent_threshold is not None


def test_history_is_bounded_to_the_horizon():
    d = FlatlineDetector(FlatlineSettings(horizon_days=3))
    feed(d, [event(datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=6 * i)) for i in range(40)])
    assert len(d.snapshot().sources["fw01\x1fnetwork"].days) == 3
