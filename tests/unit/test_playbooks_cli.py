"""`vigil playbooks validate|list` as a user runs them (a subprocess each; no servers needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from playbooks.loader import BUNDLED_DIR
from tests.unit.test_playbook_files import BROKEN

REPO = Path(__file__).resolve().parents[2]


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=env)  # fmt: skip


def test_validate_the_bundled_playbooks() -> None:
    run = vigil("playbooks", "validate")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "10 playbooks valid, 0 problems" in run.stdout


def test_validate_names_file_line_and_field_and_exits_1(tmp_path: Path) -> None:
    shutil.copy(BUNDLED_DIR / "malware.yml", tmp_path / "malware.yml")
    (tmp_path / "broken.yml").write_text(BROKEN, encoding="utf-8")
    run = vigil("playbooks", "validate", str(tmp_path))
    assert run.returncode == 1
    assert f"{tmp_path / 'broken.yml'}:9: field steps.1.kind: unknown step kind 'telepathy'" in run.stdout
    assert f"{tmp_path / 'broken.yml'}:14: field steps.2.duration:" in run.stdout
    assert "1 playbooks valid, 3 problems" in run.stdout


def test_list_shows_each_playbook_with_its_trigger() -> None:
    run = vigil("playbooks", "list")
    assert run.returncode == 0, run.stderr
    for playbook_id in ("brute-force", "departed-access", "system-outage"):
        assert playbook_id in run.stdout
    assert "vigil-policy-departed-access" in run.stdout
