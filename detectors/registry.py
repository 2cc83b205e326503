"""The stateful detectors of each detection lane, built from settings + the entity inventory.

An explicit list, built fresh for each pipeline: no registry filled by import side effects.

Lanes (see `detectors/stream_global.py` for why a second lane rather than re-keyed topics):
- **partition**: one pipeline per partition of `vigil.events` (keyed by user, else host). It runs every
  Sigma single-event rule (so each match alerts exactly once) and the detectors whose `keyed_by` is
  the partition key: `entity` or `user` (access, borrowed account, mass copy, proxy upload, spikes).
- **global**: one pipeline over all partitions. Everything else: correlation rules (all of them: a
  rule grouped by anything but the partition key, or chained to one that is, would count only a
  partition's share), flatline, brute force / spraying, IP use, removable media, violations, mass
  mail, first seen. A detector that declares no `keyed_by` is global: it is assumed to need every
  event. The global pipeline evaluates only the Sigma rules the correlations count.
- **replay**: a single process, so ONE pipeline runs all of them (`Lane` None).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from elasticsearch import ApiError, Elasticsearch, TransportError

from core.models.alert import AlertOrigin
from core.models.entity import Inventory
from core.names import ENTITIES_INDEX
from core.settings import Settings
from detectors.base import Detector
from detectors.flatline import FlatlineDetector, FlatlineSettings
from detectors.inventory import EntityIndex, load_inventory, read_entities
from detectors.pipeline import DetectionPipeline, alerting_settings
from detectors.policy import PolicyConfig, build_policy_detectors, load_policy_config
from detectors.sigma.correlation import CorrelationDetector, CorrelationSettings
from detectors.sigma.engine import SigmaEngine

log = logging.getLogger(__name__)

PARTITION_KEYS = frozenset({"entity", "user"})  # what `EcsEvent.entity()` keys `vigil.events` by


class Lane(StrEnum):
    PARTITION = "partition"
    GLOBAL = "global"


def lane_of(detector: Detector) -> Lane:
    keyed_by = getattr(detector, "keyed_by", None)
    return Lane.PARTITION if keyed_by and set(keyed_by) <= PARTITION_KEYS else Lane.GLOBAL


@dataclass(frozen=True)
class DetectionPlan:
    """What every pipeline of a worker (or a replay) is built from; `detectors()` gives fresh instances."""

    settings: Settings
    engine: SigmaEngine
    index: EntityIndex
    policy: PolicyConfig

    @property
    def correlation_settings(self) -> CorrelationSettings:
        return CorrelationSettings(allowance=timedelta(seconds=self.settings.correlation_allowance_s))

    def detectors(self, lane: Lane | None = None) -> list[Detector]:
        every: list[Detector] = [
            *build_policy_detectors(self.index, self.policy),
            CorrelationDetector(self.engine.correlations, self.correlation_settings),
            FlatlineDetector(FlatlineSettings(zone=self.settings.zone)),
        ]
        return [d for d in every if lane is None or lane_of(d) is lane]

    def settle(self) -> timedelta:
        """How long after the last event of a finite input every window is decided: just past the late
        allowances (correlation, alerting, brute force's watermark) plus the longest correlation
        timespan (windows close strictly after their end)."""
        allowance = max(self.correlation_settings.allowance, timedelta(seconds=self.settings.alert_lateness_s),
                        self.policy.brute_force.lateness)  # fmt: skip
        spans = [rule.timespan for rule in self.engine.correlations.rules]
        return allowance + max(spans, default=timedelta(0)) + timedelta(seconds=1)

    def lane_engine(self, lane: Lane) -> SigmaEngine:
        """The partition lane evaluates every rule; the global lane only those its correlations count."""
        if lane is Lane.PARTITION:
            return self.engine
        wanted = self.engine.correlations.base_rule_ids
        rules = [r for r in self.engine.rules if r.info.id in wanted]
        return SigmaEngine(rules, (), {}, self.engine.correlations)

    def replay_pipeline(self) -> DetectionPipeline:
        """Everything in one pipeline: Sigma alerts, correlation, policy, flatline."""
        return DetectionPipeline.build(self.engine, alerting_settings(self.settings), AlertOrigin.REPLAY,
                                       self.detectors, settle=self.settle())  # fmt: skip


def build_plan(
    settings: Settings, engine: SigmaEngine, *, es: Elasticsearch | None = None, inventory: Inventory | None = None
) -> DetectionPlan:
    """`inventory` given, else `VIGIL_INVENTORY_FILE`, else `vigil-entities` (with `es`), else empty."""
    found = inventory if inventory is not None else load_detection_inventory(settings, es)
    policy = load_policy_config(settings.policy_file) if settings.policy_file else PolicyConfig()
    return DetectionPlan(settings, engine, EntityIndex.build(found), policy)


def load_detection_inventory(settings: Settings, es: Elasticsearch | None = None) -> Inventory:
    """The people/asset inventory the policy detectors judge against. A missing inventory is not fatal:
    the detectors that need it find nobody (no clearance, no assigned IPs) and say nothing, so it is
    logged as a warning; an invalid inventory file is a config error (it raises)."""
    if settings.inventory_file is not None:
        inventory = load_inventory(settings.inventory_file)
        log.info("entity inventory: %d users, %d resources, %d vendors from %s", len(inventory.users),
                 len(inventory.resources), len(inventory.vendors), settings.inventory_file)  # fmt: skip
        return inventory
    if es is not None:
        try:
            if es.indices.exists(index=ENTITIES_INDEX):
                inventory = read_entities(es)
                log.info("entity inventory: %d users, %d resources, %d vendors from %s", len(inventory.users),
                         len(inventory.resources), len(inventory.vendors), ENTITIES_INDEX)  # fmt: skip
                return inventory
        except (ApiError, TransportError) as exc:
            log.warning("entity inventory: %s unreadable (%s)", ENTITIES_INDEX, exc)
    log.warning("no entity inventory (VIGIL_INVENTORY_FILE unset, %s absent): unauthorized-access, IP-use and "
                "borrowed-account detectors run with an empty inventory", ENTITIES_INDEX)  # fmt: skip
    return Inventory()
