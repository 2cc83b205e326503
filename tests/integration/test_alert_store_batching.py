"""The alert store batches a burst of `vigil.alerts` messages into one bulk (`alert_store_fill_ms`) and
keeps every alert exactly once, repeats merged, offsets committed only once Elasticsearch acknowledged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import ApiError, Elasticsearch
from kafka import KafkaConsumer, TopicPartition

from core import clients
from core.index_templates import install_templates
from core.models.alert import Alert, AlertDraft, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import AlertStore, AlertStoreError
from tests.integration.events_support import start_group_at_end, topic_end_offsets

pytestmark = pytest.mark.integration

RULE = RuleRef(id="vigil-test-batching", title="Batching test", kind=DetectorKind.POLICY, version=None)


def burst(tag: str, count: int) -> list[Alert]:
    """`count` new alerts, one user each (spread over the partitions), one event each."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    alerts = []
    for i in range(count):
        entity = EntityRef(kind="user", value=f"{tag}-{i}")
        draft = AlertDraft(rule=RULE, severity=Severity.MEDIUM, entity=entity, dedup_key=entity.key,
                           event_ids=[f"{tag}-event-{i}-0"], event_count=1, first_seen=start, last_seen=start,
                           summary=Summary(en=f"test {i}", zh=f"测试 {i}"))  # fmt: skip
        alerts.append(Alert.of(draft, origin=AlertOrigin.STREAM))
    return alerts


def grown(alert: Alert) -> Alert:
    """The same alert one event later (a suppression merge the detector emits on its tick)."""
    later = {"event_ids": [*alert.event_ids, alert.event_ids[0][:-1] + "1"], "event_count": 2,
             "last_seen": alert.last_seen + timedelta(seconds=30)}  # fmt: skip
    return alert.model_copy(update=later)


def produce(settings: Settings, alerts: list[Alert]) -> None:
    producer = clients.producer(settings)
    for alert in alerts:
        value = alert.model_dump_json(by_alias=True, exclude_none=True).encode()
        producer.send(Topic.ALERTS.value, key=alert.entity.key.encode(), value=value)
    producer.flush()
    producer.close()


def committed(settings: Settings, group: str) -> dict[int, int | None]:
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(Topic.ALERTS.value) or ())
        return {p: consumer.committed(TopicPartition(Topic.ALERTS.value, p)) for p in partitions}
    finally:
        consumer.close()


def stored(es: Elasticsearch, tag: str) -> dict[str, dict]:
    es.indices.refresh(index=ALERTS_INDEX)
    query = {"bool": {"filter": [{"term": {"rule.id": RULE.id}}, {"prefix": {"entity.value": f"{tag}-"}}]}}
    hits = es.search(index=ALERTS_INDEX, size=1000, query=query)["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def store_settings(settings: Settings, group: str, fill_ms: int) -> Settings:
    clients.ensure_topics(settings)
    start_group_at_end(settings, group, Topic.ALERTS.value)  # not the alerts earlier tests left on the topic
    return settings.model_copy(update={"alerts_group": group, "alert_store_fill_ms": fill_ms})


def test_a_burst_is_one_bulk_and_every_alert_is_stored_once_merged(settings) -> None:
    settings = store_settings(settings, "alerts-batching-burst", fill_ms=1000)
    alerts = burst("burst", 40)
    repeats = [grown(a) for a in alerts[:10]]
    produce(settings, alerts + repeats)
    store = AlertStore(settings)
    store.run(idle_exit_s=3)
    # One poll filled for up to a second took the whole burst: one bulk, each alert once (repeats merged).
    assert store.metrics == {"messages": 50, "alerts_written": 40, "bulks": 1, "retries": 0}
    docs = stored(Elasticsearch(settings.es_url), "burst")
    assert set(docs) == {a.id for a in alerts}
    for alert in alerts:
        doc, grew = docs[alert.id], alert.id in {r.id for r in repeats}
        assert doc["event_count"] == (2 if grew else 1)
        assert doc["event_ids"] == (grown(alert) if grew else alert).event_ids
    assert committed(settings, settings.alerts_group) == topic_end_offsets(settings, Topic.ALERTS.value)


def test_nothing_is_committed_before_elasticsearch_acknowledged_the_batch(settings) -> None:
    settings = store_settings(settings, "alerts-batching-refused", fill_ms=200)
    es = Elasticsearch(settings.es_url)
    install_templates(es, settings)
    if not es.indices.exists(index=ALERTS_INDEX):
        es.indices.create(index=ALERTS_INDEX)
    before = committed(settings, settings.alerts_group)
    alerts = burst("refused", 25)
    produce(settings, alerts)
    es.indices.add_block(index=ALERTS_INDEX, block="write")
    try:
        with pytest.raises((AlertStoreError, ApiError)):  # a write block is refused for good, not retried
            AlertStore(settings).run(idle_exit_s=3)
    finally:
        es.indices.put_settings(index=ALERTS_INDEX, settings={"index.blocks.write": False})
    assert committed(settings, settings.alerts_group) == before  # the refused batch is read again
    assert stored(es, "refused") == {}
    store = AlertStore(settings)
    store.run(idle_exit_s=3)
    assert store.metrics["alerts_written"] == 25
    assert set(stored(es, "refused")) == {a.id for a in alerts}
    assert committed(settings, settings.alerts_group) == topic_end_offsets(settings, Topic.ALERTS.value)
