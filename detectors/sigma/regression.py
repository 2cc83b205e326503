"""Run a directory in SigmaHQ's `regression_data` layout against the engine.

Layout (`root`): `info/<rules dir>/<product>/<category>/<rule>/info.yml` names the rule under test
(`rule_metadata[].id`) and its tests (`regression_tests_info[]`: `type`, `path`, optional `match_count`);
the samples sit at the same relative folder under `samples_json/` (JSON, possibly several concatenated
objects per file) or, for non-EVTX tests, under `samples_raw/` (one log line per line).

A JSON sample that is a raw EVTX record (`{"Event": {"System": …}}`) goes through Vigil's Windows
parser, the very mapping the pipeline applies, so the engine sees the `EcsEvent` the stream would; any
other JSON object is taken as an ECS document. Every sample event is evaluated against the engine with
ALL rules loaded (so routing and indexing are exercised as in production), counting the events the rule
under test matches. `match_count` defaults to 1 when the info omits it. An info.yml whose
`regression_tests_info` is absent (commented out upstream) is still run against the samples found in
its folder.

Two pass criteria (`mode`):
- ``exact``: the rule matched exactly `match_count` sample events.
- ``sigmahq``: what SigmaHQ's own `tests/regression_tests_runner.py` enforces: the rule matched (at least
  once) when `match_count` ≥ 1, never when it is 0. Upstream never checks the count itself, and some
  templated info files say 1 for samples holding several matching events.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel

from core.models.ecs import EcsEvent
from detectors.sigma.engine import SigmaEngine
from ingest.collectors.windows_files import iter_json_export
from ingest.parsers.base import ParseContext
from ingest.parsers.windows import is_nested_record, parse_windows

_EVTX_TYPES = ("evtx", "json")
CountMode = Literal["exact", "sigmahq"]


class RegressionResult(BaseModel):
    rule_id: str
    expected: int
    matched: int
    ok: bool


class RegressionSummary(BaseModel):
    mode: CountMode
    total: int
    passed: int
    failed: int
    results: list[RegressionResult]
    rule_errors: dict[str, int] = {}


def run_regression(
    root: Path, rule_dirs: Sequence[Path], *, engine: SigmaEngine | None = None, mode: CountMode = "exact"
) -> RegressionSummary:
    """One result per test of each info.yml under `root/info`.

    `engine` (all rules of `rule_dirs`) is built when not given; pass one to reuse loaded rules.
    """
    engine = engine or SigmaEngine.from_paths(list(rule_dirs))
    results: list[RegressionResult] = []
    errors_before = dict(engine.error_counts)
    for info_path in sorted((root / "info").rglob("info.yml")):
        results.extend(_run_info(engine, root, info_path, mode))
    passed = sum(r.ok for r in results)
    errors = {k: n - errors_before.get(k, 0) for k, n in engine.error_counts.items() if n > errors_before.get(k, 0)}
    return RegressionSummary(
        mode=mode, total=len(results), passed=passed, failed=len(results) - passed, results=results, rule_errors=errors
    )


def _run_info(engine: SigmaEngine, root: Path, info_path: Path, mode: CountMode) -> list[RegressionResult]:
    info: dict[str, Any] = yaml.safe_load(info_path.read_text(encoding="utf-8")) or {}
    rel = info_path.parent.relative_to(root / "info")
    rule_ids = [str(m["id"]) for m in info.get("rule_metadata") or [] if isinstance(m, dict) and m.get("id")]
    rule_id = rule_ids[0] if rule_ids else str(info.get("id", rel.name))
    tests = [t for t in info.get("regression_tests_info") or [] if isinstance(t, dict)]
    if not tests:  # upstream commented the test out: run whatever samples the folder holds
        tests = [{"type": None, "path": None}]
    out = []
    for test in tests:
        expected = int(test.get("match_count", 1))
        matched = 0
        found_sample = False
        for event in _samples(root, rel, test):
            found_sample = True
            matched += sum(1 for m in engine.evaluate(event).matches if m.rule_id == rule_id)
        passed = matched == expected if mode == "exact" else (matched > 0) == (expected > 0)
        ok = found_sample and passed
        out.append(RegressionResult(rule_id=rule_id, expected=expected, matched=matched, ok=ok))
    return out


def _samples(root: Path, rel: Path, test: dict[str, Any]) -> Iterator[EcsEvent | Mapping[str, Any]]:
    """The events of one test: its JSON rendering if there is one, else its raw lines."""
    stem = Path(str(test["path"])).stem if test.get("path") else None
    json_dir, raw_dir = root / "samples_json" / rel, root / "samples_raw" / rel
    json_files = _files(json_dir, stem, ".json")
    if json_files and test.get("type") in (*_EVTX_TYPES, None):
        for path in json_files:
            yield from sample_events(path)
        return
    for path in _files(raw_dir, stem, ".raw"):
        if path.suffix.lower() == ".evtx":
            continue  # the JSON rendering above is what we evaluate
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                yield {"message": line, "event": {"original": line}}


def _files(folder: Path, stem: str | None, suffix: str) -> list[Path]:
    """The sample files of a test: `<stem><suffix>` if present, else same-stem files, else all files."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.is_file())
    named = [p for p in files if stem and p.stem == stem]
    exact = [p for p in named if p.suffix == suffix]
    return exact or named or files


def sample_events(path: Path) -> Iterator[EcsEvent | Mapping[str, Any]]:
    """Every JSON object of a sample file (one or several concatenated), as `sample_event` reads it."""
    for _, text in iter_json_export(path):
        doc = json.loads(text)  # a broken sample is a broken test: let it raise, naming the JSON error
        if isinstance(doc, dict):
            yield sample_event(doc, text)


def sample_event(doc: Mapping[str, Any], text: str | None = None) -> EcsEvent | Mapping[str, Any]:
    """A raw EVTX record parsed by Vigil's Windows parser (ParseError if it is not one it can read);
    any other object as the ECS document it is taken for. `text`: the record's JSON, if at hand."""
    if not is_nested_record(doc):
        return doc
    context = ParseContext(source="sigma-sample", received_at=datetime.now(UTC), zone=ZoneInfo("UTC"))
    return parse_windows(text if text is not None else json.dumps(doc), context)
