"""Scheduled hunt windows (lookback, overlap, restart catch-up) and checkpoints, with a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from detectors.hunt.schedule import HuntCheckpoint, HuntCheckpointError, HuntCheckpointStore, HuntSettings, pass_window

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def test_lookback_is_interval_plus_overlap_and_never_shorter_than_the_interval() -> None:
    settings = HuntSettings(interval=5 * MIN, overlap=2 * MIN)
    assert settings.window == 7 * MIN
    assert HuntSettings(interval=5 * MIN, lookback=5 * MIN).window == 5 * MIN
    with pytest.raises(ValidationError, match="shorter than the interval"):
        HuntSettings(interval=5 * MIN, lookback=4 * MIN)


def test_consecutive_passes_overlap_and_leave_no_gap() -> None:
    settings, clock = HuntSettings(interval=5 * MIN, overlap=2 * MIN), FakeClock(T0)
    last_end = None
    windows = []
    for _ in range(4):
        windows.append(pass_window(clock(), last_end, settings))
        last_end = windows[-1][1]
        clock.advance(5 * MIN)
    assert windows[0] == (T0 - 7 * MIN, T0)
    for (_, end), (start, _) in zip(windows, windows[1:], strict=False):
        assert start == end - 2 * MIN  # each pass re-reads the overlap...
    assert all(end - start == 7 * MIN for start, end in windows)  # ...and is exactly the lookback


def test_a_pass_late_by_jitter_or_a_long_pass_still_starts_at_the_last_end_minus_overlap() -> None:
    settings = HuntSettings(interval=5 * MIN, overlap=2 * MIN)
    start, end = pass_window(T0 + 11 * MIN, T0, settings)
    assert (start, end) == (T0 - 2 * MIN, T0 + 11 * MIN)


def test_after_a_restart_the_pass_reaches_back_to_the_checkpoint_but_not_past_max_catchup() -> None:
    settings = HuntSettings(interval=5 * MIN, overlap=2 * MIN, max_catchup=timedelta(days=60))
    assert pass_window(T0 + timedelta(hours=3), T0, settings)[0] == T0 - 2 * MIN
    assert pass_window(T0 + timedelta(days=90), T0, settings)[0] == T0 + timedelta(days=30)


def test_checkpoints_round_trip_and_refuse_a_corrupt_file(tmp_path) -> None:
    store = HuntCheckpointStore(tmp_path)
    assert store.load("r1") is None
    saved = HuntCheckpoint(rule_id="r1", last_end=T0, written_at=T0, state={"seen": {"e1": T0.isoformat()}})
    store.save(saved)
    assert store.load("r1") == saved
    store.path("r1").write_text("{not json", encoding="utf-8")
    with pytest.raises(HuntCheckpointError, match="move it away"):
        store.load("r1")
