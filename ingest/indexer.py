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
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaConsumer

from core import clients
from core.clients import commit, poll_batches
from core.index_templates import install_templates
from core.names import ID_HEADER, INDEX_HEADER, Topic, deadletter_index, logs_index
from core.settings import Settings

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {429, 500, 502, 503, 504}
# All the indexer reads of a bulk response: a 2,000-item response shrinks to a fifth to decode.
BULK_RESPONSE_FIELDS = "errors,items.*.status,items.*._id,items.*.error"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


Body = dict[str, Any] | bytes  # a document, or its JSON exactly as the normaliser wrote it
Doc = tuple[str, str, Body]


def bulk_actions(topic: str, value: bytes, headers: Sequence[tuple[str, bytes]] = ()) -> Doc:
    """(index, id, document) for one message of `vigil.events` or `vigil.deadletter`.

    When the normaliser named the index and id in the headers, the value is already the finished
    document (event.ingested set) and goes to Elasticsearch untouched: decoding and re-encoding
    ~1 KB of JSON per event was a third of the indexer's CPU. Otherwise it is completed here.
    """
    routing = dict(headers)
    index, doc_id = routing.get(INDEX_HEADER), routing.get(ID_HEADER)
    if index and doc_id:
        return index.decode(), doc_id.decode(), value
    doc = json.loads(value)
    ts = _parse_time(doc["@timestamp"])
    if topic == Topic.DEADLETTER.value:
        return deadletter_index(ts), doc["id"], doc
    doc.setdefault("event", {})["ingested"] = doc["event"].get("ingested") or datetime.now(UTC).isoformat()
    return logs_index(doc["vigil"]["category"], ts), doc["event"]["id"], doc


def index_batch(es: Elasticsearch, docs: list[Doc]) -> list[tuple[int, str]]:
    """Bulk-create; returns (position, reason) of documents Elasticsearch rejected for good.

    Raises TransportError / ApiError for failures worth retrying (outage, overload).
    """
    operations: list[Body] = []
    for index, doc_id, doc in docs:
        operations.append({"create": {"_index": index, "_id": doc_id}})
        operations.append(doc)  # bytes pass through the client's NDJSON serializer as they are
    # The stubs say mappings only; the NDJSON serializer takes bytes lines too (sent as they are).
    response = es.bulk(operations=operations, refresh=False, filter_path=BULK_RESPONSE_FIELDS)  # type: ignore[arg-type]
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
            fill_s = self.settings.bulk_fill_ms / 1000
            for records in poll_batches(consumer, self.stop_event, self.settings.batch_size, idle_exit_s, fill_s):
                docs = [bulk_actions(r.topic, r.value, r.headers) for r in records]
                self._index_until_acknowledged(consumer, docs)
                commit(consumer)
                self.indexed += len(docs)
        finally:
            consumer.close()

    def _index_until_acknowledged(self, consumer: KafkaConsumer, docs: list[Doc]) -> None:
        rejected = self._wait_for_es(lambda: index_batch(self.es, docs), consumer)
        if rejected:
            # A document Elasticsearch refuses (mapping conflict...) is kept in the dead-letter index.
            letters = [self._rejected_letter(docs[pos], reason) for pos, reason in rejected]
            still = self._wait_for_es(lambda: index_batch(self.es, letters), consumer)
            for pos, reason in still:
                log.error("dead letter %s rejected by Elasticsearch: %s", letters[pos][1], reason)

    @staticmethod
    def _rejected_letter(doc: Doc, reason: str) -> Doc:
        _, doc_id, raw_body = doc
        body: dict[str, Any] = json.loads(raw_body) if isinstance(raw_body, bytes) else raw_body
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
