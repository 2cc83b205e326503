"""`vigil.events` + `vigil.deadletter` → Elasticsearch, effectively once.

Each document is written with `op_type=create` and its deterministic `_id`: a replayed batch
meets 409 conflicts, which count as success, and an indexed log line can never be
overwritten through this path. Kafka offsets are committed only after Elasticsearch
acknowledged the whole batch; while Elasticsearch is unreachable the batch is retried with
backoff and nothing is committed.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaConsumer

from core import clients
from core.clients import commit, poll_batches
from core.index_templates import install_templates
from core.names import Topic, deadletter_index, logs_index
from core.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def bulk_actions(topic: str, value: bytes) -> tuple[str, str, dict[str, Any]]:
    """(index, id, document) for one message of `vigil.events` or `vigil.deadletter`."""
    doc = json.loads(value)
    ts = _parse_time(doc["@timestamp"])
    if topic == Topic.DEADLETTER.value:
        return deadletter_index(ts), doc["id"], doc
    doc.setdefault("event", {})["ingested"] = doc["event"].get("ingested") or datetime.now(UTC).isoformat()
    return logs_index(doc["vigil"]["category"], ts), doc["event"]["id"], doc


def index_batch(es: Elasticsearch, docs: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[int, str]]:
    """Bulk-create; returns (position, reason) of documents Elasticsearch rejected for good.

    Raises TransportError / ApiError for failures worth retrying (outage, overload).
    """
    operations: list[dict[str, Any]] = []
    for index, doc_id, doc in docs:
        operations.append({"create": {"_index": index, "_id": doc_id}})
        operations.append(doc)
    response = es.bulk(operations=operations, refresh=False)
    rejected: list[tuple[int, str]] = []
    if not response.get("errors"):
        return rejected
    for position, item in enumerate(response["items"]):
        result = item["create"]
        status = result.get("status", 500)
        if status < 300 or status == 409:
            continue
        if status in RETRYABLE_STATUS:
            raise TransportError(f"bulk item {result.get('_id')} failed with {status}: retry the batch")
        rejected.append((position, json.dumps(result.get("error"))[:2000]))
    return rejected


class Indexer:
    def __init__(self, settings: Settings, es: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.es = es or clients.es_client(settings)
        self.stop_event = threading.Event()
        self.indexed = 0
        self.retries = 0

    def run(self, idle_exit_s: float | None = None) -> None:
        clients.ensure_topics(self.settings)
        self._wait_for_es(lambda: install_templates(self.es, self.settings))
        consumer = clients.consumer(
            self.settings, self.settings.indexer_group, Topic.EVENTS.value, Topic.DEADLETTER.value
        )
        try:
            for records in poll_batches(consumer, self.stop_event, self.settings.batch_size, idle_exit_s):
                docs = [bulk_actions(r.topic, r.value) for r in records]
                self._index_until_acknowledged(consumer, docs)
                commit(consumer)
                self.indexed += len(docs)
        finally:
            consumer.close()

    def _index_until_acknowledged(self, consumer: KafkaConsumer, docs: list[tuple[str, str, dict[str, Any]]]) -> None:
        rejected = self._wait_for_es(lambda: index_batch(self.es, docs), consumer)
        if rejected:
            # A document Elasticsearch refuses (mapping conflict...) is kept in the dead-letter index.
            letters = [self._rejected_letter(docs[pos], reason) for pos, reason in rejected]
            still = self._wait_for_es(lambda: index_batch(self.es, letters), consumer)
            for pos, reason in still:
                log.error("dead letter %s rejected by Elasticsearch: %s", letters[pos][1], reason)

    @staticmethod
    def _rejected_letter(doc: tuple[str, str, dict[str, Any]], reason: str) -> tuple[str, str, dict[str, Any]]:
        _, doc_id, body = doc
        event = body.get("event", {})
        letter = {
            "id": doc_id,
            "@timestamp": body.get("@timestamp"),
            "stage": "index",
            "reason": f"rejected by Elasticsearch: {reason}",
            "source": body.get("vigil", {}).get("source", "unknown"),
            "transport": "kafka",
            "format": body.get("vigil", {}).get("parser", "unknown"),
            "raw": event.get("original") or json.dumps(body)[:100_000],
        }
        return deadletter_index(_parse_time(letter["@timestamp"])), doc_id, letter

    def _wait_for_es(self, call: Any, consumer: KafkaConsumer | None = None) -> Any:
        delay = 0.5
        while True:
            try:
                return call()
            except (TransportError, ApiError, ConnectionError) as exc:
                status = getattr(exc, "status_code", None) or getattr(getattr(exc, "meta", None), "status", None)
                if isinstance(exc, ApiError) and status not in RETRYABLE_STATUS:
                    raise
                self.retries += 1
                log.warning("Elasticsearch unavailable (%s); retrying in %.1fs", exc, delay)
                self._sleep(delay, consumer)
                delay = min(delay * 2, 15.0)

    def _sleep(self, seconds: float, consumer: KafkaConsumer | None) -> None:
        if consumer is None:
            time.sleep(seconds)
            return
        # Keep the group membership alive without fetching more records.
        assigned = consumer.assignment()
        consumer.pause(*assigned)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            consumer.poll(timeout_ms=200)
        consumer.resume(*assigned)
