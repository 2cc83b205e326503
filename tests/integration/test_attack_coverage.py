"""The published ATT&CK coverage table (docs/attack-coverage.md) holds: every file it lists as covered
is still covered by a fresh replay (no regression), and the fresh count is at least the published one.
Improvements (new detectors) only ask for `python3 scripts/attack_coverage.py` to refresh the table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from core.models.entity import Inventory
from core.settings import Settings
from detectors.coverage import coverage, folder_technique, markdown, technique_matches
from detectors.registry import build_plan
from detectors.sigma import SigmaEngine
from tests.datasets import dataset

pytestmark = pytest.mark.slow

FLOOR = 191  # files covered with everything wired (Vigil's rule pack included): never regress below it
DOC = Path(__file__).resolve().parents[2] / "docs" / "attack-coverage.md"


def published_covered() -> tuple[int, set[str]]:
    text = DOC.read_text(encoding="utf-8")
    total = int(re.search(r"\*\*(\d+) of \d+ files covered", text).group(1))  # type: ignore[union-attr]
    rows = [line.split(" | ") for line in text.splitlines() if line.startswith("| T")]
    covered = {cells[0].removeprefix("| ").replace("\\|", "|") for cells in rows if cells[4] not in ("no alert", "—")}
    assert len(covered) == total
    return total, covered


def test_technique_of_a_folder() -> None:
    assert folder_technique(Path("TA0005/T1070.001-Clear Windows event logs/x.jsonl")) == "attack.t1070.001"
    assert folder_technique(Path("TA0003/T1098.xxx-Account manipulation/x.jsonl")) == "attack.t1098"
    assert folder_technique(Path("TA0005/T1553- Subvert Trust Controls/x.jsonl")) == "attack.t1553"
    assert folder_technique(Path("Antivirus/x.jsonl")) is None
    assert technique_matches("attack.t1059", "attack.t1059.003")  # the parent
    assert technique_matches("attack.t1021.001", "attack.t1021")  # a sub-technique
    assert not technique_matches("attack.t1105", "attack.t1059.003")


def test_replay_keeps_the_published_attack_coverage(full_engine: SigmaEngine) -> None:
    """Everything wired (Sigma, correlation, policy, flatline), as `vigil detect replay` runs it."""
    plan = build_plan(Settings(), full_engine, inventory=Inventory())
    rows = coverage(dataset("attack", "mdecrevoisier"), plan.replay_pipeline)
    total, covered = published_covered()
    fresh = {r.file for r in rows if r.covered}
    assert covered - fresh == set(), "files no longer covered"
    assert len(fresh) >= total >= FLOOR
    assert markdown(rows, len(full_engine.rules)).count("\n| T") == len(rows) == 268
