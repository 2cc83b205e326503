"""The global detection lane (`vigil workers --role detectors-global`): ONE pipeline over every
partition of `vigil.events`, for the detectors whose state is not keyed by the partition key.

Why a second lane and not re-keyed topics: `vigil.events` is keyed by user, else host, and that is
right for most state. The flatline (per log source), brute force and password spraying (per source
IP), IP use (per IP), removable media and violations (per host), first-seen processes (per host),
mass mail (per sender) and correlation rules (grouped by any field) need every event of *their* key,
which a per-partition pipeline does not see. Re-keying would need one more topic (and a producer
re-writing every event) per key, and the flatline would still need all of them. One consumer group of
its own, manually assigned every partition, sees every event once with no re-partitioning at all; the
cost is that the lane is one process. Its detectors are cheap per event (dict lookups; Sigma only
evaluates the rules the correlations count), so one core carries far more than the Sigma lane.
Scaling limit: past one core, split it by key into re-keyed topics (`vigil.events.by-ip`, ...),
each consumed like the partition lane; the detectors do not change, only where their events come from.

Delivery is the partition lane's: alerts flushed, THEN one checkpoint file with the pipeline state
and the next offset of every partition (`LaneCheckpoint`), THEN the offsets committed to the lane's
group. On start it restores that file and seeks every partition to its offset: a restart continues
its windows and re-emits nothing new (re-sent alert versions carry the same ids). Partitions are read
at start: partitions added to the topic later are picked up by a restart.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from core import clients
from core.errors import VigilError
from core.names import Topic
from core.settings import Settings
from detectors.checkpoint import CheckpointStore, LaneCheckpoint
from detectors.pipeline import DetectionPipeline, DetectorFactory
from detectors.sigma.engine import SigmaEngine
from detectors.stream import Clock, StreamWorker, log, utc_now

METADATA_WAIT_S = 30.0


class TopicMetadataError(VigilError):
    """The broker did not tell which partitions `vigil.events` has."""


class GlobalStreamWorker(StreamWorker):
    def __init__(
        self,
        settings: Settings,
        engine: SigmaEngine,
        detectors: DetectorFactory,
        clock: Clock = utc_now,
    ) -> None:
        group = settings.detectors_global_group
        super().__init__(settings, engine, detectors, clock, CheckpointStore(settings.checkpoint_dir(), group),
                         sigma_alerts=False)  # fmt: skip
        self.group = group
        self.pipeline = self._new_pipeline()
        self._saved_offsets: dict[TopicPartition, int] = {}

    def _connect(self) -> KafkaConsumer:
        """Assign every partition (no group membership: one owner by construction), then seek each to
        the checkpoint's offset; without a checkpoint the group's committed offsets, else the start."""
        consumer = clients.consumer(self.settings, self.group)
        topic = Topic.EVENTS.value
        deadline = time.monotonic() + METADATA_WAIT_S
        while not (partitions := consumer.partitions_for_topic(topic)):
            if time.monotonic() > deadline:
                consumer.close()
                raise TopicMetadataError(f"no partitions known for {topic} after {METADATA_WAIT_S:.0f} s")
            time.sleep(0.2)
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        saved = self.store.load_lane(topic)
        if saved is not None:
            self.pipeline.restore(saved.state)
            for tp in assigned:
                if tp.partition in saved.offsets:
                    self.offsets[tp] = self._saved_offsets[tp] = saved.offsets[tp.partition]
                    consumer.seek(tp, saved.offsets[tp.partition])
                else:  # a partition added since: all of it is new to the lane
                    consumer.seek_to_beginning(tp)
            self.metrics["partitions_restored"] += len(saved.offsets)
            log.info("global lane restored from its checkpoint at offsets %s", saved.offsets)
        self.pipelines = dict.fromkeys(assigned, self.pipeline)
        return consumer

    def _pipeline_for(self, tp: TopicPartition) -> DetectionPipeline:
        return self.pipeline

    def tick(self) -> None:
        self._send(self.pipeline.on_tick(self.clock()))

    def checkpoint(
        self, partitions: list[TopicPartition] | None = None, *, force: bool = False, commit: bool = True
    ) -> None:
        """Flush alerts, write the one lane checkpoint (state + every partition's offset), commit."""
        assert self._consumer is not None
        if not self.offsets or (not force and self._saved_offsets == self.offsets):
            return
        self._flush()
        self.store.save_lane(LaneCheckpoint(group=self.group, topic=Topic.EVENTS.value,
                                            offsets={tp.partition: o for tp, o in self.offsets.items()},
                                            written_at=self.clock(), state=self.pipeline.snapshot()))  # fmt: skip
        self._saved_offsets = dict(self.offsets)
        self.metrics["checkpoints"] += 1
        if not commit:
            return
        try:
            self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in self.offsets.items()})
        except Exception as exc:  # noqa: BLE001 - the checkpoint, not the commit, is where we resume
            log.warning("offset commit failed (%s); the lane checkpoint holds the resume positions", exc)
