"""CPU per event of each detection lane over the latency bench's traffic, in-process (no Kafka, no ES).

    python3 bench/lane_cpu.py [--events 40000] [--rounds 3] [--profile partition|global]

The same messages `bench/latency.py` produces (loghub Apache + Proxifier background, a Windows 1102
trigger every 500 events under a new user), as Kafka value bytes, through what a worker does per
record after the consumer handed it over: decode (`StreamWorker._decode`) → `DetectionPipeline.on_event`
→ the alert serialised for `vigil.alerts`. One pipeline per lane, built as `vigil workers` builds it (all
configured Sigma rules, the empty inventory the bench's stack has). Prints µs/event per stage and lane
(process CPU time, best of `--rounds`; each round a fresh pipeline) and a digest of every alert raised,
which must not change with an optimisation. `--profile LANE` prints cProfile's top functions instead.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import time
from datetime import UTC, datetime
from functools import partial

import _common  # noqa: F401  (the worktree first on sys.path)

from bench.latency import BACKGROUND, TRIGGER, fresh, load
from core.models.alert import Alert, AlertOrigin
from core.models.ecs import EcsEvent
from core.models.entity import Inventory
from core.settings import Settings
from detectors.pipeline import DetectionPipeline, alerting_settings
from detectors.registry import DetectionPlan, Lane, build_plan
from detectors.stream import build_engine

EVERY = 500  # 2,000 events/s with 4 triggers/s


def traffic(count: int) -> list[bytes]:
    events = [e for path in BACKGROUND for e in load(path, "auto")]
    background = [fresh(e, f"bench-bg-{i}")[1] for i, e in enumerate(events)]
    trigger = next(e for p in sorted(TRIGGER.glob("*1102*.jsonl")) for e in load(p, "windows"))
    return [fresh(trigger, f"bench-trigger-{i}", f"bench-user-{i}")[1] if i % EVERY == 0
            else background[i % len(background)] for i in range(count)]  # fmt: skip


def pipeline(plan: DetectionPlan, lane: Lane) -> DetectionPipeline:
    settings = alerting_settings(plan.settings).model_copy(update={"rate_cap": 1_000_000})
    return DetectionPipeline.build(plan.lane_engine(lane), settings, AlertOrigin.STREAM, partial(plan.detectors, lane),
                                   sigma_alerts=lane is Lane.PARTITION)  # fmt: skip


def replay(pipe: DetectionPipeline, values: list[bytes], now: datetime) -> tuple[dict[str, float], list[Alert]]:
    """CPU seconds per stage over every value, and the alerts raised (the ticks' included). No clock
    read per event (a syscall weighs more than some stages), nor every event decoded first (20k live
    events make the cyclic GC rescan them): decoding alone is timed in a pass of its own, then decode +
    pipeline together, one event at a time as a worker does."""
    clock, decode = time.process_time, EcsEvent.model_validate_json
    t0 = clock()
    for value in values:
        decode(value)
    t1 = clock()
    alerts = [alert for value in values for alert in pipe.on_event(decode(value), now)]
    t2 = clock()
    for alert in alerts:
        alert.model_dump_json(by_alias=True, exclude_none=True)
    t3 = clock()
    spent = {"decode": t1 - t0, "pipeline": max(0.0, t2 - t1 - (t1 - t0)), "alerts out": t3 - t2}
    return spent, alerts + pipe.on_tick(now)


def digest(alerts: list[Alert]) -> str:
    """What the lane decided: which alerts, of which rule and entity, over which events (the event ids are
    the same every run; alert ids and times are not: the traffic is stamped with the time it was made)."""
    rows = sorted(json.dumps([a.rule.id, a.entity.key, a.event_count, a.event_ids, a.severity]) for a in alerts)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", choices=[lane.value for lane in Lane])
    args = parser.parse_args()
    settings = Settings()
    plan = build_plan(settings, build_engine(settings), inventory=Inventory())
    values = traffic(args.events)
    now = datetime.now(UTC)
    if args.profile:
        profiler = cProfile.Profile()
        pipe = pipeline(plan, Lane(args.profile))
        profiler.runcall(replay, pipe, values, now)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(35)
        return
    result: dict[str, object] = {}
    for lane in Lane:
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            spent, alerts = replay(pipeline(plan, lane), values, now)
            best = {k: min(v, best.get(k, v)) for k, v in spent.items()}
        per_event = {k: round(1e6 * v / len(values), 1) for k, v in best.items()}
        per_event["total"] = round(sum(per_event.values()), 1)
        result[lane.value] = {"us_per_event": per_event, "alerts": len(alerts), "digest": digest(alerts)}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
