"""Playbook files: the bundled ten validate and each is triggered by real detectors and Sigma rules;
broken files are reported with file, line and field while the others still load."""

from __future__ import annotations

import importlib
import pkgutil
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

import detectors.policy as policy_package
from core.models.alert import Severity
from detectors import flatline
from detectors.policy.common import PolicyRule
from detectors.sigma.loader import RuleInfo, load_rules
from playbooks.loader import BUNDLED_DIR, load_dir, load_text
from playbooks.schema import parse_duration
from playbooks.triggers import strength
from tests.datasets import dataset

ISSUE_PLAYBOOKS = {
    "unauthorized-access", "data-leak", "brute-force", "malware", "intrusion", "audit-log-cleared",
    "policy-violation", "departed-access", "vendor-access", "system-outage",
}  # fmt: skip


def _policy_rules() -> list[PolicyRule]:
    rules = []
    for module in pkgutil.iter_modules(policy_package.__path__):
        loaded = importlib.import_module(f"detectors.policy.{module.name}")
        rules += [v for v in vars(loaded).values() if isinstance(v, PolicyRule)]
    return rules


@pytest.fixture(scope="module")
def sigma_rules() -> list[RuleInfo]:
    return [info for info, _ in load_rules([dataset("sigma", "rules")]).rules]


def test_the_bundled_playbooks_all_validate() -> None:
    catalog = load_dir()
    assert catalog.problems == []
    assert set(catalog.ids()) == ISSUE_PLAYBOOKS


def test_every_rule_id_a_trigger_names_is_a_real_detector_or_sigma_rule(sigma_rules: list[RuleInfo]) -> None:
    known = {r.id for r in _policy_rules()} | {flatline.RULE.id}
    sigma_ids = {info.id for info in sigma_rules}
    for loaded in load_dir().playbooks:
        for rule_id in loaded.playbook.trigger.rules:
            assert rule_id in known or rule_id in sigma_ids, f"{loaded.playbook.id}: {rule_id} is no detector or rule"


def test_each_playbook_is_triggered_by_a_real_detector_or_sigma_rule(sigma_rules: list[RuleInfo]) -> None:
    """Real detectors (their own playbook hint, tags, severity) and the SigmaHQ rules (tags, level, the
    hint the alert builder gives them) must reach every playbook, most specific trigger first."""
    from detectors.playbook_hints import playbook_for

    profiles = [(r.id, r.tags, r.severity, r.playbook, "user") for r in _policy_rules()]
    profiles.append((flatline.RULE.id, (), Severity.HIGH, flatline.PLAYBOOK, "source"))
    for rule in sigma_rules:
        tags = tuple(rule.tags)
        hint = playbook_for(tags, [rule.logsource.category, rule.logsource.service])
        profiles.append((rule.id, tags, Severity.of(rule.level), hint, "host"))
    catalog = load_dir()
    reached: dict[str, list[str]] = {pid: [] for pid in catalog.ids()}
    for rule_id, tags, severity, hint, kind in profiles:
        scores = [(strength(p.playbook.trigger, rule_id=rule_id, tags=tags, severity=severity, hint=hint,
                            entity_kind=kind), p.playbook.id) for p in catalog.playbooks]  # fmt: skip
        best = max(scores)
        if best[0]:
            reached[best[1]].append(rule_id)
    assert all(reached.values()), {pid: len(ids) for pid, ids in reached.items()}
    assert "vigil-policy-brute-force" in reached["brute-force"]
    assert "vigil-policy-departed-access" in reached["departed-access"]
    assert flatline.RULE.id in reached["audit-log-cleared"]
    assert "57b649ef-ff42-4fb0-8bf6-62da243a1708" in reached["malware"]  # Windows Defender Threat Detected


BROKEN = """\
id: broken
title: {en: Broken, zh-CN: 坏}
trigger: {rules: [vigil-policy-brute-force]}
steps:
  - id: first
    kind: manual
    title: {en: One, zh-CN: 一}
  - id: second
    kind: telepathy
    title: {en: Two, zh-CN: 二}
  - id: third
    kind: wait
    title: {en: Three, zh-CN: 三}
    duration: 3 fortnights
  - id: fourth
    kind: notify
    title: {en: Four, zh-CN: 四}
    channels: [email]
    subject: {en: s, zh-CN: s}
"""


def test_a_broken_file_names_file_line_and_field_and_the_others_still_load(tmp_path: Path) -> None:
    shutil.copy(BUNDLED_DIR / "brute-force.yml", tmp_path / "brute-force.yml")
    (tmp_path / "broken.yml").write_text(BROKEN, encoding="utf-8")
    catalog = load_dir(tmp_path)
    assert catalog.ids() == ["brute-force"]
    by_field = {p.field: p for p in catalog.problems}
    assert all(p.path == tmp_path / "broken.yml" for p in catalog.problems)
    kind = by_field["steps.1.kind"]
    assert kind.line == 9 and "unknown step kind 'telepathy'" in kind.message
    duration = by_field["steps.2.duration"]
    assert duration.line == 14 and "not a duration" in duration.message
    missing = by_field["steps.3"]
    assert missing.line == 15 and "missing field 'text'" in missing.message
    assert str(duration).startswith(f"{tmp_path / 'broken.yml'}:14: field steps.2.duration:")


def test_yaml_syntax_errors_and_unknown_fields_have_lines() -> None:
    problems, loaded = load_text("id: x\ntitle: [unclosed\n", "bad.yml")
    assert loaded is None and problems[0].line == 3 and "not valid YAML" in problems[0].message
    text = BROKEN.replace("kind: telepathy", "kind: manual").replace("duration: 3 fortnights", "duration: 3m")
    text = text.replace(
        "    subject: {en: s, zh-CN: s}\n", "    subject: {en: s, zh-CN: s}\n    text: {en: t, zh-CN: t}\n"
    )
    problems, loaded = load_text(text.replace("trigger: {rules", "trigger: {colour: red, rules"), "extra.yml")
    assert loaded is None and [(p.line, p.field, p.message) for p in problems] == [
        (3, "trigger.colour", "unknown field 'colour'")
    ]
    _, loaded = load_text(text, "fixed.yml")
    assert loaded is not None and loaded.playbook.step("third").duration == timedelta(minutes=3)  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "expected"), [("90s", timedelta(seconds=90)), ("3m", timedelta(minutes=3)),
                         ("24h", timedelta(hours=24)), ("1d", timedelta(days=1)), ("1h30m", timedelta(minutes=90)),
                         (45, timedelta(seconds=45))])  # fmt: skip
def test_durations(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3 minutes", "h", "-5", "1.5h", True])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)
