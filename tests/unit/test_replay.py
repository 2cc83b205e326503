"""Forensic replay input: formats from the content (Windows JSON exports in any layout, text lines),
through the same collector and normaliser as the pipeline; the same pipeline as the stream."""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from core.models.alert import AlertOrigin
from core.models.ecs import EcsEvent
from detectors.alerting import AlertingSettings
from detectors.pipeline import DetectionPipeline
from detectors.replay import alert_line, log_files, read_events, replay, sniff_format
from detectors.sigma import SigmaEngine
from tests.datasets import dataset

CLEARED = ("attack", "mdecrevoisier", "TA0005-Defense Evasion", "T1070.001-Clear Windows event logs")
SECURITY_CLEARED = "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"


def _records() -> list[dict]:
    [path] = [p for p in dataset(*CLEARED).glob("*.jsonl") if "1102" in p.name][:1]
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_windows_exports_are_recognised_in_every_layout(tmp_path: Path) -> None:
    records = _records()
    (tmp_path / "array.json").write_text(json.dumps(records, indent=2))
    (tmp_path / "pretty.json").write_text("\n".join(json.dumps(r, indent=4) for r in records))
    (tmp_path / "lines.jsonl").write_text("\n".join(json.dumps(r) for r in records))
    (tmp_path / "auth.log").write_text("Jan  1 00:00:00 web1 sshd[812]: Corrupted MAC on input.\n")
    files = log_files([tmp_path])
    assert [p.name for p in files] == ["array.json", "auth.log", "lines.jsonl", "pretty.json"]
    assert {p.name: sniff_format(p, "auto") for p in files} == {
        "array.json": "windows", "auth.log": "auto", "lines.jsonl": "windows", "pretty.json": "windows"}  # fmt: skip
    assert sniff_format(tmp_path / "auth.log", "syslog") == "syslog"  # --format wins
    events = [e for _, e in read_events(files, "auto", ZoneInfo("UTC"))]
    assert all(isinstance(e, EcsEvent) for e in events) and len(events) == 3 * len(records) + 1


def test_replay_gives_each_alert_once_in_its_final_version() -> None:
    rule = dataset("sigma", "rules", "windows", "builtin", "security", "win_security_audit_log_cleared.yml")
    engine = SigmaEngine.from_paths([rule])
    pipeline = DetectionPipeline.build(engine, AlertingSettings(), AlertOrigin.REPLAY)
    items = list(read_events([dataset(*CLEARED)], "auto", ZoneInfo("UTC")))
    result = replay(items + items, pipeline)  # the same records twice: nothing counted twice
    alerts = [a for a in result.alerts if a.rule.id == SECURITY_CLEARED]
    assert alerts and result.events == 2 * len(items) and result.deadletters == 0
    again = replay(items, DetectionPipeline.build(engine, AlertingSettings(), AlertOrigin.REPLAY))
    assert [(a.id, a.event_count, a.timestamp) for a in again.alerts] == [
        (a.id, a.event_count, a.timestamp) for a in result.alerts
    ]  # deterministic: ids, counts and even the raised-at time (event time) repeat
    line = alert_line(alerts[0])
    assert line["rule_id"] == SECURITY_CLEARED and line["playbook"] == "audit-log-cleared"
    assert line["entity"].startswith("user:") and line["attack"]
