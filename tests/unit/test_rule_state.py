"""Rule enable/disable as the detection pipeline and the scheduled hunts honour it (`detectors/rule_state.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from elastic_transport import ConnectionError as EsConnectionError

from core.models.alert import AlertOrigin
from core.models.rules import RuleState
from core.settings import Settings
from detectors.hunt.convert import Conversion
from detectors.hunt.schedule import HuntCheckpoint, HuntCheckpointStore, HuntScheduler, HuntSettings
from detectors.pipeline import DetectionPipeline, alerting_settings
from detectors.rule_state import RuleSwitch, rules_summary
from detectors.sigma import SigmaEngine
from detectors.sigma.correlation import CorrelationDetector, CorrelationSettings
from tests.unit.correlation_kit import FAILED, FAILED_ID, SUCCESS, SUCCESS_ID, at, correlation, event

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CORRELATION_ID = "c0000000-0000-4000-8000-000000000001"


class FakeStates:
    """`vigil-rule-state` as the switch reads it; `down` makes the read fail like an unreachable ES."""

    def __init__(self) -> None:
        self.states: dict[str, RuleState] = {}
        self.reads = 0
        self.down = False

    def set(self, rule_id: str, *, enabled: bool) -> None:
        self.states[rule_id] = RuleState(rule_id=rule_id, enabled=enabled, changed_by="admin", changed_at=NOW)

    def __call__(self) -> dict[str, RuleState]:
        self.reads += 1
        if self.down:
            raise EsConnectionError("connection refused")
        return dict(self.states)


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def switch_and_states(interval_s: float = 30.0) -> tuple[RuleSwitch, FakeStates, FakeMonotonic]:
    states, clock = FakeStates(), FakeMonotonic()
    return RuleSwitch(states, interval_s, clock), states, clock


def pipeline(engine: SigmaEngine, switch: RuleSwitch, *, correlations: bool = False) -> DetectionPipeline:
    settings = alerting_settings(Settings(alert_suppression_s=0))
    factory = (lambda: [CorrelationDetector(engine.correlations, CorrelationSettings())]) if correlations else list
    return DetectionPipeline.build(engine, settings, AlertOrigin.STREAM, factory, switch=switch)


def test_a_disabled_rule_raises_nothing_until_enabled_again_within_the_refresh_interval() -> None:
    engine = SigmaEngine.from_texts({"r.yml": FAILED + "\n---\n" + SUCCESS})
    switch, states, clock = switch_and_states()
    run = pipeline(engine, switch)
    switch.refresh(force=True)
    assert {a.rule.id for a in run.on_event(event(1, "4625", TargetUserName="alice"), NOW)} == {FAILED_ID}

    states.set(FAILED_ID, enabled=False)
    clock.t = 29.0
    assert not switch.due() and not switch.refresh()  # not read again before the interval
    assert run.on_event(event(2, "4625", TargetUserName="bob"), NOW)  # still on: within the interval
    clock.t = 30.0
    assert switch.refresh() and switch.disabled == {FAILED_ID}
    assert run.on_event(event(3, "4625", TargetUserName="carol"), NOW) == []
    assert {a.rule.id for a in run.on_event(event(4, "4624", TargetUserName="carol"), NOW)} == {SUCCESS_ID}
    assert run.metrics["sigma_disabled"] == 1

    states.set(FAILED_ID, enabled=True)
    clock.t = 60.0
    assert switch.refresh() and switch.disabled == frozenset()
    assert {a.rule.id for a in run.on_event(event(5, "4625", TargetUserName="dave"), NOW)} == {FAILED_ID}


def test_an_unreadable_state_keeps_the_last_one_read() -> None:
    switch, states, clock = switch_and_states()
    states.set(FAILED_ID, enabled=False)
    assert switch.refresh(force=True) and switch.disabled == {FAILED_ID}
    states.down = True
    clock.t = 31.0
    assert not switch.refresh() and switch.disabled == {FAILED_ID} and states.reads == 2
    assert not switch.due()  # a failed read waits for the next interval too (no tight retry loop)


def test_a_disabled_correlation_is_dropped_but_disabling_its_base_rule_does_not_stop_it() -> None:
    rule = correlation("event_count", ["failed_login"], condition="gte: 3", group_by=("TargetUserName",))
    engine = SigmaEngine.from_texts({"r.yml": FAILED + "\n---\n" + rule})
    switch, states, _ = switch_and_states()
    states.set(FAILED_ID, enabled=False)
    switch.refresh(force=True)
    run = pipeline(engine, switch, correlations=True)
    alerts = [a for i in range(3) for a in run.on_event(event(i, "4625", TargetUserName="alice"), NOW)]
    alerts += run.on_tick(at(600))
    assert {a.rule.id for a in alerts} == {CORRELATION_ID}  # the base rule's own alerts are off

    states.set(CORRELATION_ID, enabled=False)
    switch.refresh(force=True)
    run = pipeline(engine, switch, correlations=True)
    alerts = [a for i in range(3) for a in run.on_event(event(i, "4625", TargetUserName="bob"), NOW)]
    alerts += run.on_tick(at(600))
    assert alerts == [] and run.metrics["drafts_disabled"] == 1


def test_the_rules_summary_counts_skips_by_reason_and_lists_only_loaded_disabled_rules() -> None:
    unsupported = "title: x\nid: 11111111-1111-4111-8111-111111111111\nlogsource:\n    product: zos\n" \
                  "detection:\n    sel:\n        a: 1\n    condition: sel\n"  # fmt: skip
    engine = SigmaEngine.from_texts({"r.yml": FAILED + "\n---\n" + SUCCESS, "u.yml": unsupported})
    summary = rules_summary(engine, frozenset({SUCCESS_ID, "not-a-loaded-rule"}), NOW)
    assert (summary.loaded, summary.skipped, summary.correlations) == (2, 1, 0)
    assert sum(summary.skipped_by_reason.values()) == 1 and summary.disabled == [SUCCESS_ID]


def test_a_disabled_rule_is_not_hunted_and_its_window_moves_on(tmp_path) -> None:
    store = HuntCheckpointStore(tmp_path)
    store.save(HuntCheckpoint(rule_id=FAILED_ID, last_end=NOW - timedelta(hours=2), written_at=NOW,
                              state={"kept": True}))  # fmt: skip
    switch, states, _ = switch_and_states()
    states.set(FAILED_ID, enabled=False)
    conversion = Conversion(queries={FAILED_ID: "event.code:4625"}, rules={}, skipped=[])
    # No Elasticsearch and no Kafka: a disabled rule must not touch either.
    scheduler = HuntScheduler(None, None, conversion, HuntSettings(), alerting_settings(Settings()), store,  # type: ignore[arg-type]
                              clock=lambda: NOW, switch=switch)  # fmt: skip
    assert scheduler.run_pass() == []
    saved = store.load(FAILED_ID)
    assert saved is not None and saved.last_end == NOW and saved.state == {"kept": True}
    assert scheduler.metrics["rules_disabled"] == 1
