"""Sigma correlation rules (spec v2.1) as typed values: parsed with pySigma, references resolved.

pySigma 1.5 parses the correlation section (type, rules, group-by, timespan, aliases, generate) and the
rule metadata; two things it gets wrong for us are read from the document itself:
- a range condition (`gt: 100` and `lte: 200`, allowed by the spec) is refused by pySigma, which wants
  exactly one operator, so pySigma is handed the first operator only and the full condition is ours;
- pySigma truncates thresholds to integers, while `value_sum`/`value_avg` compare numbers.

References (`rules:` and the rule keys under `aliases:`) name a rule by id or by `name`; a name is
looked up in the same file first (the spec's multi-document layout), then among all loaded rules.
A correlation may reference another correlation; `CorrelationSet.rules` is in dependency order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation

from detectors.sigma.loader import CorrelationSource, RuleInfo, SkippedRule, SkipReason


class CorrelationType(StrEnum):
    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    VALUE_SUM = "value_sum"
    VALUE_AVG = "value_avg"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


# Spec types with a field under `condition`.
FIELD_TYPES = frozenset({CorrelationType.VALUE_COUNT, CorrelationType.VALUE_SUM, CorrelationType.VALUE_AVG})


class Op(StrEnum):
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
    NEQ = "neq"


_TESTS = {
    Op.GT: float.__gt__,
    Op.GTE: float.__ge__,
    Op.LT: float.__lt__,
    Op.LTE: float.__le__,
    Op.EQ: float.__eq__,
    Op.NEQ: float.__ne__,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """One or more bounds, all of which must hold (`gt: 100` + `lte: 200` is the range 101..200)."""

    bounds: tuple[tuple[Op, float], ...]
    # True when the outcome is only known once the window is complete (an upper bound, eq, neq): a
    # sliding window ending at each event passes through every count below the final one, so "eq 5"
    # or "lt 5" decided on an event would fire on the way up to any larger count.
    at_close: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "at_close", any(op not in (Op.GT, Op.GTE) for op, _ in self.bounds))

    def holds(self, value: float) -> bool:
        value = float(value)
        for op, limit in self.bounds:  # noqa: SIM110 (per event: a loop beats all() on a generator)
            if not _TESTS[op](value, limit):
                return False
        return True

    def __str__(self) -> str:
        return " and ".join(f"{op.value} {limit:g}" for op, limit in self.bounds)


@dataclass(frozen=True, slots=True)
class CorrelationRule:
    """A correlation rule. `rules` and the keys of `aliases` hold references as written until
    `resolve_correlations` replaces them with rule ids (`resolved`)."""

    id: str
    title: str
    name: str | None
    type: CorrelationType
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan: timedelta
    condition: Condition
    fields: tuple[str, ...]  # value_* types: the field(s) under `condition`; several are one tuple value
    aliases: Mapping[str, Mapping[str, str]]  # alias → rule reference → field name in that rule's events
    generate: bool
    level: str | None
    tags: tuple[str, ...]
    version: str | None
    path: str
    rule_dir: str
    resolved: bool = False

    def field_for(self, name: str, rule_id: str) -> str:
        """The event field behind a group-by (or condition) field for events of one referenced rule."""
        return self.aliases.get(name, {}).get(rule_id, name)

    def describe(self) -> str:
        what = f"{self.type.value}({','.join(self.fields)})" if self.fields else self.type.value
        return f"{what} {self.condition} within {span_text(self.timespan)}"


@dataclass(frozen=True, slots=True)
class CorrelationSet:
    """Resolved correlation rules, in dependency order (a rule after every correlation it references)."""

    rules: tuple[CorrelationRule, ...] = ()
    skipped: tuple[SkippedRule, ...] = ()
    quiet: frozenset[str] = field(default_factory=frozenset)

    @property
    def base_rule_ids(self) -> frozenset[str]:
        """Detection rules the correlations count: the engine must evaluate them even with `generate: false`."""
        correlations = {r.id for r in self.rules}
        return frozenset(ref for r in self.rules for ref in r.rules if ref not in correlations)

    def suppresses(self, rule_id: str) -> bool:
        """Whether a rule's own alerts are suppressed: every correlation that uses it has `generate: false`."""
        return rule_id in self.quiet


# --- parsing ------------------------------------------------------------------------------------------

_UNSUPPORTED_TYPES = {"value_percentile", "value_median", "temporal_extended", "temporal_ordered_extended"}


def parse_correlation(source: CorrelationSource) -> CorrelationRule | SkippedRule:
    """One correlation document; a document pySigma refuses or Vigil cannot run becomes a `SkippedRule`."""
    doc, path, label = source.doc, Path(source.path), source.rule_dir
    section = doc.get("correlation")
    title = str(doc.get("title") or path.stem)
    # Without an id, the name (or file and title: several correlations may share a file) keys alerts.
    rule_id = str(doc.get("id") or doc.get("name") or f"{path.stem}:{title}")

    def skipped(reason: SkipReason, detail: str) -> SkippedRule:
        return SkippedRule(rule_id, title, str(path), label, reason, detail)

    if not isinstance(section, dict):
        return skipped(SkipReason.PARSE_ERROR, "`correlation` must be a mapping")
    kind = str(section.get("type") or "")
    if not kind:  # checked here: pySigma 1.5 fails with UnboundLocalError on a correlation without type
        return skipped(SkipReason.PARSE_ERROR, "correlation rule without `type`")
    if kind in _UNSUPPORTED_TYPES:
        return skipped(SkipReason.UNSUPPORTED_CORRELATION, f"correlation type {kind} is not evaluated by Vigil")
    raw_condition = section.get("condition")
    if isinstance(raw_condition, str):
        return skipped(
            SkipReason.UNSUPPORTED_CORRELATION,
            "extended (boolean) correlation conditions are a pySigma extension, not Sigma correlation spec 2.1",
        )
    try:
        condition = _condition(raw_condition)
        sigma = SigmaCorrelationRule.from_dict(
            _for_pysigma(doc, raw_condition), collect_errors=True, source=SigmaRuleLocation(path)
        )
    except (SigmaError, ValueError, TypeError) as exc:
        return skipped(SkipReason.PARSE_ERROR, f"{type(exc).__name__}: {exc}")
    if sigma.errors:
        return skipped(SkipReason.PARSE_ERROR, "; ".join(f"{type(e).__name__}: {e}" for e in sigma.errors))
    ctype = CorrelationType(sigma.type.name.lower())
    refs = tuple(r.reference for r in sigma.rules or ())
    if condition is None:  # temporal types: all referenced rules (pySigma's default too)
        condition = Condition(((Op.GTE, float(len(refs))),))
    fields = _fields(sigma.condition) if ctype in FIELD_TYPES else ()
    return CorrelationRule(
        id=rule_id,
        title=sigma.title or title,
        name=sigma.name,
        type=ctype,
        rules=refs,
        group_by=tuple(sigma.group_by or ()),
        timespan=timedelta(seconds=sigma.timespan.seconds),
        condition=condition,
        fields=fields,
        aliases={a.alias: {ref.reference: name for ref, name in a.mapping.items()} for a in sigma.aliases},
        generate=bool(sigma.generate),
        level=sigma.level.name.lower() if sigma.level else None,
        tags=tuple(str(t) for t in sigma.tags),
        version=stamp.isoformat() if (stamp := sigma.modified or sigma.date) else None,
        path=str(path),
        rule_dir=label,
    )


def _condition(raw: Any) -> Condition | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("correlation condition must be a mapping of operators to numbers")
    bounds: list[tuple[Op, float]] = []
    for key, value in raw.items():
        if key in ("field", "percentile"):
            continue
        if key not in Op.__members__.values():
            raise ValueError(f"unknown correlation condition operator {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"correlation condition {key}: {value!r} is not a number")
        bounds.append((Op(key), float(value)))
    if not bounds:
        raise ValueError("correlation condition has no operator")
    return Condition(tuple(bounds))


def _for_pysigma(doc: dict[str, Any], raw_condition: Any) -> dict[str, Any]:
    """The document with a range condition cut to its first operator, which pySigma accepts."""
    if not isinstance(raw_condition, dict):
        return doc
    ops = [k for k in raw_condition if k in Op.__members__.values()]
    if len(ops) <= 1:
        return doc
    kept = {k: v for k, v in raw_condition.items() if k not in ops[1:]}
    return {**doc, "correlation": {**doc["correlation"], "condition": kept}}


def _fields(condition: Any) -> tuple[str, ...]:
    ref = condition.fieldref if isinstance(condition, SigmaCorrelationCondition) else None
    if ref is None:
        return ()
    return (ref,) if isinstance(ref, str) else tuple(str(f) for f in ref)


def span_text(span: timedelta) -> str:
    """A timespan the way Sigma writes it (`90m`, `1h`, `10s`)."""
    seconds = int(span.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- resolution ---------------------------------------------------------------------------------------


def resolve_correlations(parsed: Sequence[CorrelationRule], detections: Iterable[RuleInfo]) -> CorrelationSet:
    """Resolve references against the compiled detection rules and the other correlations.

    A correlation whose reference is missing (or names a rule that was skipped), ambiguous, or part of
    a reference cycle is skipped with the reason; correlations built on a skipped one are skipped too.
    """
    infos = list(detections)
    index = _Index(infos, parsed)
    resolved: dict[str, CorrelationRule] = {}
    skipped: dict[str, SkippedRule] = {}
    seen = {info.id.lower() for info in infos}
    for rule in parsed:
        if rule.id.lower() in seen:  # alerts and checkpointed state are keyed by the rule id
            skipped[rule.id + "#duplicate"] = SkippedRule(
                rule.id, rule.title, rule.path, rule.rule_dir, SkipReason.PARSE_ERROR, "rule id used by another rule"
            )
            continue
        seen.add(rule.id.lower())
        problem = index.problem(rule)
        if problem is not None:
            skipped[rule.id] = SkippedRule(
                rule.id, rule.title, rule.path, rule.rule_dir, SkipReason.UNRESOLVED_REFERENCE, problem
            )
        else:
            resolved[rule.id] = index.resolved(rule)
    ordered = _dependency_order(resolved, skipped)
    tags = {info.id: info.tags for info in infos}
    for i, rule in enumerate(ordered):  # dependency order: a referenced correlation already has its tags
        ordered[i] = _with_tags(rule, tags)
        tags[rule.id] = ordered[i].tags
    return CorrelationSet(tuple(ordered), tuple(skipped.values()), _quiet(ordered))


class _Index:
    def __init__(self, detections: Sequence[RuleInfo], correlations: Sequence[CorrelationRule]) -> None:
        self.ids = {i.id.lower(): i.id for i in detections} | {c.id.lower(): c.id for c in correlations}
        self.by_name: dict[str, list[tuple[str, str]]] = {}  # name → [(path, id)]
        for path, name, rule_id in [(i.path, i.name, i.id) for i in detections] + [
            (c.path, c.name, c.id) for c in correlations
        ]:
            if name:
                self.by_name.setdefault(name, []).append((path, rule_id))

    def lookup(self, ref: str, path: str) -> str | None:
        found = self.ids.get(ref.lower())
        if found is not None:
            return found
        candidates = self.by_name.get(ref, [])
        local = [rule_id for p, rule_id in candidates if p == path]
        if len(local) == 1:
            return local[0]
        return candidates[0][1] if len(candidates) == 1 else None

    def problem(self, rule: CorrelationRule) -> str | None:
        refs = [*rule.rules, *(ref for mapping in rule.aliases.values() for ref in mapping)]
        for ref in refs:
            if self.lookup(ref, rule.path) is None:
                many = len(self.by_name.get(ref, [])) > 1
                return f"rule reference {ref!r} is {'ambiguous' if many else 'not a loaded rule id or name'}"
        if not rule.rules:
            return "no referenced rules"
        return None

    def resolved(self, rule: CorrelationRule) -> CorrelationRule:
        def ref(name: str) -> str:
            found = self.lookup(name, rule.path)
            assert found is not None  # checked by problem()
            return found

        aliases = {alias: {ref(r): f for r, f in mapping.items()} for alias, mapping in rule.aliases.items()}
        return replace(rule, rules=tuple(ref(r) for r in rule.rules), aliases=aliases, resolved=True)


def quiet_rules(sources: Sequence[CorrelationSource], detections: Iterable[RuleInfo]) -> frozenset[str]:
    """The detection rules that only feed correlations with `generate: false`: never alerts on their own,
    also where no correlation runs (the hunts over Elasticsearch)."""
    parsed = [found for found in map(parse_correlation, sources) if isinstance(found, CorrelationRule)]
    return resolve_correlations(parsed, detections).quiet


def _dependency_order(resolved: dict[str, CorrelationRule], skipped: dict[str, SkippedRule]) -> list[CorrelationRule]:
    """Topological order; rules in a cycle or built on a skipped correlation move to `skipped`."""
    order: list[CorrelationRule] = []
    state: dict[str, str] = {}  # id → "visiting" | "done" | "bad"

    def visit(rule_id: str) -> bool:
        if rule_id in skipped:
            return False
        if rule_id not in resolved:
            return True  # a detection rule
        mark = state.get(rule_id)
        if mark == "done":
            return True
        rule = resolved[rule_id]
        if mark == "visiting":
            skipped[rule_id] = _bad(rule, "reference cycle between correlation rules")
            return False
        state[rule_id] = "visiting"
        for ref in rule.rules:
            if not visit(ref):
                if rule_id not in skipped:
                    skipped[rule_id] = _bad(rule, f"referenced correlation {ref} was skipped")
                state[rule_id] = "bad"
                return False
        state[rule_id] = "done"
        order.append(rule)
        return True

    for rule_id in resolved:
        visit(rule_id)
    return [r for r in order if r.id not in skipped]


def _bad(rule: CorrelationRule, detail: str) -> SkippedRule:
    return SkippedRule(rule.id, rule.title, rule.path, rule.rule_dir, SkipReason.UNRESOLVED_REFERENCE, detail)


def _with_tags(rule: CorrelationRule, tags: Mapping[str, tuple[str, ...]]) -> CorrelationRule:
    """A correlation without tags of its own carries those of the rules it counts (ATT&CK coverage)."""
    if rule.tags:
        return rule
    return replace(rule, tags=tuple(dict.fromkeys(t for ref in rule.rules for t in tags.get(ref, ()))))


def _quiet(rules: Sequence[CorrelationRule]) -> frozenset[str]:
    """Rules referenced only by correlations with `generate: false` (the spec's default) stay silent."""
    users: dict[str, list[bool]] = {}
    for rule in rules:
        for ref in rule.rules:
            users.setdefault(ref, []).append(rule.generate)
    return frozenset(ref for ref, generates in users.items() if not any(generates))
