"""Policy-detector state: the binned upload window vs the per-event one it replaced, in one run.

    python3 bench/policy_state.py [--events N] [--users U] [--rate R] [--rounds K]

Input: N proxy connections (Proxifier `close, N bytes sent`, as the parser makes them) at a simulated R
per second from U users in turn, 1-300 KB each (seeded), so the busiest window totals cross the default
500 MB / hour near the end and both sides raise the same alerts. The events are built ONCE up front.

Both sides run the proxy-upload detector with the default `UploadConfig`:
- binned: `ProxyUploadDetector` as it is (`BinnedWindow`: one bin per user and second, and 200 event ids
  beyond the bins' peaks; the span is summed only when the cooldown would let an alert through);
- per-event: `ProxyUploadDetector.on_event` as it was at 2b02f30 (one `WindowItem` per connection, kept
  for the hour + 10 min lateness; `PerEventWindow` below is that window, minus what upload did not use).
What is timed, per side, in CPU seconds of this process: `on_event` for every event, and a checkpoint
every `checkpoint_interval_s` (5 s) of simulated stream: the state dumped in JSON mode and written to
bytes with orjson, as `CheckpointStore` does (no file, no fsync). The state size is that document's
bytes at the end; restoring it is timed apart (best of 3). Sides alternate over `--rounds`; each figure
is the side's best round. Both sides must raise the same alerts (entity, bytes, time). The last line
printed is one JSON object with both sizes, both times per event and the ratios.
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import random
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from _common import ROOT  # first: puts the worktree on sys.path
from pydantic import AwareDatetime, BaseModel, Field, PrivateAttr

from core.models.alert import AlertDraft, EntityRef
from core.models.ecs import EcsEvent
from core.settings import Settings
from detectors.base import SigmaHit
from detectors.policy.common import Finding, entry, event_id
from detectors.policy.upload import RULE, ProxyUploadDetector, bytes_out
from detectors.policy.window import Cooldown, WindowItem

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


class PerEventWindow(BaseModel):
    """The upload window before the bins (`SummedWindow`, detectors/policy/window.py at 2b02f30)."""

    items: list[WindowItem] = Field(default_factory=list)
    newest: AwareDatetime | None = None
    _held: float = PrivateAttr(default=0.0)

    def model_post_init(self, context: Any, /) -> None:
        self._held = sum(max(i.value, 0.0) for i in self.items)

    def add(self, item: WindowItem, span: timedelta, lateness: timedelta) -> bool:
        if self.newest is not None and item.ts < self.newest - span - lateness:
            return False
        bisect.insort(self.items, item, key=lambda i: i.ts)
        self._held += max(item.value, 0.0)
        self.newest = max(self.newest, item.ts) if self.newest else item.ts
        cut = bisect.bisect_left(self.items, self.newest - span - lateness, key=lambda i: i.ts)
        if cut:
            self._held -= sum(max(i.value, 0.0) for i in self.items[:cut])
            del self.items[:cut]
        return True

    def span_items(self, end: datetime, span: timedelta) -> list[WindowItem]:
        lo = bisect.bisect_right(self.items, end - span, key=lambda i: i.ts)
        hi = bisect.bisect_right(self.items, end, key=lambda i: i.ts)
        return self.items[lo:hi]

    def around(self, ts: datetime, span: timedelta) -> list[WindowItem]:
        before = self.span_items(ts, span)
        if self.newest is None or self.newest <= ts:
            return before
        after = self.span_items(min(self.newest, ts + span - timedelta(microseconds=1)), span)
        return after if len(after) > len(before) else before

    @property
    def held_total(self) -> float:
        return self._held


class PerEventState(BaseModel):
    windows: dict[str, PerEventWindow] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    late: int = 0


class PerEventUploadDetector(ProxyUploadDetector):
    """`ProxyUploadDetector.on_event` as it was with the per-event window (same config; the alert's text cut)."""

    state_model = PerEventState  # type: ignore[assignment]

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        sent = bytes_out(event)
        if not sent:
            return []
        cfg, state = self.config, self.state
        assert isinstance(state, PerEventState)
        who = EntityRef.parse(event.vigil.entity or event.entity())
        window = entry(state.windows, who.key, PerEventWindow)
        if not window.add(
            WindowItem(ts=event.timestamp, value=sent, event_id=event_id(event)), cfg.window, cfg.lateness
        ):
            state.late += 1
            return []
        if sent < cfg.single_bytes and window.held_total < cfg.window_bytes:
            return []
        items = window.around(event.timestamp, cfg.window)
        total = sum(i.value for i in items)
        if sent < cfg.single_bytes and total < cfg.window_bytes:
            return []
        if not state.cooldown.ready(who.key, event.timestamp, cfg.suppress):
            return []
        return [Finding(RULE, who, [event], en=f"{total}", zh=f"{total}", dedup=who.key,
                        event_ids=[i.event_id for i in items][-200:],
                        context={"bytes": int(total), "last_bytes": sent}).alert()]  # fmt: skip


def proxy_events(n: int, users: int, rate: float) -> list[EcsEvent]:
    rng = random.Random(7)
    step = timedelta(seconds=1 / rate)
    return [
        EcsEvent.model_validate(
            {
                "@timestamp": T0 + i * step,
                "event": {"id": f"px-{i:07d}", "dataset": "proxifier.log", "category": ["network"]},
                "user": {"name": f"user{i % users:02d}"},
                "source": {"bytes": rng.randint(1_000, 300_000)},
                "destination": {"domain": "drive.example.com"},
                "process": {"name": "chrome.exe"},
                "vigil": {
                    "category": "network",
                    "source": "bench",
                    "parser": "proxifier",
                    "entity": f"user:user{i % users:02d}",
                },
            }
        )
        for i in range(n)
    ]


def checkpoint_bytes(detector: ProxyUploadDetector) -> bytes:
    return orjson.dumps(detector.snapshot().model_dump(mode="json"), option=orjson.OPT_NON_STR_KEYS)


def timed_restore(detector: ProxyUploadDetector, saved: dict[str, object]) -> float:
    gc.collect()
    began = time.process_time()
    detector.restore(saved)
    return time.process_time() - began


def run(detector: ProxyUploadDetector, events: list[EcsEvent], every: int) -> dict[str, Any]:
    on_event = checkpoint = 0.0
    alerts: list[AlertDraft] = []
    size = 0
    for start in range(0, len(events), every):
        began = time.process_time()
        for event in events[start : start + every]:
            alerts += detector.on_event(event, [])
        wrote = time.process_time()
        size = len(checkpoint_bytes(detector))
        ended = time.process_time()
        on_event, checkpoint = on_event + wrote - began, checkpoint + ended - wrote
    saved = orjson.loads(checkpoint_bytes(detector))
    restore_s = min(timed_restore(type(detector)(detector.config), saved) for _ in range(3))
    found = [(a.entity.key, a.context["bytes"], a.last_seen.isoformat()) for a in alerts]
    return {"on_event_s": on_event, "checkpoint_s": checkpoint, "bytes": size, "restore_s": restore_s, "alerts": found}


def spent(side: dict[str, Any]) -> float:
    return float(side["on_event_s"] + side["checkpoint_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rate", type=float, default=1_000.0, help="simulated events per second")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    interval = Settings().checkpoint_interval_s
    every = max(int(interval * args.rate), 1)
    events = proxy_events(args.events, args.users, args.rate)
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        sides = [("binned", ProxyUploadDetector), ("per_event", PerEventUploadDetector)]
        for name, factory in sides if round_ % 2 == 0 else reversed(sides):
            result = run(factory(), events, every)
            kept = best.get(name)
            if kept is None or spent(result) < spent(kept):
                best[name] = result
    new, old = best["binned"], best["per_event"]
    same = new["alerts"] == old["alerts"]
    n = args.events
    checkpoints = -(-n // every)
    print(f"{n:,} proxy events, {args.users} users, {args.rate:,.0f}/s simulated ({n / args.rate:,.0f} s), "
          f"a checkpoint every {every:,} events ({checkpoints}); code: {ROOT}")  # fmt: skip
    for name, side in (("binned", new), ("per-event", old)):
        print(f"{name:>9}: state {side['bytes']:>12,} bytes; on_event {side['on_event_s'] / n * 1e6:6.2f} µs/event, "
              f"checkpoints {side['checkpoint_s'] / checkpoints * 1e3:8.2f} ms each, "
              f"all in {spent(side) / n * 1e6:6.2f} µs/event; restore {side['restore_s'] * 1e3:8.1f} ms; "
              f"{len(side['alerts'])} alerts")  # fmt: skip
    if not same:
        print("WARNING: the binned and the per-event detector raised different alerts")
    total_new, total_old = spent(new) / n * 1e6, spent(old) / n * 1e6
    result = {
        "events": n, "users": args.users, "rate": args.rate,
        "binned_state_bytes": new["bytes"], "per_event_state_bytes": old["bytes"],
        "size_ratio": round(old["bytes"] / new["bytes"], 2),
        "binned_us_per_event": round(total_new, 2), "per_event_us_per_event": round(total_old, 2),
        "time_ratio": round(total_old / total_new, 2),
        "binned_checkpoint_ms": round(new["checkpoint_s"] / checkpoints * 1e3, 2),
        "per_event_checkpoint_ms": round(old["checkpoint_s"] / checkpoints * 1e3, 2),
        "alerts": len(new["alerts"]), "same_alerts": same,
    }  # fmt: skip
    print(json.dumps(result))


if __name__ == "__main__":
    main()
