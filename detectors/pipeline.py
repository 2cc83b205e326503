"""One detection pipeline: Sigma engine → stateful detectors → alerting, for one stream partition or
one forensic replay. The stream worker and `vigil detect replay` both run exactly this code.

The Sigma engine is shared (stateless apart from its error counters); the detectors and the alerting
state belong to the pipeline, so a partition's whole state snapshots as one `PipelineState` beside
its offset. A rule or a detector that raises is counted and logged, never read as "no match".

`sigma_alerts=False` is the global lane (`detectors/registry.py`): it evaluates Sigma only to feed the
correlation rules, and single-event alerts are raised by the partition lane alone (never twice). A
match of a rule whose correlations all say `generate: false` raises no alert of its own in any lane.
A rule switched off (`switch`, `detectors/rule_state.py`) raises no alert: neither its matches nor
drafts carrying its id.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial

from pydantic import BaseModel, Field

from core.models.alert import Alert, AlertDraft, AlertOrigin
from core.models.ecs import EcsEvent
from core.settings import Settings
from detectors.alerting import Alerting, AlertingSettings
from detectors.base import Detector, SigmaHit
from detectors.rule_state import RuleSwitch
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.loader import RuleInfo

log = logging.getLogger(__name__)

DetectorFactory = Callable[[], Sequence[Detector]]


class PipelineState(BaseModel):
    detectors: dict[str, dict[str, object]] = Field(default_factory=dict)  # detector name → its snapshot
    alerting: dict[str, object] = Field(default_factory=dict)


def alerting_settings(settings: Settings) -> AlertingSettings:
    return AlertingSettings.model_validate(
        {
            "suppression": settings.alert_suppression_s,
            "suppression_by_rule": settings.alert_suppression_by_rule,
            "rate_cap": settings.alert_rate_cap,
            "rate_window": settings.alert_rate_window_s,
            "max_event_ids": settings.alert_max_event_ids,
            "lateness": settings.alert_lateness_s,
        }
    )


def no_detectors() -> list[Detector]:
    """No stateful detectors: a Sigma-only pipeline (tests, the regression runner)."""
    return []


class DetectionPipeline:
    def __init__(
        self,
        engine: SigmaEngine,
        rules: Mapping[str, RuleInfo],
        detectors: Sequence[Detector],
        alerting: Alerting,
        metrics: Counter[str] | None = None,
        *,
        sigma_alerts: bool = True,
        settle: timedelta = timedelta(0),
        switch: RuleSwitch | None = None,
    ) -> None:
        names = [d.name for d in detectors]
        if len(set(names)) != len(names):
            raise ValueError(f"detector names must be unique (they key the checkpoint): {names}")
        self.engine = engine
        self.rules = rules
        self.detectors = list(detectors)
        self.alerting = alerting
        self.metrics: Counter[str] = metrics if metrics is not None else Counter()
        self.sigma_alerts = sigma_alerts
        self.settle = settle  # how long after the last event every window is decided (`finish`)
        self.switch = switch  # None: every rule enabled (replay, tests)

    @classmethod
    def build(
        cls,
        engine: SigmaEngine,
        settings: AlertingSettings,
        origin: AlertOrigin,
        detectors: DetectorFactory = no_detectors,
        metrics: Counter[str] | None = None,
        rules: Mapping[str, RuleInfo] | None = None,
        *,
        sigma_alerts: bool = True,
        settle: timedelta = timedelta(0),
        switch: RuleSwitch | None = None,
    ) -> DetectionPipeline:
        """`rules` (id → info) can be computed once and shared by the pipelines of every partition."""
        rules = rules if rules is not None else rule_index(engine)
        return cls(engine, rules, detectors(), Alerting(settings, rules, origin), metrics,
                   sigma_alerts=sigma_alerts, settle=settle, switch=switch)  # fmt: skip

    def on_event(self, event: EcsEvent, now: datetime) -> list[Alert]:
        self.metrics["events"] += 1
        evaluation = self.engine.evaluate(event)
        if evaluation.errors:  # the engine logged the first error of each rule and keeps per-rule counts
            self.metrics["rule_errors"] += len(evaluation.errors)
        alerts: list[Alert] = []
        quiet = self.engine.correlations.suppresses
        for match in evaluation.matches:
            self.metrics["sigma_matches"] += 1
            if not self.sigma_alerts:
                continue
            if quiet(match.rule_id):  # `generate: false`: it only feeds its correlations
                self.metrics["sigma_suppressed"] += 1
                continue
            if not self._enabled(match.rule_id):
                self.metrics["sigma_disabled"] += 1
                continue
            alerts += self.alerting.on_match(match, event, now)
        if self.detectors:
            hits = [self._hit(m.rule_id, m.title, m.level, m.tags) for m in evaluation.matches]
            # Called inline, not through `_drafts`: nearly every call returns no draft, and the global
            # lane runs eight detectors per event (a `partial` and a frame each were ~10% of its CPU).
            for detector in self.detectors:
                try:
                    drafts = detector.on_event(event, hits)
                except Exception:  # noqa: BLE001 - one faulty detector must not stop the others
                    self._failed(detector)
                    continue
                if drafts:
                    alerts += self._accepted(drafts, now)
        return alerts

    def on_tick(self, now: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for detector in self.detectors:
            alerts += self._drafts(detector, partial(detector.on_tick, now), now)
        return alerts + self.alerting.on_tick(now)

    def finish(self, latest: datetime) -> list[Alert]:
        """The end of a finite input (a replay): one tick `settle` past the latest event, so the last
        "fewer than N" windows and open episodes are decided. Detectors that alert on silence
        (`alerts_on_silence`, the flatline) are ticked at `latest` instead: the end of a file is not a
        source going silent."""
        final = latest + self.settle
        alerts: list[Alert] = []
        for detector in self.detectors:
            at = latest if getattr(detector, "alerts_on_silence", False) else final
            alerts += self._drafts(detector, partial(detector.on_tick, at), final)
        return alerts + self.alerting.on_tick(final)

    def snapshot(self) -> PipelineState:
        return PipelineState(
            detectors={d.name: d.snapshot().model_dump(mode="json") for d in self.detectors},
            alerting=self.alerting.snapshot().model_dump(mode="json"),
        )

    def restore(self, state: PipelineState) -> None:
        for detector in self.detectors:
            saved = state.detectors.get(detector.name)
            if saved is not None:
                detector.restore(saved)
            else:
                log.warning("no checkpointed state for detector %s: it starts empty", detector.name)
        if state.alerting:
            self.alerting.restore(state.alerting)

    def _drafts(self, detector: Detector, call: Callable[[], list[AlertDraft]], now: datetime) -> list[Alert]:
        try:
            drafts = call()
        except Exception:  # noqa: BLE001 - one faulty detector must not stop the others
            self._failed(detector)
            return []
        return self._accepted(drafts, now)

    def _failed(self, detector: Detector) -> None:
        """Counted and logged (with the traceback of the exception being handled)."""
        self.metrics[f"detector_errors.{detector.name}"] += 1
        self.metrics["detector_errors"] += 1
        log.exception("detector %s raised", detector.name)

    def _accepted(self, drafts: list[AlertDraft], now: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for draft in drafts:
            if not self._enabled(draft.rule.id):
                self.metrics["drafts_disabled"] += 1
                continue
            alerts += self.alerting.on_draft(draft, now)
        return alerts

    def _enabled(self, rule_id: str) -> bool:
        return self.switch is None or self.switch.enabled(rule_id)

    def _hit(self, rule_id: str, title: str, level: str | None, tags: tuple[str, ...]) -> SigmaHit:
        info = self.rules.get(rule_id)
        return SigmaHit(rule_id=rule_id, title=title, level=level, tags=tags, name=info.name if info else None)


def rule_index(engine: SigmaEngine) -> dict[str, RuleInfo]:
    return {rule.info.id: rule.info for rule in engine.rules}
