"""Engine hunts grouped by log source: one walk over a log-source filter, every rule of the group decided
on each hit by one multi-rule `SigmaEngine`, each match handed to its own rule's `Hunter`.

Why: an engine hunt's query is only its log source, and many share one (the 16 CIDR rules all select
Sysmon event 3), so hunting them one by one reads the same events once per rule. The group's engine is
compiled from the group's parsed rules exactly as each one-rule engine is (`convert.engine_hunt`), and
routes each hit again per rule, so a rule matches the same events in the group as alone. Each rule keeps
its own `Hunter` (alerting, counted ids), fed its matches in the walk's order: the same alert ids as a
per-rule scan, hence still one stored alert per finding with the stream's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from core.models.ecs import EcsEvent
from detectors.hunt.convert import Conversion
from detectors.hunt.run import Hunter, HuntResult, Scope, Tally, hunt_filter
from detectors.hunt.search import iter_hits
from detectors.sigma.engine import SigmaEngine
from detectors.sigma.loader import LoadedRules
from detectors.sigma.view import build_view


@dataclass(frozen=True)
class EngineGroup:
    """Engine hunts with an identical log-source filter."""

    logsource: dict[str, Any]
    rule_ids: tuple[str, ...]


def engine_groups(conversion: Conversion, rule_ids: Iterable[str]) -> list[EngineGroup]:
    """The engine hunts among `rule_ids`, grouped by log-source filter (in first-seen order)."""
    groups: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for rule_id in rule_ids:
        query = conversion.queries[rule_id]
        if query.evaluation == "engine":
            key = json.dumps(query.logsource, sort_keys=True)
            groups.setdefault(key, (query.logsource, []))[1].append(rule_id)
    return [EngineGroup(logsource, tuple(ids)) for logsource, ids in groups.values()]


def group_engine(conversion: Conversion, rule_ids: Iterable[str]) -> SigmaEngine:
    """One engine over these engine hunts' parsed rules, compiled as the one-rule engines are."""
    return SigmaEngine.from_loaded(LoadedRules(rules=[conversion.queries[r].source for r in rule_ids]))


def run_group(
    es: Elasticsearch, hunters: Mapping[str, Hunter], engine: SigmaEngine, logsource: dict[str, Any],
    start: datetime, end: datetime, now: datetime, *, by_ingested: bool, scope: Scope = None, page_size: int = 1000,
) -> list[HuntResult]:  # fmt: skip
    """One walk over `logsource` in [start, end); `hunters` (rule id → its Hunter) are the engine's rules.
    Each result counts the whole walk as scanned (every rule read every event of the log source)."""
    tallies: dict[str, Tally] = {rule_id: hunter.begin(start) for rule_id, hunter in hunters.items()}
    scanned = 0
    for hit in iter_hits(es, hunt_filter(logsource, start, end, by_ingested=by_ingested, scope=scope),
                         page_size=page_size):  # fmt: skip
        scanned += 1
        view = build_view(hit["_source"])
        verdict = engine.evaluate_view(view)
        for error in verdict.errors:
            tallies[error.rule_id].errors += 1
        if not verdict.matches:
            continue
        event = EcsEvent.model_validate(hit["_source"])  # once per hit, whichever rules matched it
        for match in verdict.matches:
            hunters[match.rule_id].on_match(tallies[match.rule_id], hit["_id"], view, event, now)
    results = []
    for rule_id, hunter in hunters.items():
        tally = tallies[rule_id]
        tally.scanned = scanned
        results.append(hunter.finish(tally, start, end, now, by_ingested=by_ingested))
    return results
