"""The compiled field view (detectors/sigma/native.py): used only while current, same results as the source."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from detectors.sigma import native, view
from tests.datasets import dataset

ROOT = Path(__file__).resolve().parents[2]


def fake_package(tmp_path: Path, source: str = "X = 1\n") -> tuple[Path, Path]:
    package = tmp_path / "detectors" / "sigma"
    package.mkdir(parents=True)
    (package / "view.py").write_text(source, encoding="utf-8")
    return package, package / "_native"


def stamp(package: Path, build: Path, digest: str | None = None) -> None:
    build.mkdir()
    (build / native.STAMP).write_text((digest or native.source_digest(package)) + "\n", encoding="utf-8")


def test_a_current_build_goes_first_on_the_package_path(tmp_path: Path) -> None:
    package, build = fake_package(tmp_path)
    stamp(package, build)
    path = [str(package)]
    assert native.use_build(path, build, package)
    assert path == [str(build), str(package)]


def test_a_build_of_an_older_source_is_not_used(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    package, build = fake_package(tmp_path)
    stamp(package, build)
    (package / "view.py").write_text("X = 2\n", encoding="utf-8")  # edited after the build
    path = [str(package)]
    with caplog.at_level(logging.WARNING):
        assert not native.use_build(path, build, package)
    assert path == [str(package)]
    assert "stale" in caplog.text and "build_native.py" in caplog.text


def test_no_build_or_vigil_native_0_keeps_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package, build = fake_package(tmp_path)
    path = [str(package)]
    assert not native.use_build(path, build, package)  # never built
    stamp(package, build)
    monkeypatch.setenv("VIGIL_NATIVE", "0")
    assert not native.use_build(path, build, package)
    assert path == [str(package)]


def test_the_digest_covers_the_source_bytes(tmp_path: Path) -> None:
    package, _ = fake_package(tmp_path)
    before = native.source_digest(package)
    (package / "view.py").write_text("X = 1\n# comment\n", encoding="utf-8")
    assert native.source_digest(package) != before


def test_a_change_in_a_module_the_view_imports_makes_the_build_stale(tmp_path: Path) -> None:
    package, build = fake_package(tmp_path, "from detectors.sigma.paths import path\nfrom typing import Any\n")
    (package / "paths.py").write_text("def path(doc, key): ...\n", encoding="utf-8")
    assert native.sources(package) == [package / "view.py", package / "paths.py"]  # not the stdlib
    stamp(package, build)
    (package / "paths.py").write_text("def path(doc, key, default=None): ...\n", encoding="utf-8")
    assert not native.use_build([str(package)], build, package)


def current_build() -> bool:
    stamp_file = native.NATIVE_DIR / native.STAMP
    return stamp_file.is_file() and stamp_file.read_text(encoding="utf-8").strip() == native.source_digest()


def test_the_checkout_runs_its_current_build() -> None:
    if not current_build() or os.environ.get("VIGIL_NATIVE") == "0":
        pytest.skip("no current compiled field view: run scripts/build_native.py (scripts/setup.sh does)")
    assert native.is_compiled(view), view.__file__


def match_digest(rules: str, events: str) -> str:
    """Digest of every match of the Windows rules on the real attack events (run in either mode)."""
    from detectors.sigma import SigmaEngine
    from ingest.parsers.base import ParseContext
    from ingest.parsers.windows import parse_windows

    engine = SigmaEngine.from_paths([rules])
    ctx = ParseContext(source="native-test", received_at=datetime(2026, 12, 1, tzinfo=UTC), zone=ZoneInfo("UTC"))
    digest, matched = hashlib.sha256(), 0
    for path in sorted(Path(events).rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                found = sorted(m.rule_id for m in engine.match(parse_windows(line, ctx)))
                matched += len(found)
                digest.update(json.dumps(found).encode())
    return json.dumps({"digest": digest.hexdigest(), "matches": matched, "compiled": native.is_compiled(view)})


def test_the_compiled_view_matches_what_the_source_matches() -> None:
    if not current_build() or os.environ.get("VIGIL_NATIVE") == "0":
        pytest.skip("no current compiled field view: run scripts/build_native.py (scripts/setup.sh does)")
    rules, events = str(dataset("sigma", "rules", "windows")), str(dataset("attack"))
    compiled = json.loads(match_digest(rules, events))
    code = f"from tests.unit.test_sigma_native import match_digest; print(match_digest({rules!r}, {events!r}))"
    run = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "VIGIL_NATIVE": "0"},
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    source = json.loads(run.stdout.strip().splitlines()[-1])
    assert compiled["compiled"] and not source["compiled"]
    assert compiled["matches"] > 100  # real attacks: the rules do fire
    assert compiled == {**source, "compiled": True}
