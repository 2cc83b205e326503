"""The one way collectors put envelopes on `vigil.raw`: keyed by source, counted, flushed in batches."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from core.models.envelope import RawEnvelope
from core.names import Topic

log = logging.getLogger(__name__)


def raw_message(envelope: RawEnvelope) -> tuple[bytes, bytes]:
    """(key, value) of an envelope on `vigil.raw`: keyed by source so one source stays in order."""
    return envelope.source.encode(), envelope.model_dump_json().encode()


class Sink(Protocol):
    """Where collectors hand envelopes; `flush` returns how many sends failed since the last flush."""

    def send(self, envelope: RawEnvelope) -> None: ...

    def flush(self) -> int: ...


@dataclass
class SinkCounts:
    sent: int = 0  # acknowledged by Kafka
    errors: int = 0  # failed after the producer's own retries


class KafkaSink:
    """Sends without waiting; `flush` blocks until Kafka acknowledged everything sent so far.

    The producer batches on its own (linger); collectors call `flush` periodically, on shutdown, and
    before they record a position (the tailer's checkpoint), never per message. A full producer buffer
    blocks `send`: that is the backpressure on the sockets and files being read.
    """

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.counts = SinkCounts()
        self._lock = threading.Lock()  # callbacks run on the producer's I/O thread
        self._failed_since_flush = 0

    def send(self, envelope: RawEnvelope) -> None:
        key, value = raw_message(envelope)
        future = self.producer.send(Topic.RAW.value, key=key, value=value)
        future.add_callback(self._on_sent)
        future.add_errback(self._on_error, envelope.id)

    def flush(self) -> int:
        self.producer.flush()
        with self._lock:
            failed, self._failed_since_flush = self._failed_since_flush, 0
        return failed

    def _on_sent(self, _metadata: object) -> None:
        with self._lock:
            self.counts.sent += 1

    def _on_error(self, record_id: str, exc: BaseException) -> None:
        log.error("record %s not delivered to %s: %s", record_id, Topic.RAW.value, exc)
        with self._lock:
            self.counts.errors += 1
            self._failed_since_flush += 1
