"""Checkpoint files are written with orjson from the snapshot's JSON values: the same document pydantic
would write, read back to the same checkpoint, for a partition and for the global lane."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from detectors.checkpoint import Checkpoint, CheckpointStore, LaneCheckpoint
from detectors.pipeline import PipelineState
from detectors.policy.upload import UploadState
from detectors.policy.window import BinnedWindow, WindowSpec

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def upload_state() -> PipelineState:
    """Upload windows like the lane's (most of a real checkpoint), with an offset time zone and floats."""
    window, spec = BinnedWindow(), WindowSpec(timedelta(hours=1), timedelta(minutes=10))
    for i in range(50):
        ts = (T0 + timedelta(seconds=i // 2, microseconds=i)).astimezone(timezone(timedelta(hours=8)))
        window.add(ts, spec, 1024.5 * i, f"e{i}")
    state = UploadState(windows={"user:alice": window}, late=2)
    state.cooldown.last["user:alice"] = T0
    alerting = {"open": {"k": {"count": 3, "ratio": 0.1, "none": None, "ids": ["a", "b"]}}}
    return PipelineState(detectors={"policy.proxy_upload": state.model_dump(mode="json")}, alerting=alerting)


def test_partition_checkpoint_is_the_document_pydantic_writes(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "group")
    checkpoint = Checkpoint(group="group", topic="vigil.events", partition=1, offset=77, written_at=T0,
                            state=upload_state())  # fmt: skip
    store.save(checkpoint)
    text = store.path("vigil.events", 1).read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(checkpoint.model_dump_json())
    assert store.load("vigil.events", 1) == checkpoint
    restored = UploadState.model_validate(checkpoint.state.detectors["policy.proxy_upload"])
    assert restored.windows["user:alice"].held_total == sum(1024.5 * i for i in range(50))
    assert restored.windows["user:alice"].held_count == 50 and len(restored.windows["user:alice"].bins) == 25


def test_lane_checkpoint_keeps_integer_partition_offsets(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path, "lane")
    checkpoint = LaneCheckpoint(group="lane", topic="vigil.events", offsets={0: 5, 2: 9}, written_at=T0,
                                state=upload_state())  # fmt: skip
    store.save_lane(checkpoint)
    text = store.lane_path("vigil.events").read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(checkpoint.model_dump_json())
    loaded = store.load_lane("vigil.events")
    assert loaded == checkpoint and loaded is not None and loaded.offsets == {0: 5, 2: 9}
