"""`vigil rules list|regress` and `vigil detect replay` as a user runs them (a subprocess each, no
Kafka or Elasticsearch), on the shared SigmaHQ rules, regression set and real attack files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.datasets import dataset

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
ATTACK = ("attack", "mdecrevoisier")
# Folders naming a technique: their alerts must carry it, a sub-technique or its parent (issue 3 §5).
TECHNIQUE_FOLDERS = {
    "attack.t1490": ("TA0040-Impact", "T1490-Inhibit System Recovery"),
    "attack.t1021.001": ("TA0008-Lateral Movement", "T1021.001-Remote Desktop Protocol"),
    "attack.t1059.003": ("TA0002-Execution", "T1059.003-Windows Command Shell"),
}
EVTX_RULE = "a7c3e5f2-8b1d-4e9a-b6c2-3d7f5e8a9b4c"  # the sample is named after the rule it triggers


def vigil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_rules_regress_prints_the_summary_and_passes_the_shared_set() -> None:
    run = vigil("rules", "regress", str(dataset("sigma-regression")))
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(run.stdout)
    assert list(summary) == ["total", "passed", "failed", "results"]
    assert summary["total"] == summary["passed"] == 102 and summary["failed"] == 0
    assert set(summary["results"][0]) == {"rule_id", "expected", "matched", "ok"}


def test_rules_regress_exits_non_zero_on_a_failure(tmp_path: Path) -> None:
    rule = dataset("sigma", "rules", "windows", "builtin", "security", "win_security_audit_log_cleared.yml")
    rule_id = "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"
    info = tmp_path / "info" / "rules" / "x" / "cleared"
    samples = tmp_path / "samples_json" / "rules" / "x" / "cleared"
    info.mkdir(parents=True)
    samples.mkdir(parents=True)
    (info / "info.yml").write_text(f"rule_metadata:\n  - id: {rule_id}\nregression_tests_info:\n"
                                   f"  - type: evtx\n    path: x/{rule_id}.evtx\n    match_count: 1\n")  # fmt: skip
    benign = {"Event": {"System": {"Channel": "Security", "EventID": 4624, "Provider": {"Name": "x"}}}}
    (samples / f"{rule_id}.json").write_text(json.dumps(benign))
    run = vigil("rules", "regress", str(tmp_path), "--rules", str(rule))
    assert run.returncode == 1
    assert json.loads(run.stdout) == {
        "total": 1, "passed": 0, "failed": 1,
        "results": [{"rule_id": rule_id, "expected": 1, "matched": 0, "ok": False}],
    }  # fmt: skip


def test_rules_list_reports_loaded_and_skipped_per_dir_with_reasons() -> None:
    rules = dataset("sigma", "rules")
    run = vigil("rules", "list", "--skipped", "--json", "--rules", str(rules / "windows" / "builtin"),
                "--rules", str(rules / "cloud" / "aws"))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert report["dirs"]["builtin"]["loaded"] > 300 and report["dirs"]["aws"]["loaded"] == 0
    aws = [s for s in report["skipped_rules"] if s["rule_dir"] == "aws"]
    assert aws and {s["reason"] for s in aws} == {"unsupported-logsource"}
    assert all(s["detail"].startswith("aws/") for s in aws)
    table = vigil("rules", "list", "--rules", str(rules / "cloud" / "aws"))
    assert "unsupported-logsource" in table.stdout


def test_detect_replay_raises_the_techniques_of_real_attack_files() -> None:
    folders = [dataset(*ATTACK, *parts) for parts in TECHNIQUE_FOLDERS.values()]
    evtx = next(dataset("sigma-regression", "samples_raw").rglob(f"{EVTX_RULE}.evtx"))
    run = vigil("detect", "replay", *map(str, folders), str(evtx))
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines
    for line in lines:
        assert {"rule_id", "title", "severity", "attack", "entity", "event_count", "first_seen", "last_seen"} <= set(
            line
        )
    tags = {t for line in lines for t in line["attack"]}
    for technique in TECHNIQUE_FOLDERS:
        parent = ".".join(technique.split(".")[:2])
        assert any(t in (technique, parent) or t.startswith(technique + ".") for t in tags), technique
    assert EVTX_RULE in {line["rule_id"] for line in lines}  # read from the .evtx itself
    assert "events" in run.stderr and f"{len(lines)} alerts" in run.stderr
