"""Which rules are switched off: `vigil-rule-state` (written by the rules API), as the detection
workers and the scheduled hunts honour it, and the rules summary they leave for the patrol record.

A disabled rule raises no alert of its own: its Sigma matches are dropped before alerting, and a
detector's or correlation's draft carrying its id is dropped too. Correlation rules are rules of
their own with their own switch: disabling a base rule does not stop the correlations that count it.

Refresh: each worker re-reads the index every `rule_state_refresh_s` (default 30 s), so a switch takes
effect within that interval without a restart. An unreadable index keeps the last state read (at
start: every rule enabled) and is logged: a rule alerting a little longer beats rules gone silent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from elasticsearch import ApiError, Elasticsearch, TransportError, helpers

from core.index_templates import install_reports_template
from core.models.rules import RulesSummary, RuleState
from core.names import REPORTS_INDEX, RULE_STATE_INDEX, RULES_SUMMARY_ID
from core.settings import Settings
from detectors.sigma.engine import SigmaEngine

log = logging.getLogger(__name__)

StateReader = Callable[[], dict[str, RuleState]]


def read_rule_states(es: Elasticsearch) -> dict[str, RuleState]:
    """Every rule's last enable/disable (a missing index: no rule was ever switched). ES errors raise."""
    if not es.indices.exists(index=RULE_STATE_INDEX):
        return {}
    hits = helpers.scan(es, index=RULE_STATE_INDEX, query={"query": {"match_all": {}}})
    return {hit["_id"]: RuleState.model_validate(hit["_source"]) for hit in hits}


class RuleSwitch:
    """The disabled rule ids, shared by every pipeline of a worker; `refresh` re-reads them when due."""

    def __init__(self, read: StateReader, interval_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.read = read
        self.interval_s = interval_s
        self.monotonic = monotonic
        self.disabled: frozenset[str] = frozenset()
        self._read_at: float | None = None

    @classmethod
    def of(cls, es: Elasticsearch, interval_s: float) -> RuleSwitch:
        return cls(lambda: read_rule_states(es), interval_s)

    def enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled

    def due(self) -> bool:
        return self._read_at is None or self.monotonic() - self._read_at >= self.interval_s

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the state if due (or `force`); True when the set of disabled rules changed."""
        if not force and not self.due():
            return False
        self._read_at = self.monotonic()
        try:
            states = self.read()
        except (ApiError, TransportError) as exc:
            log.warning("%s unreadable (%s): keeping %d rule(s) disabled as last read", RULE_STATE_INDEX, exc,
                        len(self.disabled))  # fmt: skip
            return False
        disabled = frozenset(rule_id for rule_id, state in states.items() if not state.enabled)
        if disabled == self.disabled:
            return False
        log.info("rule state: %d disabled (now off: %s; back on: %s)", len(disabled),
                 sorted(disabled - self.disabled) or "-", sorted(self.disabled - disabled) or "-")  # fmt: skip
        self.disabled = disabled
        return True


def rules_summary(engine: SigmaEngine, disabled: frozenset[str], at: datetime) -> RulesSummary:
    """What `engine` loaded and skipped; of the disabled ids, those of rules it loaded."""
    report = engine.report()
    loaded = {r.info.id for r in engine.rules} | {c.id for c in engine.correlations.rules}
    return RulesSummary(loaded=report.loaded, skipped=report.skipped, correlations=report.correlations,
                        skipped_by_reason=report.skipped_by_reason, at=at,
                        disabled=sorted(disabled & loaded))  # fmt: skip


def store_rules_summary(es: Elasticsearch, settings: Settings, summary: RulesSummary) -> None:
    """The patrol record's "rules loaded" section reads this document (`reports.patrol.read_rules_summary`)."""
    install_reports_template(es, settings)
    es.index(index=REPORTS_INDEX, id=RULES_SUMMARY_ID, document={"kind": "rules", **summary.model_dump(mode="json")})
