"""Real attack events through the real stack: `vigil.events` → stream detection worker → `vigil.alerts`
→ alert store → `vigil-alerts`, exactly once, across a kill -9 of the worker, triage untouched.

The expected alerts come from the forensic replay of the same events (the same pipeline code): the
stream must store exactly those, with the same ids, counts and event ids. The rule set is the Windows
built-in rules (Security/System/...): enough for the events used, quick to load in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel

from core.models.alert import Alert, AlertDraft, AlertOrigin, AlertStatus
from core.models.ecs import EcsEvent
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import AlertStore, latest_versions, write_alerts
from detectors.base import SigmaHit
from detectors.checkpoint import CheckpointStore
from detectors.pipeline import DetectionPipeline, alerting_settings
from detectors.replay import replay
from detectors.sigma import SigmaEngine
from detectors.stream import StreamWorker
from ingest.collectors.file_import import iter_file_envelopes
from ingest.normaliser import normalise
from tests.datasets import dataset
from tests.integration.events_support import produce_events, topic_end_offsets

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FOLDER = ("attack", "mdecrevoisier", "TA0005-Defense Evasion", "T1070.001-Clear Windows event logs")
TRIAGE = {"status": "acknowledged", "assignee": "officer-wang",
          "history": [{"at": "2026-03-02T08:00:00Z", "by": "officer-wang", "status": "acknowledged",
                       "comment": "log clearing during maintenance? checking"}]}  # fmt: skip


def rule_dirs() -> list[Path]:
    return [dataset("sigma", "rules", "windows", "builtin")]


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.from_paths(rule_dirs())


@pytest.fixture(scope="module")
def events() -> list[EcsEvent]:
    out = []
    for path in sorted(dataset(*FOLDER).rglob("*.jsonl")):
        for envelope in iter_file_envelopes(path, source=f"detect-{path.name}", fmt="windows"):
            event = normalise(envelope, ZoneInfo("UTC"))
            assert isinstance(event, EcsEvent), event
            out.append(event)
    assert len(out) > 100
    return out


@pytest.fixture(scope="module")
def expected(engine: SigmaEngine, events: list[EcsEvent]) -> dict[str, Alert]:
    pipeline = DetectionPipeline.build(engine, alerting_settings(Settings()), AlertOrigin.REPLAY)
    alerts = replay(((Path("x"), e) for e in events), pipeline).alerts
    assert {a.rule.id for a in alerts} >= {
        "d99b79d2-0a6f-4f46-ad8b-260b6e17f982",
        "a62b37e0-45d3-48d9-a517-90c1a1b0186b",
    }
    assert max(a.event_count for a in alerts) > 50  # a burst merged into one alert
    return {a.id: a for a in alerts}


def detect_settings(settings: Settings, tag: str) -> Settings:
    return settings.model_copy(update={
        "detectors_group": f"det-{tag}", "alerts_group": f"alerts-{tag}", "sigma_rule_dirs": rule_dirs(),
        "detector_tick_s": 0.5, "checkpoint_interval_s": 0.0,
    })  # fmt: skip


def run_store(settings: Settings) -> AlertStore:
    store = AlertStore(settings)
    store.run(idle_exit_s=6)
    return store


def stored(es: Elasticsearch, events: list[EcsEvent]) -> dict[str, dict]:
    """Every stored alert that holds one of these events."""
    es.indices.refresh(index=ALERTS_INDEX)
    ids = [e.event.id for e in events]
    hits = es.search(index=ALERTS_INDEX, size=1000, query={"terms": {"event_ids": ids}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def assert_same_alerts(docs: dict[str, dict], expected: dict[str, Alert]) -> None:
    assert set(docs) == set(expected)
    for alert_id, alert in expected.items():
        doc = docs[alert_id]
        assert doc["rule"]["id"] == alert.rule.id and doc["entity"] == alert.entity.model_dump()
        assert doc["event_count"] == alert.event_count, alert.rule.title
        assert doc["event_ids"] == alert.event_ids
        assert doc["origin"] == "stream" and doc["dedup_key"] == alert.dedup_key
        assert doc["summary"] == alert.to_document()["summary"] and doc["severity"] == alert.severity.value


def test_attack_events_become_alerts_stored_exactly_once(settings, events, engine, expected) -> None:
    settings = detect_settings(settings, "once")
    produce_events(settings, events)
    worker = StreamWorker(settings, engine)
    thread = threading.Thread(target=worker.run, kwargs={"idle_exit_s": 6})
    thread.start()
    thread.join(timeout=300)
    assert worker.metrics["events"] >= len(events) and worker.metrics["rule_errors"] == 0
    run_store(settings)
    es = Elasticsearch(settings.es_url)
    docs = stored(es, events)
    assert_same_alerts(docs, expected)
    for doc in docs.values():
        assert doc["status"] == "new" and doc["tags"] and doc["playbook"] == "audit-log-cleared"
    # The merged burst was first stored as a 1-event alert, then updated in place: one document.
    assert es.count(index=ALERTS_INDEX, query={"ids": {"values": list(expected)}})["count"] == len(expected)


def test_triage_survives_repeats_and_a_kill_minus_9_of_the_stream_worker(
    settings, events, engine, expected, tmp_path
) -> None:
    es = Elasticsearch(settings.es_url)
    if not stored(es, events):  # run alone: the first test's alerts are the starting point
        test_attack_events_become_alerts_stored_exactly_once(settings, events, engine, expected)
    triaged = max(expected.values(), key=lambda a: a.event_count).id
    es.update(index=ALERTS_INDEX, id=triaged, doc=TRIAGE, refresh=True)

    # A fresh consumer group re-reads the whole topic (the test events and whatever else the session put
    # there), one event per batch so the kill lands mid-run; it is killed at its first checkpoint.
    settings = detect_settings(settings, "kill")
    env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIL_ES_URL": settings.es_url,
           "VIGIL_DATA_DIR": str(settings.data_dir), "VIGIL_DETECTORS_GROUP": settings.detectors_group,
           "VIGIL_SIGMA_RULE_DIRS": json.dumps([str(d) for d in rule_dirs()]), "VIGIL_BATCH_SIZE": "1",
           "VIGIL_CHECKPOINT_INTERVAL_S": "0", "PYTHONPATH": str(REPO)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "workers", "--role", "detectors"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    folder = settings.checkpoint_dir() / settings.detectors_group
    deadline = time.monotonic() + 240
    while not list(folder.glob("*.json")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert list(folder.glob("*.json")), err.decode()[-3000:]

    total = topic_end_offsets(settings)
    store = CheckpointStore(settings.checkpoint_dir(), settings.detectors_group)
    resumed_at = {p: cp.offset for p in total if (cp := store.load(Topic.EVENTS.value, p)) is not None}
    assert 0 < sum(resumed_at.values()) < sum(total.values())  # killed mid-run

    restarted = StreamWorker(settings, engine)
    thread = threading.Thread(target=restarted.run, kwargs={"idle_exit_s": 6})
    thread.start()
    thread.join(timeout=300)
    # It resumed exactly at the checkpoints: every event was evaluated once by one of the two runs.
    assert restarted.metrics["events"] == sum(total.values()) - sum(resumed_at.values())

    run_store(settings.model_copy(update={"alerts_group": "alerts-kill-store"}))  # re-reads every version
    docs = stored(es, events)
    assert_same_alerts(docs, expected)
    doc = docs[triaged]
    assert (doc["status"], doc["assignee"], doc["history"]) == (TRIAGE["status"], TRIAGE["assignee"], TRIAGE["history"])


def test_store_never_shrinks_an_alert_nor_touches_triage(settings, expected) -> None:
    es = Elasticsearch(settings.es_url)
    from core.index_templates import install_templates

    install_templates(es, settings)
    alert = max(expected.values(), key=lambda a: a.event_count)
    alert = alert.model_copy(update={"id": "store-test-" + alert.id[:20], "origin": AlertOrigin.HUNT})
    first = alert.model_copy(update={"event_count": 1, "event_ids": alert.event_ids[:1], "last_seen": alert.first_seen})
    write_alerts(es, {first.id: first}, max_ids=100)
    es.update(index=ALERTS_INDEX, id=alert.id, doc=TRIAGE, refresh=True)
    write_alerts(es, {alert.id: alert}, max_ids=100)  # the grown version
    write_alerts(es, {first.id: first}, max_ids=100)  # an old version delivered again
    grown = {"event_ids": ["extra-event"], "event_count": 2, "last_seen": datetime(2030, 1, 1, tzinfo=UTC)}
    later = alert.model_copy(update={**grown, "status": AlertStatus.NEW})
    write_alerts(es, {later.id: later}, max_ids=100)  # e.g. a hunt that found one more event
    doc = es.get(index=ALERTS_INDEX, id=alert.id)["_source"]
    assert doc["event_count"] == alert.event_count + 1
    assert doc["event_ids"] == (alert.event_ids + ["extra-event"])[:100]
    assert doc["first_seen"].startswith(alert.first_seen.isoformat()[:19]) and doc["last_seen"].startswith("2030-01-01")
    assert (doc["status"], doc["assignee"], doc["history"]) == (TRIAGE["status"], TRIAGE["assignee"], TRIAGE["history"])
    assert doc["origin"] == "hunt"  # creation fields are written once
    assert doc["summary"] == later.to_document()["summary"]  # the text of the version with the most events


class SlowCounter(BaseModel):
    counts: dict[str, int] = {}


class SlowCountingDetector:
    """A stateful test detector: counts this module's events per entity, slowly (so a rebalance lands
    mid-run). Its counts, summed over the final checkpoints, must equal the events on the topic."""

    name = "slow-counter"

    def __init__(self) -> None:
        self.state = SlowCounter()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        if event.vigil.source.startswith("detect-"):
            time.sleep(0.03)
            key = event.entity()
            self.state.counts[key] = self.state.counts.get(key, 0) + 1
        return []

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        return []

    def snapshot(self) -> BaseModel:
        return self.state

    def restore(self, state: dict[str, object]) -> None:
        self.state = SlowCounter.model_validate(state)


def test_a_second_worker_joining_mid_run_repeats_and_loses_nothing(settings, events, engine, expected) -> None:
    settings = detect_settings(settings, "rebalance").model_copy(update={"batch_size": 5})
    produce_events(settings, events)  # again when the first test ran: duplicates change no alert (same event ids)
    start = topic_end_offsets(settings, Topic.ALERTS.value)
    workers = [StreamWorker(settings, engine, lambda: [SlowCountingDetector()]) for _ in range(2)]
    threads = [threading.Thread(target=w.run, kwargs={"idle_exit_s": 8}) for w in workers]
    threads[0].start()
    deadline = time.monotonic() + 120
    while workers[0].metrics["checkpoints"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    threads[1].start()
    done_before_join = sum(workers[0].offsets.values())
    for thread in threads:
        thread.join(timeout=300)
    total = topic_end_offsets(settings)
    assert done_before_join < sum(total.values())  # the second worker joined mid-run...
    assert workers[0].metrics["partitions_revoked"] > 0  # ...and the first one handed its partitions over
    assert sum(w.metrics["partitions_restored"] for w in workers) > 0
    assert sum(w.metrics["events"] for w in workers) == sum(total.values())  # each event evaluated once

    store = CheckpointStore(settings.checkpoint_dir(), settings.detectors_group)
    counted: dict[str, int] = {}
    for partition in [p for p, end in total.items() if end > 0]:
        saved = store.load(Topic.EVENTS.value, partition)
        assert saved is not None and saved.offset == total[partition]
        for key, n in SlowCounter.model_validate(saved.state.detectors["slow-counter"]).counts.items():
            counted[key] = counted.get(key, 0) + n
    on_topic = _count_module_events(settings)
    assert counted == on_topic

    emitted = latest_versions(_messages_since(settings, start))
    mine = {e.event.id for e in events}
    produced = {i: a for i, a in emitted.items() if mine & set(a.event_ids)}
    assert set(produced) == set(expected)
    for alert_id, alert in expected.items():
        assert (produced[alert_id].event_count, produced[alert_id].event_ids) == (alert.event_count, alert.event_ids)


def _count_module_events(settings: Settings) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in _messages_since(settings, {}, Topic.EVENTS.value):
        event = EcsEvent.model_validate_json(value)
        if event.vigil.source.startswith("detect-"):
            counts[event.entity()] = counts.get(event.entity(), 0) + 1
    return counts


def _messages_since(settings: Settings, start: dict[int, int], topic: str = Topic.ALERTS.value) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(parts)
        ends = consumer.end_offsets(parts)
        for tp in parts:
            consumer.seek(tp, start.get(tp.partition, 0))
        out: list[bytes] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                out += [r.value for r in records if r.offset < ends[TopicPartition(r.topic, r.partition)]]
        return out
    finally:
        consumer.close()
