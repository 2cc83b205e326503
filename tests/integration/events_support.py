"""Putting parsed events on `vigil.events` the way the normaliser does (same key and value encoding), and
starting a test's consumer groups after what earlier tests of the session left on the shared topics."""

from __future__ import annotations

from collections.abc import Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from core import clients
from core.models.ecs import EcsEvent
from core.names import Topic
from core.settings import Settings
from ingest.normaliser import encode_result


def produce_events(settings: Settings, events: Sequence[EcsEvent]) -> None:
    """Send and flush: the events are on the topic when this returns."""
    clients.ensure_topics(settings)
    producer = clients.producer(settings)
    for event in events:
        topic, key, value, headers = encode_result(event)
        producer.send(topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()


def topic_end_offsets(settings: Settings, topic: str = Topic.EVENTS.value) -> dict[int, int]:
    """Partition → the topic's current end offset."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def start_group_at_end(settings: Settings, group: str, topic: str) -> None:
    """Commit the group's offsets at the topic's current end: its worker then reads only what the test
    produces next, not the backlog every earlier test of the session left on the shared topic."""
    consumer = clients.consumer(settings, group)  # no topics: joins no group, commits for it
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert partitions, f"no partitions for {topic}"
        consumer.assign(partitions)
        consumer.seek_to_end(*partitions)
        consumer.commit({tp: OffsetAndMetadata(consumer.position(tp), "", -1) for tp in partitions})
    finally:
        consumer.close()


def start_indexer_at_end(settings: Settings) -> None:
    """A new group otherwise reads from the earliest offset and re-indexes every earlier test's events,
    backdated days included: that recreates indices those tests deleted, which the retention tests find."""
    clients.ensure_topics(settings)
    for topic in (Topic.EVENTS.value, Topic.DEADLETTER.value):
        start_group_at_end(settings, settings.indexer_group, topic)


def start_pipeline_at_end(settings: Settings) -> None:
    """The test's normaliser and indexer read only what the test produces next (see `start_indexer_at_end`)."""
    start_indexer_at_end(settings)
    start_group_at_end(settings, settings.normaliser_group, Topic.RAW.value)
