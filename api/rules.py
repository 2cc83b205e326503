"""The rules API's backends: the Sigma engine built once per app, the per-rule enable state in
`vigil-rule-state`, and running one pasted rule over pasted events.

The state is the switch an administrator sets; the stream workers and the scheduled hunts re-read it
every `rule_state_refresh_s` and skip disabled rules (`detectors/rule_state.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError

from api.errors import BackendUnavailable, BadRequest
from api.models.rules import EventResult, RuleState, RuleTestPublic
from core.errors import ParseError
from core.index_templates import install_rule_state_template
from core.names import RULE_STATE_INDEX
from core.settings import Settings
from detectors.rule_state import read_rule_states
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.loader import LoadedRules
from detectors.sigma.regression import sample_event


class RuleCatalog:
    """The configured rule dirs, parsed and compiled on first use (seconds for the SigmaHQ set), then
    kept: one engine per app, not per request. The parse is shared with the hunt conversion
    (`api/hunts.HuntCatalog`): ~6.6 s and a second copy of 3,754 parsed rules saved. Rule files changed on
    disk show after a restart."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loaded: LoadedRules | None = None
        self._engine: SigmaEngine | None = None
        self._lock = threading.RLock()  # engine() holds it while loaded() takes it again

    def loaded(self) -> LoadedRules:
        with self._lock:  # concurrent first requests parse once
            if self._loaded is None:
                from detectors.stream import load_configured_rules  # heavy: pySigma

                self._loaded = load_configured_rules(self.settings)
            return self._loaded

    def engine(self) -> SigmaEngine:
        with self._lock:
            if self._engine is None:
                from detectors.stream import build_engine  # heavy: the compiler

                self._engine = build_engine(self.settings, self.loaded())
            return self._engine


def rule_states(es: Elasticsearch) -> dict[str, RuleState]:
    """Every rule's last enable/disable (a missing index: no rule was ever switched)."""
    try:
        return read_rule_states(es)
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"{RULE_STATE_INDEX} could not be read: {exc}") from exc


def set_rule_state(
    es: Elasticsearch,
    settings: Settings,
    rule_id: str,
    *,
    enabled: bool,
    by: str,
    reason: str | None,
    now: datetime | None = None,
) -> RuleState:
    state = RuleState(rule_id=rule_id, enabled=enabled, changed_by=by, changed_at=now or datetime.now(UTC),
                      reason=reason)  # fmt: skip
    try:
        _ensure_index(es, settings)
        es.index(index=RULE_STATE_INDEX, id=rule_id, document=state.model_dump(mode="json"), refresh="wait_for")
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"{RULE_STATE_INDEX} could not be written: {exc}") from exc
    return state


def _ensure_index(es: Elasticsearch, settings: Settings) -> None:
    if es.indices.exists(index=RULE_STATE_INDEX):
        return
    install_rule_state_template(es, settings)  # mapping and replicas from core, not Elasticsearch's defaults
    try:
        es.indices.create(index=RULE_STATE_INDEX)
    except BadRequestError as exc:  # created by a concurrent request in between
        if "resource_already_exists" not in str(exc):
            raise


def try_rule(text: str, events: Sequence[Mapping[str, Any]]) -> RuleTestPublic:
    """Which of `events` the rule matches. A rule that does not load (invalid YAML, a Sigma error, a
    log source no parser produces) is the caller's input: 422 with pySigma's or the router's reason."""
    engine = SigmaEngine.from_texts({"rule.yml": text})
    if not engine.rules:
        if engine.skipped:
            skip = engine.skipped[0]
            raise BadRequest(f"the rule does not load ({skip.reason.value}): {skip.detail}")
        if engine.correlations.rules:
            raise BadRequest("correlation rules run over windows of events: test their base rules here")
        raise BadRequest("no Sigma rule in the text")
    if len(engine.rules) > 1:
        raise BadRequest(f"send one rule at a time (the text holds {len(engine.rules)})")
    rule = engine.rules[0].info
    results = []
    for index, event in enumerate(events):
        try:
            evaluation = engine.evaluate(sample_event(event))
        except ParseError as exc:  # a raw Windows record the parser cannot read: this event's error
            results.append(EventResult(index=index, event_id=None, matched=False, errors=[str(exc)]))
            continue
        errors = [str(e) for e in evaluation.errors]
        results.append(EventResult(index=index, event_id=_event_id(event), matched=bool(evaluation.matches),
                                   errors=errors))  # fmt: skip
    return RuleTestPublic(rule_id=rule.id, title=rule.title, matched=sum(r.matched for r in results), results=results)


def _event_id(event: Mapping[str, Any]) -> str | None:
    inner = event.get("event")
    value = inner.get("id") if isinstance(inner, Mapping) else None
    return str(value) if value is not None else None
