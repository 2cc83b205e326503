"""Sigma benchmark: the indexed SigmaEngine vs a naive evaluate-every-routed-rule loop, in one run.

    python3 bench/sigma.py [--events N] [--naive-events M]

Rules: every loadable rule the stream loads (`Settings().sigma_rule_dirs`: Vigil's pack, then the
shared SigmaHQ checkout's rules, rules-threat-hunting, rules-emerging-threats). Events: the real Windows
events of `attack/` (every .jsonl line) and of `sigma-regression/samples_json`, each parsed ONCE up front
by Vigil's Windows parser into the `EcsEvent` the stream hands the detectors, then replayed in order
until N events were evaluated.

What is timed, per event, for both sides: building the event's field view (`build_view`, as the
stream does for every event) and evaluating it.
- engine: `SigmaEngine.evaluate(event)`: routes → indexed candidates → their predicates.
- naive: the same view, then the predicate of EVERY rule listening on the event's routes (the rule
  list per route set is computed once and cached, so only evaluation is compared, as in
  tests/unit/test_sigma_rules.py). The naive side runs on an evenly spaced sample of M of the same
  events (it is ~100x slower); both sides must find the same matches on that sample.

"Per core" is events per CPU second of this single-threaded process (`time.process_time`), which on a
shared machine is steadier than wall time; wall-clock rates are printed too. The last line printed is
one JSON object: rules loaded, events, both rates per core, and their ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from _common import dataset  # first: puts the worktree on sys.path
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.settings import Settings
from detectors.sigma import SigmaEngine, native
from detectors.sigma import view as view_module
from detectors.sigma.engine import CompiledRule
from detectors.sigma.view import build_view
from ingest.collectors.windows_files import iter_json_export
from ingest.parsers.base import ParseContext
from ingest.parsers.windows import parse_windows

console = Console(stderr=True)  # progress on stderr; results (and the JSON last line) on stdout
CTX = ParseContext(source="bench-sigma", received_at=datetime(2026, 12, 1, tzinfo=UTC), zone=ZoneInfo("UTC"))


@dataclass
class Timing:
    events: int
    cpu_s: float
    wall_s: float
    matches: int

    @property
    def eps_per_core(self) -> float:
        return self.events / self.cpu_s if self.cpu_s else 0.0

    @property
    def eps_wall(self) -> float:
        return self.events / self.wall_s if self.wall_s else 0.0


def raw_events() -> list[str]:
    """Every real Windows event of the shared datasets, as JSON text (the normaliser's input)."""
    texts: list[str] = []
    for path in sorted(dataset("attack").rglob("*.jsonl")):
        texts += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for path in sorted(dataset("sigma-regression", "samples_json").rglob("*.json")):
        texts += [text for _, text in iter_json_export(path)]
    return texts


def parse_all(texts: list[str]) -> tuple[list[EcsEvent], int]:
    """The stream's events (parsed once, outside the timing), and how many texts were not events."""
    events, failed = [], 0
    for text in texts:
        try:
            events.append(parse_windows(text, CTX))
        except ParseError:
            failed += 1
    return events, failed


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )


def timed(label: str, events: Sequence[EcsEvent], evaluate: Callable[[EcsEvent], int]) -> Timing:
    """Evaluate every event once; the progress bar is updated every 5,000 events only."""
    matches = 0
    cpu = wall = 0.0
    with progress() as bar:
        task = bar.add_task(label, total=len(events))
        for start in range(0, len(events), 5000):
            chunk = events[start : start + 5000]
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for event in chunk:
                matches += evaluate(event)
            cpu += time.process_time() - cpu0
            wall += time.perf_counter() - wall0
            bar.advance(task, len(chunk))
    return Timing(len(events), cpu, wall, matches)


def engine_evaluator(engine: SigmaEngine) -> Callable[[EcsEvent], int]:
    def evaluate(event: EcsEvent) -> int:
        return len(engine.evaluate(event).matches)

    return evaluate


def naive_evaluator(engine: SigmaEngine) -> Callable[[EcsEvent], int]:
    """Every rule routed to the event, no index; a rule that raises counts as no match (as the engine)."""
    routed: dict[tuple[str, ...], list[CompiledRule]] = {}

    def evaluate(event: EcsEvent) -> int:
        view = build_view(event)
        rules = routed.get(view.routes)
        if rules is None:
            rules = routed[view.routes] = engine.rules_for_routes(view.routes)
        hits = 0
        for rule in rules:
            try:
                hits += bool(rule.pred(view))
            except Exception:  # noqa: BLE001, S112 - the engine counts these as errors, never as matches
                continue
        return hits

    return evaluate


def replay(events: list[EcsEvent], count: int) -> list[EcsEvent]:
    """The events in order, again and again, `count` in all (the same objects: views are per call)."""
    return [events[i % len(events)] for i in range(count)]


def sample(events: list[EcsEvent], count: int) -> list[EcsEvent]:
    """`count` events spread evenly over the replayed stream."""
    step = max(1, len(events) // count)
    return events[::step][:count]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=200_000, help="events through the engine (default 200k)")
    parser.add_argument("--naive-events", type=int, default=10_000, help="events through the naive baseline")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    with console.status("loading and compiling the Vigil and SigmaHQ rules..."):
        started = time.perf_counter()
        dataset("sigma")  # the SigmaHQ checkout must be there (its absence would bench the pack alone)
        engine = SigmaEngine.from_paths(Settings().sigma_rule_dirs)
        load_s = time.perf_counter() - started
    # The compiled rules are long-lived: keep the cyclic collector off them (see engine.py).
    gc.collect()
    gc.freeze()
    with console.status("parsing the Windows events once..."):
        texts = raw_events()
        parsed, failed = parse_all(texts)
    stream = replay(parsed, args.events)
    subset = sample(stream, args.naive_events)
    fast = timed("engine (indexed)", stream, engine_evaluator(engine))
    check = timed("engine on the naive sample", subset, engine_evaluator(engine))
    slow = timed("naive (every routed rule)", subset, naive_evaluator(engine))
    report(engine, load_s, len(parsed), failed, fast, check, slow)


def report(
    engine: SigmaEngine, load_s: float, distinct: int, failed: int, fast: Timing, check: Timing, slow: Timing
) -> None:
    ratio = fast.eps_per_core / slow.eps_per_core if slow.eps_per_core else 0.0
    print(f"rules: {len(engine.rules)} loaded, {len(engine.skipped)} skipped; load {load_s:.1f} s")
    print("field view: " + ("compiled by mypyc" if native.is_compiled(view_module) else
                            "pure Python (no current build: scripts/build_native.py)"))  # fmt: skip
    print(f"events: {distinct:,} distinct real Windows events ({failed} unparsable texts left out), "
          f"replayed to {fast.events:,}; view built per event inside the timing")  # fmt: skip
    print(f"engine: {fast.eps_per_core:10,.0f} events/s per core ({fast.eps_wall:,.0f}/s wall), "
          f"{fast.matches:,} matches")  # fmt: skip
    print(f"naive:  {slow.eps_per_core:10,.0f} events/s per core ({slow.eps_wall:,.0f}/s wall) on {slow.events:,} "
          f"events; matches {slow.matches:,} (engine on the same events: {check.matches:,})")  # fmt: skip
    print(f"ratio engine/naive: {ratio:.1f}")
    if slow.matches != check.matches:
        print("WARNING: the engine and the naive loop disagree on the sample")
    result: dict[str, Any] = {
        "rules_loaded": len(engine.rules),
        "events": fast.events,
        "engine_eps_per_core": round(fast.eps_per_core, 1),
        "naive_eps_per_core": round(slow.eps_per_core, 1),
        "ratio": round(ratio, 2),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
