"""Vigil's own Sigma rules (detectors/rules/vigil): they load through the same loader as SigmaHQ, carry
fresh unique ids and ATT&CK tags, convert for hunting, fire on the real attack recording each was written
from, and stay quiet on benign data.

Noise budget: 0 alerts. loghub's benign sets (Apache, Proxifier, BGL, HDFS, Zookeeper, Windows CBS) have no
Windows event log records, so the measure that can fail is the one recording in the attack set that is
benign by its own name (420 legitimate Security 4622 package loads) plus the Linux parts of loghub.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from core.models.entity import Inventory
from core.settings import VIGIL_RULES, Settings, default_rule_dirs
from detectors.coverage import folder_technique, technique_matches
from detectors.hunt.convert import convert_rules
from detectors.registry import DetectionPlan, build_plan
from detectors.replay import read_events, replay
from detectors.sigma import SigmaEngine
from detectors.sigma.loader import load_rules, rule_files
from tests.datasets import dataset

# Correlation rules (detectors/rules/vigil/correlation/) are written and tested separately.
FILES = [p for p in rule_files(VIGIL_RULES) if "correlation" not in p.relative_to(VIGIL_RULES).parts]
# Rules comparing two fields of one event (`|fieldref`): Lucene cannot, so their hunts are engine hunts.
ENGINE_HUNTS = {
    "win_security_password_change_other_account",
    "win_security_password_reset_by_other_account",
    "win_security_network_share_permissions_changed",
}
# The recording under ../shared/datasets/attack/mdecrevoisier each rule was written from.
WRITTEN_FOR: dict[str, str] = yaml.safe_load((Path(__file__).parent / "vigil_rules_sources.yml").read_text("utf-8"))
BENIGN_LOGHUB = ("Apache", "Proxifier", "BGL", "HDFS", "Zookeeper", "Windows", "Linux", "OpenSSH")


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.from_paths([VIGIL_RULES])


@pytest.fixture(scope="module")
def stems(engine: SigmaEngine) -> dict[str, str]:
    """Rule id → rule file name (without .yml), correlation/ left out."""
    return {r.info.id: Path(r.info.path).stem for r in engine.rules if not in_correlation(r.info.path)}


def in_correlation(path: str) -> bool:
    return "correlation" in Path(path).relative_to(VIGIL_RULES).parts


@pytest.fixture(scope="module")
def plan(engine: SigmaEngine) -> DetectionPlan:
    return build_plan(Settings(sigma_rule_dirs=[VIGIL_RULES]), engine, inventory=Inventory())


def test_every_rule_loads_and_compiles(engine: SigmaEngine) -> None:
    loaded = load_rules([VIGIL_RULES])
    skipped = [s for s in [*loaded.skipped, *engine.skipped] if not in_correlation(s.path)]
    assert not skipped, [s.detail for s in skipped]
    mine = [r for r in engine.rules if not in_correlation(r.info.path)]
    assert len(mine) == len(FILES) == len(WRITTEN_FOR)
    assert {Path(r.info.path).stem for r in mine} == set(WRITTEN_FOR)


def test_ids_are_fresh_uuid4_and_unique_across_sigmahq() -> None:
    ids = [str(yaml.safe_load(p.read_text(encoding="utf-8"))["id"]) for p in FILES]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 4 for i in ids)
    sigmahq = set()
    for root in default_rule_dirs()[1:]:
        for path in rule_files(root):
            sigmahq.update(re.findall(r"^id: *([0-9a-f-]{36})", path.read_text(encoding="utf-8"), re.M))
    assert sigmahq, "SigmaHQ rules not found beside the repository"
    assert not set(ids) & sigmahq


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_rule_metadata(path: Path) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["author"] == "Vigil" and doc["status"] in ("experimental", "test")
    assert doc["level"] in ("informational", "low", "medium", "high", "critical")
    assert doc["falsepositives"] and doc["description"].strip()
    techniques = [t for t in doc["tags"] if re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t)]
    assert techniques, doc["tags"]
    assert any("attack.mitre.org/techniques/" in r for r in doc["references"])


def test_rules_convert_for_hunting(stems: dict[str, str]) -> None:
    conversion = convert_rules(r for r in load_rules([VIGIL_RULES]).rules if not in_correlation(r[0].path))
    assert not conversion.skipped, conversion.skipped
    engine_hunts = {stems[q.rule_id] for q in conversion.queries.values() if q.evaluation == "engine"}
    assert engine_hunts == ENGINE_HUNTS
    assert all(q.lucene for q in conversion.queries.values() if q.evaluation == "lucene")
    assert all(q.refused is not None and q.refused.kind == "fieldreference" for q in conversion.queries.values()
               if q.evaluation == "engine")  # fmt: skip


def test_default_rule_dirs_load_the_pack_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_rule_dirs()[0] == VIGIL_RULES == Settings().sigma_rule_dirs[0]
    monkeypatch.setenv("VIGIL_RULES_DIR", str(tmp_path))
    dirs = Settings().sigma_rule_dirs
    assert dirs[0] == tmp_path and VIGIL_RULES not in dirs
    assert Settings(rules_dir=tmp_path / "absent").sigma_rule_dirs == default_rule_dirs()[1:]


def test_package_data_ships_the_pack() -> None:
    pyproject = (VIGIL_RULES.parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^"detectors" = \[(.*)\]$', pyproject, re.M)
    assert found and '"rules/vigil/**/*.yml"' in found.group(1)
    assert all(p.suffix == ".yml" for p in FILES)  # the pattern ships .yml only


@pytest.mark.parametrize("stem", sorted(WRITTEN_FOR))
def test_rule_fires_on_the_recording_it_was_written_for(stem: str, stems: dict[str, str], plan: DetectionPlan) -> None:
    path = dataset("attack", "mdecrevoisier", WRITTEN_FOR[stem])
    technique = folder_technique(path)
    assert technique is not None
    result = replay(read_events([path], "auto", ZoneInfo("UTC")), plan.replay_pipeline())
    assert not result.rule_errors
    mine = [a for a in result.alerts if stems.get(a.rule.id) == stem]
    assert mine, Counter(a.rule.title for a in result.alerts)
    assert all(any(technique_matches(t, technique) for t in a.attack) for a in mine)


def test_no_alert_on_benign_windows_records(stems: dict[str, str], plan: DetectionPlan) -> None:
    """A recording of legitimate security packages loading (4622), benign by its own name."""
    path = dataset("attack", "mdecrevoisier", "TA0003-Persistence", "T1547-Boot or Logon Autostart Execution",
                   "ID4622-New SSP loaded in LSA (only legitim).jsonl")  # fmt: skip
    result = replay(read_events([path], "auto", ZoneInfo("UTC")), plan.replay_pipeline())
    assert result.events == 420 and not result.rule_errors
    assert [a.rule.title for a in result.alerts if a.rule.id in stems] == []


@pytest.mark.parametrize("name", BENIGN_LOGHUB)
def test_no_alert_on_benign_loghub_sets(name: str, stems: dict[str, str], plan: DetectionPlan) -> None:
    path = dataset("loghub", name, f"{name}_2k.log")
    result = replay(read_events([path], "auto", plan.settings.zone), plan.replay_pipeline())
    assert result.events + result.deadletters == 2000 and not result.rule_errors
    assert [a.rule.title for a in result.alerts if a.rule.id in stems] == []


def test_the_image_loads_the_pack() -> None:
    """docker-compose.yml replaces the rule dirs: the pack's installed path must lead them."""
    root = VIGIL_RULES.parents[2]
    compose = yaml.safe_load((root / "docker-compose.yml").read_text(encoding="utf-8"))
    dirs = yaml.safe_load(compose["x-sigma-env"]["VIGIL_SIGMA_RULE_DIRS"])
    site = "/opt/vigil/lib/python3.11/site-packages"
    assert dirs[0] == f"{site}/detectors/rules/vigil"
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    assert "FROM python:3.11-slim" in dockerfile and f"--root {site}" in dockerfile
