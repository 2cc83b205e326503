"""Sigma rules → Elasticsearch queries over `logs-*`, through pySigma's Lucene backend.

Per rule: the stream's routing (`logsources.route_rule`) gives the log-source filter, written here as
DSL on `winlog.channel.ci` / `winlog.event_id` exactly as `logsources.windows_event_routes` routes an
event (Windows rules), or on `event.dataset` / `vigil.parser` / the syslog program as
`fields.event_routes` does (Linux, proxy, web server, DNS, firewall: `ecs_fields.py`);
`WindowsHuntFields` or `EcsHuntFields` maps the detection to Vigil's fields; `LuceneBackend` (output `default`,
a query string, never `siem_rule*`, which downloads MITRE data at run time) writes the condition. The
query runs as `bool(filter=[log source], must=[query_string])`. ES|QL is not used: the local
Elasticsearch is the OSS distribution (no `_query` endpoint, no EQL), and Lucene covers every
construct ES|QL would.

A rule the backend cannot express exactly (full-text keywords, CIDR, field references, derived fields,
regexes Lucene lacks, the Cisco and Sysmon-for-Linux routes) becomes an *engine hunt* instead: its query
is only the log-source filter (`engine_logsource_filter`, a superset of the events the stream routes to
the rule), and each hit is evaluated by the stream's own compiled rule (a one-rule `SigmaEngine`, whose
routing also drops the hits the filter over-selects), so it matches exactly the events the stream
matches. Only rules the stream cannot run either (unsupported log source, a compile failure) are not
hunted, with the reason (`vigil hunt rules --skipped`).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from elasticsearch import Elasticsearch
from pydantic import BaseModel, Field, PrivateAttr
from sigma.backends.elasticsearch import LuceneBackend
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.rule import SigmaRule

from core.names import LOGS_PATTERN
from detectors.hunt.ecs_fields import AUDITD_ONLY, EcsHuntFields, ecs_logsource_filter, ecs_route, is_ecs_route
from detectors.hunt.fields import (
    ALIASES_4688,
    ALIASES_DEFENDER,
    CI,
    EVENT_DATA,
    FieldNames,
    NotConvertible,
    WindowsHuntFields,
)
from detectors.sigma import logsources as ls
from detectors.sigma.correlation_rules import quiet_rules
from detectors.sigma.engine import Evaluation, SigmaEngine
from detectors.sigma.errors import SigmaEngineError
from detectors.sigma.loader import LoadedRules, RuleInfo, load_rules
from detectors.sigma.view import FieldView

# Route keys a Security 4688 event carries (logsources.windows_event_routes).
SEES_4688 = frozenset(ls.windows_event_routes(ls.SECURITY, "4688"))


EvaluatedBy = Literal["lucene", "engine"]


class NotConverted(BaseModel):
    rule_id: str
    title: str
    path: str
    kind: str
    reason: str


class HuntQuery(BaseModel):
    """One hunted rule: what `search.py` runs and, for an engine hunt, what decides on each hit."""

    rule_id: str
    evaluation: EvaluatedBy = Field(
        default="lucene", description="lucene: the query decides; engine: the stream's compiled rule decides per hit"
    )
    lucene: str = Field(default="", description="the rule as a Lucene query string (lucene hunts)")
    logsource: dict[str, Any]
    refused: NotConverted | None = Field(default=None, description="engine hunts: why the Lucene backend refused")
    _engine: SigmaEngine | None = PrivateAttr(default=None)  # engine hunts: the one-rule stream engine
    _source: tuple[RuleInfo, SigmaRule] | None = PrivateAttr(default=None)  # engine hunts: what it compiled

    @classmethod
    def engine_hunt(
        cls, engine: SigmaEngine, logsource: dict[str, Any], refused: NotConverted, source: tuple[RuleInfo, SigmaRule]
    ) -> HuntQuery:
        query = cls(rule_id=refused.rule_id, evaluation="engine", logsource=logsource, refused=refused)
        query._engine = engine
        query._source = source
        return query

    @property
    def source(self) -> tuple[RuleInfo, SigmaRule]:
        """An engine hunt's parsed rule, to compile it again beside others (`group.py`)."""
        if self._source is None:
            raise SigmaEngineError(f"hunt of {self.rule_id} has no parsed rule: only engine hunts keep theirs")
        return self._source

    def query(self) -> dict[str, Any]:
        if self.evaluation == "engine":
            return self.logsource
        # keyword searches (no field) look at every event data value, as the stream does (it also reads the
        # rendered `message`, a text field here: a keyword found only there is missed)
        text = {"query_string": {"query": self.lucene, "fields": [EVENT_DATA + "*" + CI], "analyze_wildcard": False}}
        return {"bool": {"filter": [self.logsource], "must": [text]}}

    def evaluate(self, view: FieldView) -> Evaluation | None:
        """An engine hunt's verdict on one hit, by the stream's compiled rule; None: the query decided."""
        if self.evaluation == "lucene":
            return None
        if self._engine is None:
            raise SigmaEngineError(f"engine hunt of {self.rule_id} has no compiled rule: build it with convert_rules")
        return self._engine.evaluate_view(view)


# Refusals the engine cannot hunt either: the stream does not run such rules (any other becomes an engine hunt).
NOT_HUNTED = frozenset({"unsupported-logsource"})


@dataclass(frozen=True)
class Conversion:
    queries: dict[str, HuntQuery]  # lucene and engine hunts
    rules: dict[str, RuleInfo]
    skipped: list[NotConverted]  # not hunted at all

    def by_reason(self) -> dict[str, int]:
        return _count(s.kind for s in self.skipped)

    def engine_by_reason(self) -> dict[str, int]:
        """Engine hunts by the reason the Lucene backend refused them."""
        return _count(q.refused.kind for q in self.queries.values() if q.refused is not None)

    def count(self, evaluation: EvaluatedBy) -> int:
        return sum(q.evaluation == evaluation for q in self.queries.values())


def _count(kinds: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind in kinds:
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def convert_rules(rules: Iterable[tuple[RuleInfo, SigmaRule]], names: FieldNames | None = None) -> Conversion:
    """Convert each rule; a deep copy is converted (pySigma pipelines mutate rules in place, and the
    same parsed rules may also be compiled by the stream engine). A rule the backend refuses becomes an
    engine hunt when the stream runs it."""
    names = names or FieldNames()
    backends: dict[tuple[bool, bool] | str, LuceneBackend] = {
        (a, b): _backend(names, a, b) for a in (False, True) for b in (False, True)
    }
    for kind in ("linux", "auditd", "ecs"):
        backends[kind] = _ecs_backend(linux=kind != "ecs", auditd_only=kind == "auditd")
    queries: dict[str, HuntQuery] = {}
    infos: dict[str, RuleInfo] = {}
    skipped: list[NotConverted] = []
    for info, rule in rules:
        try:
            found: HuntQuery | NotConverted = convert_rule(backends, info, rule)
        except NotConvertible as exc:
            found = _skip(info, exc.kind, str(exc))
        except SigmaError as exc:  # the Lucene backend refuses a construct
            found = _skip(info, "backend", str(exc))
        if isinstance(found, NotConverted):
            found = engine_hunt(info, rule, found)
        if isinstance(found, NotConverted):
            skipped.append(found)
        else:
            queries[info.id] = found
            infos[info.id] = info
    return Conversion(queries, infos, skipped)


def engine_hunt(info: RuleInfo, rule: SigmaRule, refused: NotConverted) -> HuntQuery | NotConverted:
    """The rule compiled as the stream compiles it, behind its log-source filter; `refused` back when
    the stream does not run the rule either (its log source, or its compiler's reason)."""
    if refused.kind in NOT_HUNTED:
        return refused
    engine = SigmaEngine.from_loaded(LoadedRules(rules=[(info, rule)]))
    if not engine.rules:
        why = engine.skipped[0]
        return _skip(info, why.reason.value, f"{refused.reason}; the stream does not run it either: {why.detail}")
    logsource = engine_logsource_filter(ls.route_rule(info.logsource).keys)
    return HuntQuery.engine_hunt(engine, logsource, refused, (info, rule))


def field_names(es: Elasticsearch, index: str = LOGS_PATTERN) -> FieldNames:
    """The event data names indexed so far, so a rule's `commandline` finds the events' `CommandLine`."""
    caps = es.field_caps(index=index, fields="winlog.event_data.*", ignore_unavailable=True, allow_no_indices=True)
    return FieldNames.of(list(caps["fields"]))


def load_conversion(
    rule_paths: Sequence[Path], es: Elasticsearch | None, rule_ids: Collection[str] | None = None
) -> tuple[Conversion, LoadedRules]:
    """Load the rule files, convert (all, or `rule_ids`), validate against Elasticsearch when given."""
    loaded = load_rules(list(rule_paths))
    return convert_loaded(loaded, es, rule_ids), loaded


def convert_loaded(
    loaded: LoadedRules, es: Elasticsearch | None, rule_ids: Collection[str] | None = None
) -> Conversion:
    """Convert rules already parsed (the API shares one parse with its rules engine); rules are not mutated.
    A rule that only feeds correlations (`generate: false`) is not hunted: its matches are not alerts."""
    quiet = quiet_rules(loaded.correlations, (info for info, _ in loaded.rules))
    wanted = [(i, r) for i, r in loaded.rules if rule_ids is None or i.id in rule_ids]
    inputs = [_skip(i, "correlation-input", "generate: false: it only feeds correlation rules, which the stream "
                    "evaluates") for i, _ in wanted if i.id in quiet]  # fmt: skip
    rules = [(i, r) for i, r in wanted if i.id not in quiet]
    conversion = convert_rules(rules, field_names(es) if es is not None else None)
    conversion = Conversion(conversion.queries, conversion.rules, conversion.skipped + inputs)
    if es is not None:
        conversion = validate(es, conversion, sources={i.id: r for i, r in rules})
    return conversion


def validate(
    es: Elasticsearch, conversion: Conversion, index: str = LOGS_PATTERN, sources: Mapping[str, SigmaRule] | None = None
) -> Conversion:
    """Ask Elasticsearch to parse every query with a regex (Lucene turns each into an automaton and
    refuses those too large to determinize, e.g. `.{1000,}`); such rules become engine hunts when their
    parsed rule is in `sources` (rule id → rule), else move to the skipped list."""
    queries, skipped = dict(conversion.queries), list(conversion.skipped)
    for rule_id, query in conversion.queries.items():
        if query.evaluation != "lucene" or ":/" not in query.lucene:
            continue
        answer = es.indices.validate_query(index=index, query=query.query(), explain=True)
        if not answer.get("valid", True):
            reason = str(answer.get("error") or answer.get("explanations", [{}])[0].get("error", "invalid"))
            info = conversion.rules[rule_id]
            refused = _skip(info, "es-refused", f"Elasticsearch: {reason[:300]}")
            found = engine_hunt(info, sources[rule_id], refused) if sources and rule_id in sources else refused
            if isinstance(found, HuntQuery):
                queries[rule_id] = found
            else:
                del queries[rule_id]
                skipped.append(found)
    return Conversion(queries, {r: conversion.rules[r] for r in queries}, skipped)


def _skip(info: RuleInfo, kind: str, message: str) -> NotConverted:
    reason = message.split(" (while applying processing pipeline", 1)[0]  # pySigma appends the rule path
    return NotConverted(rule_id=info.id, title=info.title, path=info.path, kind=kind, reason=reason)


def _backend(names: FieldNames, sees_4688: bool, sees_defender: bool) -> LuceneBackend:
    aliases = {**(ALIASES_4688 if sees_4688 else {}), **(ALIASES_DEFENDER if sees_defender else {})}
    return LuceneBackend(ProcessingPipeline([ProcessingItem(WindowsHuntFields(names, sees_4688, aliases))]))


def _ecs_backend(*, linux: bool, auditd_only: bool) -> LuceneBackend:
    return LuceneBackend(ProcessingPipeline([ProcessingItem(EcsHuntFields(linux=linux, auditd_only=auditd_only))]))


def convert_rule(
    backends: Mapping[tuple[bool, bool] | str, LuceneBackend], info: RuleInfo, rule: SigmaRule
) -> HuntQuery:
    """`backends`: Windows ones by whether the rule's routes include Security 4688 (Sysmon names
    aliased there) and Defender detections (antivirus names aliased there); "linux" and "ecs" for the
    other rules (Linux ones also read the auditd labels; "auditd" when they see auditd events only)."""
    route = ls.route_rule(info.logsource)
    if route.unsupported is not None:
        raise NotConvertible(route.unsupported, "unsupported-logsource")
    backend: LuceneBackend
    if all(is_ecs_route(k) for k in route.keys):
        logsource = ecs_logsource_filter(route.keys)
        linux = any(k.startswith("linux:") for k in route.keys)
        backend = backends["auditd" if set(route.keys) <= AUDITD_ONLY else "linux" if linux else "ecs"]
    else:
        logsource = logsource_filter(route.keys)
        backend = backends[(bool(set(route.keys) & SEES_4688), "cat:antivirus" in route.keys)]
    converted = backend.convert_rule(copy.deepcopy(rule))
    if len(converted) != 1 or not isinstance(converted[0], str):
        raise NotConvertible(f"backend returned {len(converted)} queries", "backend")
    return HuntQuery(rule_id=info.id, lucene=converted[0], logsource=logsource)


def engine_logsource_filter(keys: Sequence[str]) -> dict[str, Any]:
    """A superset of the events the stream routes to these keys (an engine hunt's one-rule engine routes
    each hit again and decides): Windows keys as the Lucene hunts select them; non-Windows keys also
    select the Sysmon for Linux events that carry them, and the Cisco route (a pattern in the message
    text, which is not indexed as keywords) selects every non-Windows event."""
    if not all(is_ecs_route(k) for k in keys):
        return logsource_filter(keys)
    clauses = [c for c in map(_linux_sysmon, keys) if c is not None]
    if "cisco:*" in keys:
        clauses.append({"bool": {"must_not": [{"exists": {"field": "winlog.channel"}}]}})
    ecs_keys = [k for k in keys if _has_ecs_route(k)]
    if ecs_keys:
        clauses.append(ecs_logsource_filter(ecs_keys))
    return _any(clauses)


def _linux_sysmon(key: str) -> dict[str, Any] | None:
    """The Sysmon for Linux events the stream routes to a Linux key (`logsources.windows_event_routes`)."""
    if key == "linux:*":
        return _channel(ls.LINUX_SYSMON)
    category = key.removeprefix("linux:cat:")
    ids = sorted(i for i, c in ls.LINUX_SYSMON_CATEGORIES.items() if c == category and key.startswith("linux:cat:"))
    return _any([_pair(ls.LINUX_SYSMON, i) for i in ids]) if ids else None


def _has_ecs_route(key: str) -> bool:
    try:
        ecs_route(key)
    except NotConvertible:  # the Cisco and the Sysmon-for-Linux-only routes
        return False
    return True


def logsource_filter(keys: Sequence[str]) -> dict[str, Any]:
    """The DSL filter selecting the events the stream routes to these keys (Windows keys only)."""
    return _any([_route(k) for k in keys])


def _route(key: str) -> dict[str, Any]:
    kind, _, value = key.partition(":")
    if key == "win:*":  # every Windows event but Sysmon for Linux, which routes as Linux
        return {"bool": {"filter": [{"exists": {"field": "winlog.channel"}}],
                         "must_not": [_channel(ls.LINUX_SYSMON)]}}  # fmt: skip
    if kind == "win":
        return _channel(value)
    if kind == "wincat" and value in ls.WINDOWS_CATEGORIES:
        return _any([_pair(channel, event_id) for channel, event_id in ls.WINDOWS_CATEGORIES[value]])
    if key == "cat:antivirus":
        return _any([_pair(ls.DEFENDER, event_id) for event_id in ls.DEFENDER_DETECTIONS])
    raise NotConvertible(f"route '{key}': the hunt's field mapping covers Windows event logs only", "non-windows")


def _channel(channel: str) -> dict[str, Any]:
    return {"term": {"winlog.channel" + CI: channel}}  # the stream routes on the lower-cased channel


def _pair(channel: str, event_id: str) -> dict[str, Any]:
    return {"bool": {"filter": [_channel(channel), {"term": {"winlog.event_id": event_id}}]}}


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}
