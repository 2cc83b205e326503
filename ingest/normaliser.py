"""`vigil.raw` → parsers → `vigil.events` (keyed by entity) or `vigil.deadletter` (with the reason).

consume → parse → produce → flush → commit: offsets move only after Kafka acknowledged every
output record, so a worker killed at any point re-parses at most one batch, and the
deterministic ids make the repeat harmless downstream.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from core import clients
from core.canonical import CANONICAL_FORM, canonical_bytes
from core.clients import commit, poll_batches
from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.models.envelope import DeadLetter, RawEnvelope
from core.names import CANONICAL_HEADER, ID_HEADER, INDEX_HEADER, Topic, deadletter_index, logs_index
from core.settings import Settings
from ingest.parsers.base import ParseContext
from ingest.parsers.registry import parse_record

log = logging.getLogger(__name__)


def normalise(envelope: RawEnvelope, default_zone: ZoneInfo) -> EcsEvent | DeadLetter:
    """One envelope to one event, or to a dead letter that says why. Never raises for bad input."""
    ctx = ParseContext(
        source=envelope.source,
        received_at=envelope.received_at,
        zone=ZoneInfo(envelope.timezone) if envelope.timezone else default_zone,
        raw_id=envelope.id,
        category=envelope.category,
    )
    try:
        event = parse_record(envelope.raw, envelope.format, ctx)
    except ParseError as exc:
        return DeadLetter.of(envelope, "normalise", str(exc))
    except Exception as exc:  # noqa: BLE001 - a parser bug must dead-letter the line, not stop the pipeline
        log.exception("parser crashed on record %s", envelope.id)
        return DeadLetter.of(envelope, "normalise", f"parser error {type(exc).__name__}: {exc}")
    event.vigil.raw_id = envelope.id
    event.event.id = envelope.id
    return event


def decode_envelope(value: bytes, partition: int, offset: int) -> RawEnvelope | DeadLetter:
    """A message on `vigil.raw` that is not an envelope still reaches the dead-letter index."""
    try:
        return RawEnvelope.model_validate_json(value)
    except ValidationError as exc:
        raw = value.decode("utf-8", "replace")
        stub = RawEnvelope.build(source="vigil.raw", transport="cli", raw=raw, position=f"{partition}:{offset}")
        return DeadLetter.of(stub, "normalise", f"invalid envelope on vigil.raw: {exc.errors()[0]['msg']}")


Headers = list[tuple[str, bytes]]


def encode_result(result: EcsEvent | DeadLetter) -> tuple[str, bytes, bytes, Headers]:
    """(topic, key, value, headers) of one normalised record: events keyed by entity, dead letters by
    source. The headers name the document's index and id, so the indexer can send the value to
    Elasticsearch as it is instead of decoding and re-encoding it (see `indexer.bulk_actions`)."""
    if isinstance(result, DeadLetter):
        value = result.model_dump_json(by_alias=True).encode()
        index = deadletter_index(result.timestamp.astimezone(UTC))
        return Topic.DEADLETTER.value, result.source.encode(), value, _routing(index, result.id)
    # In canonical form, so the indexer's ledger digest is the SHA-256 of these bytes (`core.canonical`).
    value = canonical_bytes(result.to_document())
    key = (result.vigil.entity or "").encode()
    if result.event.id is None or result.event.ingested is None:
        return Topic.EVENTS.value, key, value, []  # the indexer completes such a document itself
    index = logs_index(result.vigil.category, result.timestamp.astimezone(UTC))
    return Topic.EVENTS.value, key, value, [*_routing(index, result.event.id), (CANONICAL_HEADER, CANONICAL_FORM)]


def _routing(index: str, doc_id: str) -> Headers:
    return [(INDEX_HEADER, index.encode()), (ID_HEADER, doc_id.encode())]


class Normaliser:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.zone = settings.zone
        self.stop_event = threading.Event()
        self.counts = {"events": 0, "deadletters": 0}

    def run(self, idle_exit_s: float | None = None) -> None:
        clients.ensure_topics(self.settings)
        consumer = clients.consumer(self.settings, self.settings.normaliser_group, Topic.RAW.value)
        producer = clients.producer(self.settings)
        try:
            for records in poll_batches(consumer, self.stop_event, self.settings.batch_size, idle_exit_s):
                self._emit(producer, (decode_envelope(r.value, r.partition, r.offset) for r in records))
                producer.flush()
                commit(consumer)
        finally:
            producer.close()
            consumer.close()

    def _emit(self, producer: object, items: Iterable[RawEnvelope | DeadLetter]) -> None:
        send = producer.send  # type: ignore[attr-defined]
        for item in items:
            result = item if isinstance(item, DeadLetter) else normalise(item, self.zone)
            topic, key, value, headers = encode_result(result)
            send(topic, key=key, value=value, headers=headers)
            self.counts["deadletters" if topic == Topic.DEADLETTER.value else "events"] += 1
