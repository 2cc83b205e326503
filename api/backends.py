"""The app's connections to Kafka and Elasticsearch, created by the lifespan and kept in app state.

The Kafka producer is created on first use, not at start-up: the API must come up (and say so on
`/health`) while Kafka is down, and recover once it is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from kafka.errors import KafkaError

from api.audit import AuditTrail
from api.errors import BackendUnavailable
from core import clients
from core.models.envelope import DeadLetter, RawEnvelope
from core.names import Topic
from core.settings import Settings

log = logging.getLogger(__name__)


class Backends:
    def __init__(self, settings: Settings, es: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.es = es or clients.es_client(settings)
        self.audit = AuditTrail(self.es, settings.es_replicas)
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def producer(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                timeout_ms = int(self.settings.api_kafka_timeout_s * 1000)
                try:
                    clients.ensure_topics(self.settings)
                    self._producer = clients.producer(self.settings, max_block_ms=timeout_ms)
                except KafkaError as exc:
                    raise BackendUnavailable(f"Kafka at {self.settings.kafka_bootstrap} is unreachable: {exc}") from exc
            return self._producer

    def publish(self, items: Sequence[RawEnvelope | DeadLetter]) -> None:
        """Send envelopes to `vigil.raw` and dead letters to `vigil.deadletter`; return only when
        Kafka acknowledged every one (acks=all). Raises BackendUnavailable otherwise: the client
        must retry the batch, and the deterministic ids make the retry harmless."""
        producer = self.producer()
        futures = []
        try:
            for item in items:
                if isinstance(item, DeadLetter):
                    value = item.model_dump_json(by_alias=True).encode()
                    futures.append(producer.send(Topic.DEADLETTER.value, key=item.source.encode(), value=value))
                else:
                    value = item.model_dump_json().encode()
                    futures.append(producer.send(Topic.RAW.value, key=item.source.encode(), value=value))
            producer.flush(timeout=self.settings.api_kafka_timeout_s)
        except KafkaError as exc:
            raise BackendUnavailable(f"Kafka did not take the batch ({exc}); nothing is acknowledged: retry") from exc
        failed = [future for future in futures if not future.succeeded()]
        if failed:
            reason = failed[0].exception or "not acknowledged in time"
            raise BackendUnavailable(
                f"Kafka did not acknowledge {len(failed)} of {len(futures)} records ({reason}): retry the batch"
            )

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None
        self.es.close()
