"""Brute-force detector state under a guessing burst: each key's reorder buffer capped vs unbounded, in one run.

    python3 bench/brute_force_burst.py [--rate R] [--seconds S] [--users U,U...] [--jitter J] [--rounds K]

Input, per `--users` value U: one source address failing logons at a simulated R per second for S
seconds against U accounts in turn (a few accounts: brute force; many: password spraying), delivered
up to J seconds out of order (seeded), then one success. The default 150 s is longer than the 2-minute
lateness, so both sides reach their steady state. Event ids are 40 hex characters, as the indexer's
are. Each input is built ONCE up front.

Both sides run `BruteForceDetector` with the default config but for `max_pending`:
- capped: the default (5,000 events per key);
- unbounded: `max_pending` = 10^9, never reached: the detector as it was before the cap (the only code
  the cap added is one length comparison per key and event).
What is timed, per side, in CPU seconds of this process: `on_event` for every event, a checkpoint every
`checkpoint_interval_s` (5 s) of simulated stream (the state dumped in JSON mode and written to bytes
with orjson, as `CheckpointStore` does; no file, no fsync) and the closing tick that decides what is
left. The checkpoint size is the largest one written. Sides alternate over `--rounds`; each figure is the
side's best round. Both sides must raise the same alerts. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from _common import ROOT  # first: puts the worktree on sys.path

from core.models.alert import AlertDraft
from core.models.ecs import EcsEvent
from core.settings import Settings
from detectors.policy.brute_force import BruteForceConfig, BruteForceDetector

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
SOURCE = "203.0.113.66"


def logon(at: datetime, n: int, user: str, outcome: str) -> EcsEvent:
    return EcsEvent.model_validate({
        "@timestamp": at,
        "event": {"id": hashlib.sha1(f"bf-{n}".encode()).hexdigest(), "category": ["authentication"],
                  "type": ["start"], "outcome": outcome, "action": "logon-failed"},
        "user": {"name": user}, "source": {"ip": SOURCE}, "host": {"name": "dc01"},
        "vigil": {"category": "user", "source": "bench", "parser": "bench", "entity": f"user:{user}"},
    })  # fmt: skip


def spray(rate: float, seconds: float, users: int, jitter: float) -> list[EcsEvent]:
    """Failures in arrival order (time + a seeded delay of up to `jitter` s), then a success."""
    rng, step, n = random.Random(11), timedelta(seconds=1 / rate), int(rate * seconds)
    timed = [(i * step.total_seconds() + rng.uniform(0, jitter), logon(T0 + i * step, i, f"user{i % users:04d}",
              "failure")) for i in range(n)]  # fmt: skip
    timed.sort(key=lambda pair: pair[0])
    return [e for _, e in timed] + [logon(T0 + n * step, n, "user0003", "success")]


def checkpoint_bytes(detector: BruteForceDetector) -> bytes:
    return orjson.dumps(detector.snapshot().model_dump(mode="json"), option=orjson.OPT_NON_STR_KEYS)


def run(detector: BruteForceDetector, events: list[EcsEvent], every: int) -> dict[str, Any]:
    on_event = checkpoint = 0.0
    alerts: list[AlertDraft] = []
    largest = checkpoints = 0
    for start in range(0, len(events), every):
        began = time.process_time()
        for event in events[start : start + every]:
            alerts += detector.on_event(event, [])
        wrote = time.process_time()
        largest = max(largest, len(checkpoint_bytes(detector)))
        ended = time.process_time()
        on_event, checkpoint, checkpoints = on_event + wrote - began, checkpoint + ended - wrote, checkpoints + 1
    began = time.process_time()
    alerts += detector.on_tick(max(e.timestamp for e in events) + detector.config.lateness + timedelta(seconds=1))
    on_event += time.process_time() - began
    state = detector.state
    found = sorted(a.model_dump_json() for a in alerts)
    return {"on_event_s": on_event, "checkpoint_s": checkpoint, "checkpoints": checkpoints, "bytes": largest,
            "early": state.early, "late": state.late, "alerts": found}  # fmt: skip


def spent(side: dict[str, Any]) -> float:
    return float(side["on_event_s"] + side["checkpoint_s"])


def scenario(args: argparse.Namespace, users: int) -> dict[str, Any]:
    every = max(int(Settings().checkpoint_interval_s * args.rate), 1)
    events = spray(args.rate, args.seconds, users, args.jitter)
    capped_cfg = BruteForceConfig()
    sides = [("capped", capped_cfg), ("unbounded", capped_cfg.model_copy(update={"max_pending": 10**9}))]
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for name, cfg in sides if round_ % 2 == 0 else reversed(sides):
            result = run(BruteForceDetector(cfg), events, every)
            if name not in best or spent(result) < spent(best[name]):
                best[name] = result
    new, old = best["capped"], best["unbounded"]
    same = new["alerts"] == old["alerts"]
    n = len(events)
    print(f"{n:,} logons from {SOURCE}: {args.rate:,.0f}/s simulated for {args.seconds:,.0f} s against "
          f"{users:,} accounts, up to {args.jitter} s out of order; a checkpoint every {every:,} events "
          f"({new['checkpoints']}); max_pending {capped_cfg.max_pending:,}")  # fmt: skip
    for name, side in (("capped", new), ("unbounded", old)):
        print(f"  {name:>9}: largest checkpoint {side['bytes']:>12,} bytes, "
              f"{side['checkpoint_s'] / side['checkpoints'] * 1e3:8.2f} ms each; "
              f"on_event {side['on_event_s'] / n * 1e6:6.2f} µs/event, all in {spent(side) / n * 1e6:6.2f} µs/event; "
              f"early {side['early']:,}, late {side['late']:,}; {len(side['alerts'])} alerts")  # fmt: skip
    if not same:
        print("  WARNING: the capped and the unbounded detector raised different alerts")
    us_new, us_old = spent(new) / n * 1e6, spent(old) / n * 1e6
    print(f"  ratio unbounded / capped: checkpoint bytes {old['bytes'] / new['bytes']:.1f}x, "
          f"time per event {us_old / us_new:.2f}x")  # fmt: skip
    return {
        "users": users, "events": n,
        "capped_checkpoint_bytes": new["bytes"], "unbounded_checkpoint_bytes": old["bytes"],
        "size_ratio": round(old["bytes"] / new["bytes"], 2),
        "capped_us_per_event": round(us_new, 2), "unbounded_us_per_event": round(us_old, 2),
        "time_ratio": round(us_old / us_new, 2),
        "capped_checkpoint_ms": round(new["checkpoint_s"] / new["checkpoints"] * 1e3, 2),
        "unbounded_checkpoint_ms": round(old["checkpoint_s"] / old["checkpoints"] * 1e3, 2),
        "early": new["early"], "alerts": len(new["alerts"]), "same_alerts": same,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1_000.0, help="simulated failures per second")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--users", default="5,2000", help="accounts tried, one scenario per value")
    parser.add_argument("--jitter", type=float, default=0.2, help="seconds an event may arrive late")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"code: {ROOT}")
    results = [scenario(args, int(users)) for users in args.users.split(",")]
    print(json.dumps({"rate": args.rate, "seconds": args.seconds, "max_pending": BruteForceConfig().max_pending,
                      "scenarios": results}))  # fmt: skip


if __name__ == "__main__":
    main()
