"""The streaming Sigma engine: rules in, `event → matches` out. No I/O besides reading rule files.

Rules are grouped by route key (their log source, see `logsources.py`); within a route, rules with a
guard (see `compiler.py`) are indexed by their guard atoms, the rest are always evaluated. For one
event: build its field view once, collect the candidate rules of its routes (a few dict lookups),
evaluate them. A rule that raises is counted per rule and returned in `Evaluation.errors`.

Correlation rules load with the rest and are resolved against the compiled rules (`correlations`,
run by `correlation.CorrelationDetector`); the detection rules they count are compiled like any other,
whatever their `generate` flag says.

The compiled rule set is a few hundred thousand long-lived objects: a worker that builds it once should
call `gc.freeze()` afterwards so the cyclic collector stops rescanning it (about 10% throughput).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from core.models.ecs import EcsEvent
from detectors.sigma.codegen import Pred, canon_cached
from detectors.sigma.compiler import Guards, RuleCompiler
from detectors.sigma.correlation_rules import CorrelationRule, CorrelationSet, parse_correlation, resolve_correlations
from detectors.sigma.errors import RuleCompileError, RuleEvaluationError
from detectors.sigma.index import Bucket, build_bucket
from detectors.sigma.loader import LoadedRules, RuleInfo, SkippedRule, SkipReason, load_rules, load_texts
from detectors.sigma.logsources import route_rule
from detectors.sigma.view import FieldView, build_view

log = logging.getLogger(__name__)
_MAX_ROUTE_SETS = 4096  # distinct event route tuples remembered (channels come from the events)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    index: int
    info: RuleInfo
    pred: Pred
    guards: Guards
    routes: tuple[str, ...]
    source: str = ""  # the generated predicate's Python source (`codegen.py`), compiled as <sigma:RULE_ID>


@dataclass(frozen=True, slots=True)
class RuleMatch:
    rule_id: str
    title: str
    level: str | None
    tags: tuple[str, ...]
    event_id: str | None
    name: str | None = None  # the rule's `name` (what `detectors.base.SigmaHit.name` carries)


class Evaluation(NamedTuple):  # one per event: a tuple is the cheapest immutable record to build
    matches: list[RuleMatch]
    errors: list[RuleEvaluationError]


_new_evaluation = tuple.__new__  # builds the NamedTuple in C (its generated __new__ is Python code)


class DirCounts(BaseModel):
    files: int = 0
    rules: int = 0
    loaded: int = 0
    correlations: int = 0  # correlation rules resolved and run by the correlation detector
    skipped: int = 0
    skipped_by_reason: dict[str, int] = {}


class LoadReport(BaseModel):
    """Per rule directory: files read, rule documents (loaded + correlations + skipped), by reason."""

    loaded: int
    skipped: int
    correlations: int = 0
    dirs: dict[str, DirCounts]
    skipped_by_reason: dict[str, int]


class SigmaEngine:
    """Evaluate every loaded rule that can match an event. Build with `from_paths`."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        skipped: Sequence[SkippedRule],
        files: Mapping[str, int],
        correlations: CorrelationSet | None = None,
    ):
        self.rules = [r if r.index == i else replace(r, index=i) for i, r in enumerate(rules)]
        self.correlations = correlations or CorrelationSet()
        self.skipped = [*skipped, *self.correlations.skipped]
        self.files = dict(files)
        self.error_counts: Counter[str] = Counter()  # rule id → evaluations that raised
        self.last_errors: dict[str, str] = {}  # rule id → the last such error, for `rules list`
        self._members: dict[str, list[int]] = {}  # route key → the rules listening on it
        for rule in self.rules:
            for key in rule.routes:
                self._members.setdefault(key, []).append(rule.index)
        # (route keys that have rules, the EventIDs their rules name that the event has) → their one index
        self._by_keys: dict[tuple[tuple[str, ...], frozenset[str] | None], Bucket] = {}
        self._by_routes: dict[tuple[tuple[str, ...], Any], Bucket] = {}  # (event routes, EventID) → index (bounded)
        self._event_ids: dict[tuple[str, ...], frozenset[str]] = {}  # route keys → EventIDs their guards name

    @classmethod
    def from_paths(
        cls, paths: Sequence[Path | str], *, placeholders: Mapping[str, Sequence[str]] | None = None
    ) -> SigmaEngine:
        """Load, route and compile every rule file under the given files or directories."""
        return cls.from_loaded(load_rules([Path(p) for p in paths]), placeholders=placeholders)

    @classmethod
    def from_texts(
        cls, texts: Mapping[str, str], *, placeholders: Mapping[str, Sequence[str]] | None = None
    ) -> SigmaEngine:
        """Rules given as YAML text (name → text): tests, and the rules API's "try this rule"."""
        return cls.from_loaded(load_texts(texts), placeholders=placeholders)

    @classmethod
    def from_loaded(
        cls, loaded: LoadedRules, *, placeholders: Mapping[str, Sequence[str]] | None = None
    ) -> SigmaEngine:
        compiler = RuleCompiler(placeholders)
        rules: list[CompiledRule] = []
        skipped = list(loaded.skipped)
        for info, rule in loaded.rules:
            compiled = _compile(compiler, info, rule, len(rules))
            if isinstance(compiled, SkippedRule):
                skipped.append(compiled)
            else:
                rules.append(compiled)
        parsed: list[CorrelationRule] = []
        for source in loaded.correlations:
            found = parse_correlation(source)
            if isinstance(found, SkippedRule):
                skipped.append(found)
            else:
                parsed.append(found)
        correlations = resolve_correlations(parsed, [r.info for r in rules])
        return cls(rules, skipped, loaded.files, correlations)

    # --- evaluation ---------------------------------------------------------------------------------

    def evaluate(self, event: EcsEvent | Mapping[str, Any]) -> Evaluation:
        """Matches and rule errors for one event (ECS model or ECS document)."""
        return self.evaluate_view(build_view(event))

    def match(self, event: EcsEvent | Mapping[str, Any]) -> list[RuleMatch]:
        """The rules that match; rule errors are counted in `error_counts` and logged, never dropped."""
        return self.evaluate(event).matches

    def evaluate_view(self, view: FieldView) -> Evaluation:
        matches: list[RuleMatch] = []
        errors: list[RuleEvaluationError] = []
        rules = self.rules
        for index in self.candidates(view):
            rule = rules[index]
            try:
                hit = rule.pred(view)
            except Exception as exc:  # noqa: BLE001 - a faulty rule must not stop the others
                errors.append(self._failed(rule, view, exc))
                continue
            if hit:
                info = rule.info
                matches.append(RuleMatch(info.id, info.title, info.level, info.tags, view.event_id, info.name))
        return _new_evaluation(Evaluation, (matches, errors))  # type: ignore[no-any-return]

    def candidates(self, view: FieldView) -> list[int]:
        """Indexes of the rules that can match this event, in rule order."""
        event_id = view.values.get("eventid") if view.closed else None
        bucket = self._by_routes.get((view.routes, event_id))
        if bucket is None:
            bucket = self._bucket(view.routes, event_id)
        return bucket.candidates(view)

    def _bucket(self, routes: tuple[str, ...], event_id: Any) -> Bucket:
        """One index over every rule of an event's route keys and EventID, built the first time seen.

        An event usually has several route keys (`win:*`, `win:security`, `wincat:process_creation`):
        one index over their rules looks each field up once. A Windows event's EventID is known before
        any lookup, so each EventID the rules name gets its own index, without the rules of other
        EventIDs and the fields only they read (`win:security` holds rules for 73 EventIDs); every other
        EventID shares one index. Indexes are cached by the keys that have rules (an unknown channel adds
        a key without rules, not an index) and those EventIDs: their number is bounded by the rules.
        """
        keys = tuple(key for key in routes if key in self._members)
        named = self._named_event_ids(keys)
        known: frozenset[str] | None = None
        if event_id.__class__ is str and named:
            low = event_id.lower()
            known = frozenset(form for form in (low, canon_cached(low)) if form in named)
        bucket = self._by_keys.get((keys, known))
        if bucket is None:
            members = sorted({index for key in keys for index in self._members[key]})
            rules = [self.rules[i] for i in members]
            bucket = build_bucket(rules, {"eventid": known} if known is not None else None)
            self._by_keys[(keys, known)] = bucket
        if len(self._by_routes) < _MAX_ROUTE_SETS:
            self._by_routes[(routes, event_id)] = bucket
        return bucket

    def _named_event_ids(self, keys: tuple[str, ...]) -> frozenset[str]:
        """The EventID values the guards of these route keys' rules name (`eq` atoms)."""
        found = self._event_ids.get(keys)
        if found is None:
            found = self._event_ids[keys] = frozenset(
                value
                for key in keys
                for index in self._members[key]
                for guard in self.rules[index].guards
                for kind, field, value in guard
                if kind == "eq" and field == "eventid"
            )
        return found

    def rules_for_routes(self, routes: Sequence[str]) -> list[CompiledRule]:
        """Every rule listening on any of these route keys (for tests and `rules list`)."""
        wanted = set(routes)
        return [r for r in self.rules if wanted.intersection(r.routes)]

    def _failed(self, rule: CompiledRule, view: FieldView, exc: Exception) -> RuleEvaluationError:
        error = RuleEvaluationError(rule.info.id, view.event_id, exc)
        self.error_counts[rule.info.id] += 1
        if rule.info.id not in self.last_errors:
            log.warning("sigma rule %s (%s) raised: %s", rule.info.id, rule.info.path, error)
        self.last_errors[rule.info.id] = str(error)
        return error

    # --- reporting ----------------------------------------------------------------------------------

    def report(self) -> LoadReport:
        dirs: dict[str, DirCounts] = {name: DirCounts(files=n) for name, n in self.files.items()}
        for rule in self.rules:
            counts = dirs.setdefault(rule.info.rule_dir, DirCounts())
            counts.rules += 1
            counts.loaded += 1
        for correlation in self.correlations.rules:
            counts = dirs.setdefault(correlation.rule_dir, DirCounts())
            counts.rules += 1
            counts.correlations += 1
        reasons: Counter[str] = Counter()
        for skip in self.skipped:
            counts = dirs.setdefault(skip.rule_dir, DirCounts())
            counts.rules += 1
            counts.skipped += 1
            counts.skipped_by_reason[skip.reason.value] = counts.skipped_by_reason.get(skip.reason.value, 0) + 1
            reasons[skip.reason.value] += 1
        return LoadReport(
            loaded=len(self.rules),
            skipped=len(self.skipped),
            correlations=len(self.correlations.rules),
            dirs=dirs,
            skipped_by_reason=dict(reasons),
        )


def _compile(compiler: RuleCompiler, info: RuleInfo, rule: SigmaRule, index: int) -> CompiledRule | SkippedRule:
    route = route_rule(info.logsource)
    if route.unsupported is not None:
        return SkippedRule(
            info.id, info.title, info.path, info.rule_dir, SkipReason.UNSUPPORTED_LOGSOURCE, route.unsupported
        )
    try:
        condition = compiler.compile(rule, info.id)
    except RuleCompileError as exc:
        return SkippedRule(info.id, info.title, info.path, info.rule_dir, SkipReason(exc.reason), str(exc))
    except SigmaError as exc:  # a value pySigma accepted but cannot evaluate: a defect to fix
        return SkippedRule(info.id, info.title, info.path, info.rule_dir, SkipReason.COMPILE_ERROR, str(exc))
    return CompiledRule(index, info, condition.pred, condition.guards, route.keys, condition.source)
