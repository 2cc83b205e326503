"""`vigil.events` + `vigil.deadletter` → Elasticsearch, effectively once.

Each document is written with `op_type=create` and its deterministic `_id`: a replayed batch
meets 409 conflicts, which count as success, and an indexed log line can never be
overwritten through this path. Kafka offsets are committed only after Elasticsearch
acknowledged the whole batch; while Elasticsearch is unreachable the batch is retried with
backoff and nothing is committed.

Between the acknowledgement and the commit, the integrity ledger records the batch
(`core.ledger`): per daily `logs-*` index and `vigil.events` partition, the digests of the
documents stored. A document that met 409 (a redelivery) is recorded with the digest of what
Elasticsearch holds, read back, so a redelivered batch never looks like tampering.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaConsumer

from core import clients
from core.canonical import CANONICAL_FORM, CanonicalJson, doc_sha256, json_sha256
from core.clients import commit, poll_batches
from core.index_templates import install_templates
from core.ledger_store import LedgerDoc, LedgerWriter
from core.names import CANONICAL_HEADER, ID_HEADER, INDEX_HEADER, Topic, deadletter_index, logs_index
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
    document (event.ingested set, canonical form) and goes to Elasticsearch untouched: decoding and re-encoding
    ~1 KB of JSON per event was a third of the indexer's CPU. Otherwise it is completed here.
    """
    routing = dict(headers)
    index, doc_id = routing.get(INDEX_HEADER), routing.get(ID_HEADER)
    if index and doc_id:
        # Marked canonical by the normaliser: the ledger digest is then the SHA-256 of these bytes.
        body = CanonicalJson(value) if routing.get(CANONICAL_HEADER) == CANONICAL_FORM else value
        return index.decode(), doc_id.decode(), body
    doc = json.loads(value)
    ts = _parse_time(doc["@timestamp"])
    if topic == Topic.DEADLETTER.value:
        return deadletter_index(ts), doc["id"], doc
    doc.setdefault("event", {})["ingested"] = doc["event"].get("ingested") or datetime.now(UTC).isoformat()
    return logs_index(doc["vigil"]["category"], ts), doc["event"]["id"], doc


class BulkResult(NamedTuple):
    rejected: list[tuple[int, str]]  # (position, reason) of documents Elasticsearch refused for good
    existing: list[int]  # positions that met 409: the document was stored before (a redelivery)


def index_batch(es: Elasticsearch, docs: list[Doc]) -> list[tuple[int, str]]:
    """Bulk-create; returns (position, reason) of documents Elasticsearch rejected for good.

    Raises TransportError / ApiError for failures worth retrying (outage, overload).
    """
    return bulk_create(es, docs).rejected


def bulk_create(es: Elasticsearch, docs: list[Doc]) -> BulkResult:
    operations: list[Body] = []
    for index, doc_id, doc in docs:
        operations.append({"create": {"_index": index, "_id": doc_id}})
        operations.append(doc)  # bytes pass through the client's NDJSON serializer as they are
    # The stubs say mappings only; the NDJSON serializer takes bytes lines too (sent as they are).
    response = es.bulk(operations=operations, refresh=False, filter_path=BULK_RESPONSE_FIELDS)  # type: ignore[arg-type]
    result = BulkResult([], [])
    if not response.get("errors"):
        return result
    for position, item in enumerate(response["items"]):
        outcome = item["create"]
        status = outcome.get("status", 500)
        if status < 300:
            continue
        if status == 409:
            result.existing.append(position)
        elif status in RETRYABLE_STATUS:
            raise TransportError(f"bulk item {outcome.get('_id')} failed with {status}: retry the batch")
        else:
            result.rejected.append((position, json.dumps(outcome.get("error"))[:2000]))
    return result


def ledger_docs(
    es: Elasticsearch, docs: list[Doc], chains: Sequence[str | None], result: BulkResult
) -> list[LedgerDoc]:
    """What the ledger records of an acknowledged bulk: every `logs-*` document of `vigil.events`
    (chain: its partition) that Elasticsearch holds, with the digest of the stored version."""
    refused = {position for position, _ in result.rejected}
    existing = set(result.existing)
    recorded: list[LedgerDoc] = []
    read_back: dict[str, dict[str, str]] = defaultdict(dict)  # index → id → chain
    for position, ((index, doc_id, body), chain) in enumerate(zip(docs, chains, strict=True)):
        if chain is None or position in refused or not index.startswith("logs-"):
            continue
        if position in existing:
            read_back[index][doc_id] = chain
        else:
            digest = json_sha256(body) if isinstance(body, bytes) else doc_sha256(body)
            recorded.append(LedgerDoc(index, chain, doc_id, digest))
    for index, wanted in read_back.items():
        for found in es.mget(index=index, ids=list(wanted))["docs"]:
            if found.get("found"):
                recorded.append(LedgerDoc(index, wanted[found["_id"]], found["_id"], doc_sha256(found["_source"])))
    return recorded


class Indexer:
    def __init__(self, settings: Settings, es: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.es = es or clients.es_client(settings)
        self.stop_event = threading.Event()
        self.indexed = 0
        self.retries = 0
        writer = f"{socket.gethostname()}:{os.getpid()}"
        self.ledger = LedgerWriter(self.es, writer) if settings.ledger else None

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
                result = self._index_until_acknowledged(consumer, docs)
                if self.ledger is not None:
                    self._record_in_ledger(consumer, self.ledger, records, docs, result)
                commit(consumer)
                self.indexed += len(docs)
        finally:
            consumer.close()

    def _index_until_acknowledged(self, consumer: KafkaConsumer, docs: list[Doc]) -> BulkResult:
        result: BulkResult = self._wait_for_es(lambda: bulk_create(self.es, docs), consumer)
        if result.rejected:
            # A document Elasticsearch refuses (mapping conflict...) is kept in the dead-letter index.
            letters = [self._rejected_letter(docs[pos], reason) for pos, reason in result.rejected]
            still = self._wait_for_es(lambda: index_batch(self.es, letters), consumer)
            for pos, reason in still:
                log.error("dead letter %s rejected by Elasticsearch: %s", letters[pos][1], reason)
        return result

    def _record_in_ledger(
        self, consumer: KafkaConsumer, ledger: LedgerWriter, records: list[Any], docs: list[Doc], result: BulkResult
    ) -> None:
        events = Topic.EVENTS.value
        chains = [f"p{r.partition}" if r.topic == events else None for r in records]
        self._wait_for_es(lambda: ledger.record(ledger_docs(self.es, docs, chains, result)), consumer)

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
