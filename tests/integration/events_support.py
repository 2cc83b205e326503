"""Putting parsed events on `vigil.events` the way the normaliser does (same key and value encoding)."""

from __future__ import annotations

from collections.abc import Sequence

from core import clients
from core.models.ecs import EcsEvent
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
