"""Alerting: dedup, suppression windows, rate caps and flood meta-alerts, at their boundaries.

Event time comes from the events; "now" from a fake clock the test advances.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.models.alert import AlertDraft, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from detectors.alert_store import latest_versions
from detectors.alerting import FLOOD_RULE_ID, Alerting, AlertingSettings
from detectors.checkpoint import Checkpoint, CheckpointError, CheckpointStore
from detectors.pipeline import DetectionPipeline, PipelineState
from detectors.playbook_hints import playbook_for
from detectors.sigma import SigmaEngine
from detectors.sigma.engine import RuleMatch

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULE = "rule-1"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def event(ts: datetime, user: str = "alice", event_id: str | None = None) -> EcsEvent:
    return EcsEvent.model_validate({
        "@timestamp": ts, "user": {"name": user}, "event": {"id": event_id or f"e-{user}-{ts.isoformat()}"},
        "vigil": {"category": "user", "source": "test", "parser": "test", "entity": f"user:{user}"},
    })  # fmt: skip


def match(rule_id: str = RULE, event_id: str | None = None, level: str = "high") -> RuleMatch:
    return RuleMatch(rule_id, f"Title of {rule_id}", level, ("attack.credential-access", "attack.t1110.001"), event_id)


def alerting(**settings: object) -> Alerting:
    return Alerting(AlertingSettings.model_validate(settings), {}, AlertOrigin.STREAM)


def feed(engine: Alerting, ts: datetime, clock: FakeClock, user: str = "alice", rule_id: str = RULE) -> list:
    ev = event(ts, user)
    return engine.on_match(match(rule_id, ev.event.id), ev, clock())


def test_first_match_raises_a_complete_alert() -> None:
    clock = FakeClock()
    [alert] = feed(alerting(), T0, clock)
    assert alert.rule.id == RULE and alert.rule.kind is DetectorKind.SIGMA
    assert alert.dedup_key == "rule-1|user:alice" and alert.entity.key == "user:alice"
    assert alert.severity is Severity.HIGH and alert.event_count == 1 and alert.event_ids
    assert alert.attack == ["attack.credential-access", "attack.t1110.001"]
    assert alert.playbook == "brute-force"
    assert "alice" in alert.summary.en and "alice" in alert.summary.zh and "高危" in alert.summary.zh
    assert alert.first_seen == alert.last_seen == T0 and alert.timestamp == clock.now
    assert alert.to_document()["summary"]["zh-CN"]


def test_repeats_inside_the_window_merge_and_are_emitted_on_tick() -> None:
    clock = FakeClock()
    engine = alerting(suppression=600)
    [first] = feed(engine, T0, clock)
    assert feed(engine, T0 + timedelta(seconds=599), clock) == []  # just inside: merged, not re-raised
    assert feed(engine, T0 + timedelta(seconds=300), clock, user="bob") != []  # another entity: its own alert
    [merged] = engine.on_tick(clock.advance(seconds=2))  # only the merged one: bob's was emitted when raised
    assert merged.id == first.id and merged.event_count == 2 and len(merged.event_ids) == 2
    assert merged.last_seen == T0 + timedelta(seconds=599) and merged.first_seen == T0
    assert "2 events" in merged.summary.en
    assert engine.on_tick(clock.advance(seconds=2)) == []  # nothing changed since
    [second] = feed(engine, T0 + timedelta(seconds=600), clock)  # at the boundary: a new alert
    assert second.id != first.id


def test_late_event_merges_into_its_window_and_redelivery_counts_once() -> None:
    clock = FakeClock()
    engine = alerting(suppression=600)
    [first] = feed(engine, T0, clock)
    assert feed(engine, T0 - timedelta(seconds=30), clock) == []  # out of order, within reach
    ev = event(T0 + timedelta(seconds=10))
    engine.on_match(match(event_id=ev.event.id), ev, clock())
    engine.on_match(match(event_id=ev.event.id), ev, clock())  # the same event again (at-least-once)
    [merged] = engine.on_tick(clock())
    assert merged.id == first.id and merged.event_count == 3 and merged.first_seen == T0 - timedelta(seconds=30)


def test_stored_event_ids_are_capped_but_the_count_goes_on() -> None:
    clock = FakeClock()
    engine = alerting(max_event_ids=5)
    for i in range(20):
        feed(engine, T0 + timedelta(seconds=i), clock)
    [merged] = engine.on_tick(clock())
    assert merged.event_count == 20 and len(merged.event_ids) == 5


def test_per_rule_suppression_override() -> None:
    clock = FakeClock()
    engine = alerting(suppression=600, suppression_by_rule={RULE: 60})
    assert feed(engine, T0, clock)
    assert feed(engine, T0 + timedelta(seconds=61), clock)  # past this rule's 60 s: new alert
    assert feed(engine, T0, clock, rule_id="other")
    assert not feed(engine, T0 + timedelta(seconds=61), clock, rule_id="other")


def test_rate_cap_raises_one_flood_alert_instead_of_thousands() -> None:
    clock = FakeClock()
    engine = alerting(rate_cap=3, rate_window=3600)
    raised = [a for i in range(3) for a in feed(engine, T0 + timedelta(seconds=i), clock, user=f"u{i}")]
    assert len(raised) == 3 and all(a.rule.id == RULE for a in raised)
    [flood] = feed(engine, T0 + timedelta(seconds=10), clock, user="u3")  # the 4th new alert in the hour
    assert flood.rule.id == FLOOD_RULE_ID and flood.rule.kind is DetectorKind.META
    assert flood.entity.key == f"rule:{RULE}" and flood.context["rule_id"] == RULE
    assert flood.severity is Severity.HIGH and flood.attack  # keeps the rule's severity and ATT&CK tags
    later = [a for i in range(4, 2000) for a in feed(engine, T0 + timedelta(seconds=10 + i), clock, user=f"u{i}")]
    assert later == []
    [update] = engine.on_tick(clock.advance(seconds=2))
    assert update.id == flood.id and update.context["suppressed_alerts"] == 1997 and update.event_count == 1997
    assert "1997" in update.summary.en and "告警风暴" in update.summary.zh
    assert len(update.event_ids) == 100


def test_flood_ends_when_the_rule_quietens_for_a_window() -> None:
    clock = FakeClock()
    engine = alerting(rate_cap=1, rate_window=600, suppression=60)
    assert feed(engine, T0, clock, user="a")[0].rule.id == RULE
    [flood] = feed(engine, T0 + timedelta(seconds=1), clock, user="b")
    assert flood.rule.id == FLOOD_RULE_ID
    # 601 s after the first alert the rate window holds no alert: the rule raises normally again.
    [normal] = feed(engine, T0 + timedelta(seconds=602), clock, user="c")
    assert normal.rule.id == RULE
    # a flood beginning after the old flood's window is a new flood alert (new id)
    [again] = feed(engine, T0 + timedelta(seconds=1300), clock, user="d")
    assert again.rule.id == RULE
    [flood2] = feed(engine, T0 + timedelta(seconds=1301), clock, user="e")
    assert flood2.rule.id == FLOOD_RULE_ID and flood2.id != flood.id


def test_windows_expire_by_the_clock_after_suppression_plus_lateness_without_activity() -> None:
    clock = FakeClock()
    engine = alerting(suppression=600, lateness=300, rate_window=600)
    feed(engine, T0, clock)
    feed(engine, T0, clock, user="bob")
    clock.advance(seconds=400)
    feed(engine, T0 + timedelta(seconds=5), clock, user="bob")  # bob's window touched again
    engine.on_tick(clock.advance(seconds=499))  # alice: 899 s untouched, still kept
    assert set(engine.state.open) == {"rule-1|user:alice", "rule-1|user:bob"}
    engine.on_tick(clock.advance(seconds=1))  # 900 s = suppression + lateness: dropped
    assert set(engine.state.open) == {"rule-1|user:bob"}


def test_one_partition_mixing_old_and_live_sources_keeps_both_windows() -> None:
    """An old file imported beside live logs neither closes the live windows nor gets closed by them."""
    clock = FakeClock(T0 + timedelta(days=400))
    engine = alerting(suppression=600)
    [live] = feed(engine, clock.now, clock)
    [old] = feed(engine, T0, clock, user="bob")
    engine.on_tick(clock.advance(seconds=5))
    assert feed(engine, clock.now, clock) == [] and feed(engine, T0 + timedelta(seconds=60), clock, user="bob") == []
    merged = {a.id: a.event_count for a in engine.on_tick(clock.advance(seconds=5))}
    assert merged == {live.id: 2, old.id: 2}


def test_detector_drafts_keep_their_own_dedup_key_and_summary() -> None:
    clock = FakeClock()
    engine = alerting()
    draft = AlertDraft(
        rule=RuleRef(id="policy.departed", title="Departed account used", kind=DetectorKind.POLICY),
        severity=Severity.CRITICAL, entity=EntityRef(kind="user", value="bob"), dedup_key="departed|bob",
        first_seen=T0, last_seen=T0, event_ids=["x"], playbook="unauthorized-access",
        summary=Summary.model_validate({"en": "bob left 5 days ago", "zh-CN": "bob 已离职 5 天"}),
    )  # fmt: skip
    [alert] = engine.on_draft(draft, clock())
    assert alert.playbook == "unauthorized-access" and alert.summary.en == "bob left 5 days ago"
    assert engine.on_draft(draft.model_copy(update={"event_ids": ["y"]}), clock()) == []
    [merged] = engine.on_tick(clock())
    assert merged.event_ids == ["x", "y"] and merged.summary.zh == "bob 已离职 5 天"


def test_snapshot_restore_continues_the_same_alerts() -> None:
    clock = FakeClock()
    engine = alerting(rate_cap=2)
    [first] = feed(engine, T0, clock)
    feed(engine, T0 + timedelta(seconds=5), clock)
    feed(engine, T0, clock, user="bob")
    [flood] = feed(engine, T0, clock, user="carol")
    saved = engine.snapshot().model_dump(mode="json")
    restored = alerting(rate_cap=2)
    restored.restore(saved)
    assert feed(restored, T0 + timedelta(seconds=9), clock) == []
    assert feed(restored, T0 + timedelta(seconds=9), clock, user="dave") == []
    updates = {a.id: a for a in restored.on_tick(clock())}
    assert updates[first.id].event_count == 3  # the pending merge survived, then one more
    assert updates[flood.id].context["suppressed_alerts"] == 2


@pytest.mark.parametrize(
    ("tags", "logsource", "playbook"),
    [
        (["attack.defense-impairment", "attack.t1685.005"], [], "audit-log-cleared"),
        (["attack.t1070.001"], [], "audit-log-cleared"),
        (["attack.credential-access", "attack.t1110.003"], [], "brute-force"),
        ([], ["antivirus"], "malware"),
        (["attack.exfiltration", "attack.t1048"], [], "data-leak"),
        (["attack.t1090"], [], "policy-violation"),
        (["attack.t1078"], [], "unauthorized-access"),
        (["attack.execution", "attack.t1059.001"], [], "intrusion"),
        (["detection.threat-hunting"], [], None),
    ],
)
def test_playbook_hints(tags: list[str], logsource: list[str], playbook: str | None) -> None:
    assert playbook_for(tags, logsource) == playbook


# --- the pipeline and its checkpoint ------------------------------------------------------------------

RULE_YAML = """
title: Failed login
id: 7d3e5b58-0000-4000-8000-000000000001
status: test
level: medium
tags: [attack.credential-access, attack.t1110]
logsource: {product: linux, service: auth}
detection:
  sel: {event.outcome: failure}
  condition: sel
"""


class CountingDetector:
    """A minimal stateful detector: counts events per entity, alerts on the third."""

    name = "counting"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def on_event(self, event: EcsEvent, hits):  # noqa: ANN001, ANN201 - the Detector protocol
        key = event.entity()
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] != 3:
            return []
        return [AlertDraft(
            rule=RuleRef(id="count3", title="Third event", kind=DetectorKind.POLICY), severity=Severity.LOW,
            entity=EntityRef.parse(key), dedup_key=f"count3|{key}", first_seen=event.timestamp,
            last_seen=event.timestamp, summary=Summary.model_validate({"en": "3", "zh-CN": "3"}),
        )]  # fmt: skip

    def on_tick(self, now):  # noqa: ANN001, ANN201
        return []

    def snapshot(self):  # noqa: ANN201
        return _Counts(counts=self.counts)

    def restore(self, state) -> None:  # noqa: ANN001
        self.counts = dict(_Counts.model_validate(state).counts)


from pydantic import BaseModel  # noqa: E402


class _Counts(BaseModel):
    counts: dict[str, int]


def test_checkpoint_round_trip_restores_detectors_and_alerting(tmp_path: Path) -> None:
    engine = SigmaEngine.from_texts({"r.yml": RULE_YAML})
    settings = AlertingSettings()
    pipeline = DetectionPipeline.build(engine, settings, AlertOrigin.STREAM, lambda: [CountingDetector()])
    clock = FakeClock()
    failed = [event(T0 + timedelta(seconds=i)) for i in range(2)]
    for ev in failed:
        ev.event.outcome = "failure"
        ev.event.dataset = "system.auth"
        pipeline.on_event(ev, clock())
    assert list(pipeline.alerting.state.open) == ["7d3e5b58-0000-4000-8000-000000000001|user:alice"]
    store = CheckpointStore(tmp_path, "group")
    store.save(Checkpoint(group="group", topic="vigil.events", partition=2, offset=42, written_at=clock(),
                          state=pipeline.snapshot()))  # fmt: skip
    loaded = store.load("vigil.events", 2)
    assert loaded is not None and loaded.offset == 42
    assert store.load("vigil.events", 1) is None
    again = DetectionPipeline.build(engine, settings, AlertOrigin.STREAM, lambda: [CountingDetector()])
    again.restore(loaded.state)
    assert again.snapshot() == pipeline.snapshot() == PipelineState.model_validate(loaded.state.model_dump())
    third = event(T0 + timedelta(seconds=3))
    alerts = again.on_event(third, clock())
    assert [a.rule.id for a in alerts] == ["count3"]  # the restored count (2) + this event
    [sigma] = again.on_tick(clock())  # the restored Sigma alert had a pending merge
    assert sigma.event_count == 2
    (tmp_path / "group" / "vigil.events-2.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable"):
        store.load("vigil.events", 2)


class RaisingDetector(CountingDetector):
    name = "raising"

    def on_event(self, event: EcsEvent, hits):  # noqa: ANN001, ANN201
        raise RuntimeError("bug in a detector")


def test_a_raising_detector_is_counted_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    engine = SigmaEngine.from_texts({"r.yml": RULE_YAML})
    metrics: Counter[str] = Counter()
    pipeline = DetectionPipeline.build(
        engine, AlertingSettings(), AlertOrigin.STREAM, lambda: [RaisingDetector(), CountingDetector()], metrics
    )
    alerts = [a for i in range(3) for a in pipeline.on_event(event(T0 + timedelta(seconds=i)), FakeClock()())]
    assert [a.rule.id for a in alerts] == ["count3"]
    assert metrics["detector_errors"] == metrics["detector_errors.raising"] == 3 and metrics["events"] == 3
    assert "detector raising raised" in caplog.text


def test_detector_names_must_be_unique() -> None:
    engine = SigmaEngine.from_texts({"r.yml": RULE_YAML})
    with pytest.raises(ValueError, match="unique"):
        DetectionPipeline.build(engine, AlertingSettings(), AlertOrigin.STREAM, lambda: [CountingDetector()] * 2)


def test_a_rule_flooding_on_every_partition_raises_one_flood_alert_and_about_the_cap_in_all() -> None:
    """Three partition pipelines share a cap of 9 (3 each); their floods have one id, which the alert
    store's merge (`latest_versions`) turns into ONE meta-alert for the window."""
    clock = FakeClock()
    pipelines = [alerting(rate_cap=9, rate_window=3600, partitions=3) for _ in range(3)]
    out = [a for p, engine in enumerate(pipelines) for i in range(50)
           for a in feed(engine, T0 + timedelta(seconds=i + 7 * p), clock, user=f"p{p}-u{i}")]  # fmt: skip
    out += [a for engine in pipelines for a in engine.on_tick(clock.advance(seconds=2))]
    assert Counter(a.rule.id for a in out if a.rule.id == RULE)[RULE] == 9  # the cap, across partitions
    floods = [a for a in out if a.rule.id == FLOOD_RULE_ID]
    assert len(floods) >= 3 and len({a.id for a in floods}) == 1
    stored = latest_versions(a.model_dump_json(by_alias=True).encode() for a in out)
    assert sum(a.rule.id == FLOOD_RULE_ID for a in stored.values()) == 1
    # After a quiet window, a new flood: a new meta-alert (another window, another id).
    later = [a for i in range(5) for a in feed(pipelines[0], T0 + timedelta(hours=3, seconds=i), clock, user=f"n{i}")]
    assert [a.rule.id for a in later] == [RULE] * 3 + [FLOOD_RULE_ID] and later[-1].id not in {f.id for f in floods}


def test_one_partition_alone_is_capped_at_its_share() -> None:
    clock = FakeClock()
    engine = alerting(rate_cap=100, rate_window=3600, partitions=3)
    out = [a for i in range(40) for a in feed(engine, T0 + timedelta(seconds=i), clock, user=f"u{i}")]
    assert [a.rule.id for a in out] == [RULE] * 34 + [FLOOD_RULE_ID]  # ceil(100 / 3)
