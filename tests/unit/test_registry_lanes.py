"""The wiring of detection: which detector runs in which lane, `generate: false` suppression, the global
lane raising no single-event Sigma alert, the replay's final tick, the inventory and thresholds."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from core.models.alert import AlertOrigin, DetectorKind
from core.models.ecs import EcsEvent
from core.models.entity import Inventory, User
from core.settings import Settings
from detectors.pipeline import DetectionPipeline, alerting_settings
from detectors.registry import DetectionPlan, Lane, build_plan, lane_of, load_detection_inventory
from detectors.replay import replay
from detectors.sigma import SigmaEngine
from tests.unit.correlation_kit import FAILED, FAILED_ID, at, correlation, event

REPO = Path(__file__).resolve().parents[2]
BRUTE = correlation("event_count", ["failed_login"], condition="gte: 5")  # generate: false (the default)
LOUD = BRUTE.replace("    timespan:", "    generate: true\n    timespan:")
FEW = correlation(
    "event_count", ["failed_login"], condition="lt: 3", timespan="10m", rule_id="c0000000-0000-4000-8000-000000000002"
)
SETTINGS = Settings(sigma_rule_dirs=[])


def plan_of(*texts: str, settings: Settings = SETTINGS) -> DetectionPlan:
    engine = SigmaEngine.from_texts({f"r{i}.yml": t for i, t in enumerate(texts)})
    return build_plan(settings, engine, inventory=Inventory())


def run(pipeline: DetectionPipeline, events: list[EcsEvent]) -> list:
    return replay(((Path("x"), e) for e in events), pipeline).alerts


def failures(*seconds: float, user: str = "alice") -> list[EcsEvent]:
    return [event(s, User=user, IpAddress="203.0.113.9") for s in seconds]


def test_each_detector_runs_in_exactly_one_lane_by_what_its_state_is_keyed_by() -> None:
    plan = plan_of(FAILED)
    partition = {d.name for d in plan.detectors(Lane.PARTITION)}
    global_ = {d.name for d in plan.detectors(Lane.GLOBAL)}
    assert partition == {"policy.access", "policy.borrowed_account", "policy.mass_copy", "policy.proxy_upload",
                         "policy.volume_spike"}  # fmt: skip
    assert {"flatline", "sigma-correlation", "policy.brute_force", "policy.ip_use", "policy.removable_media",
            "policy.violations", "policy.mail", "policy.first_seen"} == global_  # fmt: skip
    assert {d.name for d in plan.detectors()} == partition | global_  # replay: everything, once
    assert all(lane_of(d) is Lane.PARTITION for d in plan.detectors(Lane.PARTITION))


def test_generate_false_base_rule_raises_only_the_correlation_alert() -> None:
    alerts = run(plan_of(FAILED, BRUTE).replay_pipeline(), failures(0, 10, 20, 30, 40))
    assert [a.rule.kind for a in alerts] == [DetectorKind.CORRELATION]
    loud = run(plan_of(FAILED, LOUD).replay_pipeline(), failures(0, 10, 20, 30, 40))
    assert {a.rule.kind for a in loud} == {DetectorKind.SIGMA, DetectorKind.CORRELATION}
    assert {a.rule.id for a in loud if a.rule.kind is DetectorKind.SIGMA} == {FAILED_ID}


def test_partition_lane_alerts_sigma_global_lane_counts_it_no_alert_twice() -> None:
    plan = plan_of(FAILED, LOUD)
    settings = alerting_settings(SETTINGS)
    partition = DetectionPipeline.build(plan.lane_engine(Lane.PARTITION), settings, AlertOrigin.STREAM,
                                        lambda: plan.detectors(Lane.PARTITION))  # fmt: skip
    engine = plan.lane_engine(Lane.GLOBAL)
    assert [r.info.id for r in engine.rules] == [FAILED_ID]  # only what the correlations count
    global_ = DetectionPipeline.build(engine, settings, AlertOrigin.STREAM, lambda: plan.detectors(Lane.GLOBAL),
                                      sigma_alerts=False)  # fmt: skip
    events = failures(0, 10, 20, 30, 40)
    by_partition, by_global = run(partition, events), run(global_, events)
    assert {a.rule.kind for a in by_partition} == {DetectorKind.SIGMA}
    assert {a.rule.kind for a in by_global} == {DetectorKind.CORRELATION}
    quiet = plan_of(FAILED, BRUTE)  # generate: false: the partition lane drops the base rule's alert
    silent = DetectionPipeline.build(quiet.engine, settings, AlertOrigin.STREAM)
    assert run(silent, events) == [] and silent.metrics["sigma_suppressed"] == 5


def test_replay_ends_with_a_tick_that_decides_the_last_fewer_than_n_window() -> None:
    plan = plan_of(FAILED, FEW)
    assert plan.settle() == timedelta(minutes=5 + 10, seconds=1)  # past allowance + the longest timespan
    [alert] = run(plan.replay_pipeline(), failures(0))
    assert alert.rule.kind is DetectorKind.CORRELATION and alert.event_count == 1
    unsettled = DetectionPipeline.build(plan.engine, alerting_settings(SETTINGS), AlertOrigin.REPLAY, plan.detectors)
    assert run(unsettled, failures(0)) == []  # a tick at the last event decides nothing


def test_the_end_of_a_replayed_file_is_not_a_source_going_silent() -> None:
    plan = plan_of(FAILED, FEW)
    chatty = [event(10 * i, "4624", User="bob") for i in range(60)]  # a steady source, then the file ends
    alerts = run(plan.replay_pipeline(), chatty)
    assert [a for a in alerts if a.rule.id == "vigil-flatline"] == []
    flatline = next(d for d in plan.detectors() if d.name == "flatline")
    for e in chatty:
        flatline.on_event(e, [])
    assert flatline.on_tick(at(600 + plan.settle().total_seconds()))  # what a plain final tick would say


def test_inventory_and_thresholds_come_from_the_settings_files(tmp_path: Path, caplog) -> None:
    policy = tmp_path / "policy.yml"
    policy.write_text("brute_force:\n  failures: 3\n  window: PT2M\n", encoding="utf-8")
    inventory = REPO / "detectors" / "policy" / "sample_inventory.yml"
    settings = SETTINGS.model_copy(update={"inventory_file": inventory, "policy_file": policy})
    plan = build_plan(settings, SigmaEngine.from_texts({}))
    assert plan.policy.brute_force.failures == 3 and plan.policy.brute_force.window == timedelta(minutes=2)
    assert plan.index.user("zhangwei") is not None
    with caplog.at_level(logging.WARNING, logger="detectors.registry"):
        empty = load_detection_inventory(SETTINGS)
    assert empty == Inventory() and "empty inventory" in caplog.text
    assert build_plan(SETTINGS, SigmaEngine.from_texts({}), inventory=Inventory(users=[User(name="x")])).index.user("x")


def test_an_unreachable_entity_store_means_an_empty_inventory_not_a_crash(caplog) -> None:
    from elasticsearch import Elasticsearch

    es = Elasticsearch("http://127.0.0.1:9", request_timeout=1, max_retries=0)
    with caplog.at_level(logging.WARNING, logger="detectors.registry"):
        assert load_detection_inventory(SETTINGS, es) == Inventory()
    assert "unreadable" in caplog.text


@pytest.mark.parametrize("role", ["detectors", "detectors-global"])
def test_worker_roles_are_known(role: str) -> None:
    from typer.testing import CliRunner

    from core.cli import app

    result = CliRunner().invoke(app, ["workers", "--role", role + "-nope"])
    assert result.exit_code != 0 and "detectors-global" in result.output
