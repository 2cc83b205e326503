"""The stream detection worker: `vigil.events` → detection pipeline → `vigil.alerts` (keyed by entity).

consume → evaluate (Sigma, detectors, alerting) → produce → [tick] → flush → checkpoint → commit.

Each assigned partition has its own `DetectionPipeline` (the events of one entity share a partition,
so per-entity state lives in one pipeline). This is the partition lane (`vigil workers --role
detectors`); the detectors keyed by anything else run in the global lane, `detectors/stream_global.py`.

Delivery: alerts are produced, the producer is flushed (Kafka acknowledged them), THEN the partition's
state is checkpointed together with the next offset, THEN offsets are committed. On assignment the
worker restores the checkpoint and seeks to its offset, so after a crash it re-reads exactly the
events whose effects the state does not hold yet: nothing is counted twice or lost, and the alerts it
re-emits carry the same ids (the store merges them).

Rule state: the worker reads `vigil-rule-state` at start and every `rule_state_refresh_s`
(`detectors/rule_state.py`); the partition lane, which holds every rule, then stores the rules
summary the patrol record shows (loaded, skipped by reason, disabled).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, TransportError
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from core import clients
from core.errors import ConfigError, VigilError
from core.models.alert import Alert, AlertOrigin
from core.models.ecs import EcsEvent
from core.names import Topic
from core.settings import Settings
from detectors.checkpoint import Checkpoint, CheckpointStore
from detectors.pipeline import DetectionPipeline, DetectorFactory, alerting_settings, no_detectors, rule_index
from detectors.rule_state import RuleSwitch, rules_summary, store_rules_summary
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.loader import LoadedRules, load_rules

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
REPORT_EVERY_S = 60.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def load_configured_rules(settings: Settings) -> LoadedRules:
    """Parse the configured rule dirs. A worker without rules would run and never alert: no rule dir,
    or a missing one, is a config error."""
    missing = [str(d) for d in settings.sigma_rule_dirs if not d.exists()]
    if not settings.sigma_rule_dirs or missing:
        raise ConfigError(f"Sigma rule directories missing: {missing or 'none configured'}; "
                          "set VIGIL_SIGMA_RULE_DIRS to a JSON list of SigmaHQ rule folders")  # fmt: skip
    return load_rules(list(settings.sigma_rule_dirs))


def build_engine(settings: Settings, loaded: LoadedRules | None = None) -> SigmaEngine:
    """Compile the configured rules (parsed here unless `loaded` is given) once, then freeze them out of
    the cyclic GC's scans."""
    engine = SigmaEngine.from_loaded(loaded or load_configured_rules(settings))
    gc.collect()
    gc.freeze()
    report = engine.report()
    log.info("sigma rules: %d loaded, %d skipped %s", report.loaded, report.skipped, report.skipped_by_reason)
    return engine


class AlertDeliveryError(VigilError):
    """Kafka did not acknowledge alerts: nothing is checkpointed past them."""


class StreamWorker:
    def __init__(
        self,
        settings: Settings,
        engine: SigmaEngine,
        detectors: DetectorFactory = no_detectors,
        clock: Clock = utc_now,
        store: CheckpointStore | None = None,
        *,
        sigma_alerts: bool = True,
        switch: RuleSwitch | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.detectors = detectors
        self.clock = clock
        self.sigma_alerts = sigma_alerts  # False in the global lane: single-event alerts come from this lane
        self.store = store or CheckpointStore(settings.checkpoint_dir(), settings.detectors_group)
        # The partition lane's pipelines share each rule's rate cap (see `detectors/alerting.py`).
        shares = settings.kafka_partitions if sigma_alerts else 1
        self.alerting = alerting_settings(settings).model_copy(update={"partitions": shares})
        self.rules = rule_index(engine)
        self.es = clients.es_client(settings)  # connects on first use
        self.switch = switch or RuleSwitch.of(self.es, settings.rule_state_refresh_s)
        self.stop_event = threading.Event()
        self.metrics: Counter[str] = Counter()
        self.pipelines: dict[TopicPartition, DetectionPipeline] = {}
        self.offsets: dict[TopicPartition, int] = {}  # next offset to read, per owned partition
        self._saved: dict[TopicPartition, int] = {}  # offset of the last checkpoint written
        self._consumer: KafkaConsumer | None = None
        self._producer: KafkaProducer | None = None
        self._pending: list[Any] = []  # send futures since the last flush

    # --- the loop -------------------------------------------------------------------------------------

    def run(self, idle_exit_s: float | None = None) -> None:
        clients.ensure_topics(self.settings)
        self._producer = clients.producer(self.settings)
        self._consumer = self._connect()
        self.refresh_rule_state(force=True)
        idle, last_tick, last_checkpoint, last_report = 0.0, time.monotonic(), time.monotonic(), time.monotonic()
        try:
            while not self.stop_event.is_set():
                batch = self._consumer.poll(timeout_ms=500, max_records=self.settings.batch_size)
                for tp, records in batch.items():
                    self._process(tp, records)
                # Idle only counts once partitions are assigned: joining after a crashed member can take
                # a whole session timeout, and that is not "no more events".
                idle = 0.0 if batch or not self._consumer.assignment() else idle + 0.5
                if time.monotonic() - last_tick >= self.settings.detector_tick_s or not batch:
                    self.tick()
                    last_tick = time.monotonic()
                if not batch or time.monotonic() - last_checkpoint >= self.settings.checkpoint_interval_s:
                    self.checkpoint()
                    last_checkpoint = time.monotonic()
                if self.switch.due():
                    self.refresh_rule_state()
                if time.monotonic() - last_report >= REPORT_EVERY_S:
                    self.report()
                    last_report = time.monotonic()
                if idle_exit_s is not None and idle >= idle_exit_s:
                    break
            self.tick()
            self.checkpoint(force=True)
            self.report()
        finally:
            self._consumer.close()  # first: leaving the group may revoke (and checkpoint) through the producer
            self._producer.close()

    def _connect(self) -> KafkaConsumer:
        """Join the consumer group: the listener opens (restores, seeks) each partition assigned."""
        return clients.consumer(
            self.settings, self.settings.detectors_group, Topic.EVENTS.value, listener=_Listener(self)
        )

    def _pipeline_for(self, tp: TopicPartition) -> DetectionPipeline:
        return self.pipelines[tp]  # opened (restored, seeked) by the listener on assignment

    def _process(self, tp: TopicPartition, records: list[object]) -> None:
        pipeline = self._pipeline_for(tp)
        now = self.clock()
        offsets = self.offsets
        for record in records:
            offset = record.offset  # type: ignore[attr-defined]
            event = self._decode(record.value, tp, offset)  # type: ignore[attr-defined]
            if event is not None and (alerts := self._evaluate(pipeline, event, now, tp, offset)):
                self._send(alerts)
            offsets[tp] = offset + 1

    def _evaluate(
        self, pipeline: DetectionPipeline, event: EcsEvent, now: datetime, tp: TopicPartition, offset: int
    ) -> list[Alert]:
        """Rule and detector errors are handled inside the pipeline; anything else raised here is a bug in
        Vigil's alerting, and one poison event must not crash-loop the worker: counted, logged, skipped."""
        try:
            return pipeline.on_event(event, now)
        except Exception:  # noqa: BLE001 - see the docstring
            self.metrics["pipeline_errors"] += 1
            log.exception("detection pipeline failed on event %s (%s:%d@%d)", event.event.id, tp.topic, tp.partition,
                          offset)  # fmt: skip
            return []

    def _decode(self, value: bytes, tp: TopicPartition, offset: int) -> EcsEvent | None:
        try:
            return EcsEvent.model_validate_json(value)
        except ValidationError as exc:  # the normaliser validated it: a producer outside Vigil wrote this
            self.metrics["invalid_events"] += 1
            log.error("%s:%d@%d is not an ECS event, skipped: %s", tp.topic, tp.partition, offset, exc.errors()[0])
            return None

    def refresh_rule_state(self, *, force: bool = False) -> None:
        """Re-read which rules are off; on start and on a change, the lane holding every rule
        (`sigma_alerts`) stores the rules summary (a failed write is logged: detection goes on)."""
        changed = self.switch.refresh(force=force)
        if not self.sigma_alerts or not (changed or force):
            return
        try:
            store_rules_summary(self.es, self.settings, rules_summary(self.engine, self.switch.disabled, self.clock()))
        except (ApiError, TransportError) as exc:
            log.warning("rules summary not stored (%s); the patrol record shows the previous one", exc)

    def report(self) -> None:
        """The counters, and the rules that raised (the engine logged each one's first error)."""
        failing = self.engine.error_counts.most_common(5)
        log.info("stream detectors: %s; failing rules: %s", dict(self.metrics), failing or "none")

    def tick(self) -> None:
        now = self.clock()
        for pipeline in self.pipelines.values():
            self._send(pipeline.on_tick(now))

    def _send(self, alerts: list[Alert]) -> None:
        assert self._producer is not None
        for alert in alerts:
            value = alert.model_dump_json(by_alias=True, exclude_none=True).encode()
            self._pending.append(self._producer.send(Topic.ALERTS.value, key=alert.entity.key.encode(), value=value))
            self.metrics["alerts_sent"] += 1

    # --- checkpoints ----------------------------------------------------------------------------------

    def checkpoint(
        self, partitions: list[TopicPartition] | None = None, *, force: bool = False, commit: bool = True
    ) -> None:
        """Flush alerts, then write the state + next offset of each partition that moved, then commit.

        `force` also writes partitions without new events (on shutdown and revocation), so the state a
        tick changed is kept; otherwise a restart merely re-emits the same alert versions. `commit=False`
        inside the rebalance listener, where kafka-python cannot block on a commit: the checkpoint is the
        resume position anyway, and the next owner commits it with its own next checkpoint."""
        assert self._producer is not None and self._consumer is not None
        targets = [tp for tp in (partitions or list(self.pipelines)) if tp in self.offsets]
        moved = [tp for tp in targets if force or self._saved.get(tp) != self.offsets[tp]]
        if not moved:
            return
        self._flush()
        now = self.clock()
        for tp in moved:
            state = self.pipelines[tp].snapshot()
            self.store.save(Checkpoint(group=self.settings.detectors_group, topic=tp.topic, partition=tp.partition,
                                       offset=self.offsets[tp], written_at=now, state=state))  # fmt: skip
            self._saved[tp] = self.offsets[tp]
        self.metrics["checkpoints"] += len(moved)
        if not commit:
            return
        offsets = {tp: OffsetAndMetadata(self.offsets[tp], "", -1) for tp in moved}
        try:
            self._consumer.commit(offsets)
        except Exception as exc:  # noqa: BLE001 - the checkpoint, not the commit, is where we resume
            log.warning("offset commit failed (%s); the checkpoints hold the resume positions", exc)

    def _flush(self) -> None:
        """Wait until Kafka acknowledged every alert sent; one refused means no checkpoint (the worker
        stops and its restart re-emits from the last checkpoint) rather than an alert lost silently."""
        assert self._producer is not None
        self._producer.flush()
        failed = [f for f in self._pending if f.failed()]
        self._pending = []
        if failed:
            raise AlertDeliveryError(f"{len(failed)} alert(s) not acknowledged by Kafka: {failed[0].exception}")

    def _open(self, tp: TopicPartition) -> DetectionPipeline:
        pipeline = self._new_pipeline()
        saved = self.store.load(tp.topic, tp.partition)
        if saved is not None:
            pipeline.restore(saved.state)
            self.offsets[tp] = self._saved[tp] = saved.offset
            if self._consumer is not None:
                self._consumer.seek(tp, saved.offset)
            self.metrics["partitions_restored"] += 1
            log.info("partition %s-%d restored from its checkpoint at offset %d", tp.topic, tp.partition, saved.offset)
        self.pipelines[tp] = pipeline
        return pipeline

    def _new_pipeline(self) -> DetectionPipeline:
        return DetectionPipeline.build(self.engine, self.alerting, AlertOrigin.STREAM, self.detectors, self.metrics,
                                       self.rules, sigma_alerts=self.sigma_alerts, switch=self.switch)  # fmt: skip

    def _revoke(self, partitions: list[TopicPartition]) -> None:
        owned = [tp for tp in partitions if tp in self.pipelines]
        if owned and self._producer is not None:
            self.checkpoint(owned, force=True, commit=False)
        self.metrics["partitions_revoked"] += len(owned)
        for tp in owned:
            del self.pipelines[tp]
            self.offsets.pop(tp, None)
            self._saved.pop(tp, None)


class _Listener(ConsumerRebalanceListener):
    """Checkpoint partitions before they go, restore them (and seek) when they come."""

    def __init__(self, worker: StreamWorker) -> None:
        self.worker = worker

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.worker._revoke(list(revoked))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        for tp in assigned:
            if tp not in self.worker.pipelines:
                self.worker._open(tp)
