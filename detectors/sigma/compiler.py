"""Compile a rule's condition tree (pySigma's parsed condition) into one generated Python function.

`SigmaCondition.parse()` gives the tree with identifiers and `1 of`/`all of` selectors (wildcards,
`them`) already resolved into AND/OR of field/value and keyword expressions. One method per node type:
AND and OR flatten, merge values of the same field into one string test (a list of `Image|endswith`
values becomes one `str.endswith(tuple)`), and put cheap tests first; NOT negates. Each node is a
Python expression written through the rule's `codegen.RuleSource` (values and field names as
constants, never as source text); the whole condition compiles to one function per rule.

Alongside the predicate each node yields *guards*: alternative sets of atoms, each set such that at
least one of its atoms holds in every matching event (`eq`: the field equals a value; `base`: a path
field's last segment equals a name; `sub`: the field contains a literal; field "" is the keyword text).
AND offers the guards of all its children, OR two unions of one guard per child (the children's best,
and their next best), NOT none. The engine indexes each rule under one or two of its guards
(`index.py`), so an event is evaluated only against rules that can possibly match it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import Placeholder, SigmaExpansion, SigmaString, SigmaType, SpecialChars

from detectors.sigma import special as sp
from detectors.sigma import values as v
from detectors.sigma.codegen import Pred, RuleSource, all_of, any_of
from detectors.sigma.errors import RuleCompileError
from detectors.sigma.view import norm_field

Atom = tuple[str, str, str]  # (kind "eq" | "base" | "sub", field key or "" for keywords, value)
Guard = frozenset[Atom]
Guards = tuple[Guard, ...]  # alternatives; () = the node cannot be guarded
_MAX_ALTERNATIVES = 12
KEYWORDS = ""  # the field key of keyword (full-text) atoms
_NOT_PENALTY = 2
_KIND_COST = {"exact": 1, "number": 1, "prefix": 2, "suffix": 2, "contains": 3, "any": 1, "regex": 6}


@dataclass(frozen=True, slots=True)
class Node:
    expr: str  # a Python expression over the rule's locals (see `codegen.RuleSource`)
    guards: Guards
    cost: float


@dataclass(frozen=True, slots=True)
class CompiledCondition:
    pred: Pred
    guards: Guards
    source: str  # the generated predicate's Python source


class RuleCompiler:
    """Stateless apart from the placeholder values (`%name%` → values) used by `|expand`."""

    def __init__(self, placeholders: Mapping[str, Sequence[str]] | None = None) -> None:
        self.placeholders = dict(placeholders or {})

    def compile(self, rule: SigmaRule, rule_id: str = "") -> CompiledCondition:
        try:
            trees = [condition.parse() for condition in rule.detection.parsed_condition]
        except SigmaError as exc:
            raise RuleCompileError(f"condition does not parse: {exc}") from exc
        src = RuleSource()
        node = self._or(src, [t for t in trees if t is not None]) if len(trees) > 1 else self.node(src, trees[0])
        pred, source = src.build(node.expr, rule_id or str(rule.id or rule.title))
        return CompiledCondition(pred, node.guards, source)

    def node(self, src: RuleSource, tree: object) -> Node:
        match tree:
            case ConditionAND(args=args):
                return self._and(src, args)
            case ConditionOR(args=args):
                return self._or(src, args)
            case ConditionNOT(args=[arg]):
                return self._not(src, arg)
            case ConditionFieldEqualsValueExpression() | ConditionValueExpression():
                return self._or(src, [tree])
            case None:
                return Node("False", (frozenset(),), 0)
        raise RuleCompileError(f"unsupported condition node {type(tree).__name__}")

    # --- boolean nodes ------------------------------------------------------------------------------

    def _not(self, src: RuleSource, arg: object) -> Node:
        # Costs its child's tests, and more: a filter (`not 1 of filter_*`) rarely matches, so under an
        # AND it almost never decides; the selection, run first, usually fails and ends the test.
        child = self.node(src, arg)
        return Node(f"(not {child.expr})", (), child.cost + _NOT_PENALTY)

    def _or(self, src: RuleSource, args: Iterable[object]) -> Node:
        by_field: dict[str, list[v.Pattern]] = {}
        keywords: list[v.Pattern] = []
        nodes: list[Node] = []
        for arg in _flatten(args, ConditionOR):
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                key = norm_field(arg.field)
                for value in self._values(arg.value):
                    if v.is_simple(value):
                        by_field.setdefault(key, []).append(v.pattern(value))
                    else:
                        nodes.append(_special(key, sp.special(src, arg.field, value), 5))
            elif isinstance(arg, ConditionValueExpression):
                for value in self._values(arg.value):
                    if v.is_simple(value):
                        keywords.append(v.pattern(value))
                    else:
                        nodes.append(_special(KEYWORDS, sp.special(src, None, value), 10))
            else:
                nodes.append(self.node(src, arg))
        for key, patterns in by_field.items():
            expr = src.on_field(key, lambda x, patterns=patterns: src.patterns(patterns, x))  # type: ignore[misc]
            nodes.append(Node(expr, _atoms(key, patterns), _cost(patterns)))
        if keywords:
            guards = _atoms(KEYWORDS, keywords, keyword=True)
            patterns = v.keyword_patterns(keywords)
            expr = src.on_fulltext(lambda x: src.patterns(patterns, x))
            nodes.append(Node(expr, guards, 8 + _cost(keywords)))
        if len(nodes) == 1:
            return nodes[0]
        nodes.sort(key=lambda n: n.cost)
        union: Guards = ()
        if all(n.guards for n in nodes):
            ranked = [sorted(n.guards, key=_guard_rank) for n in nodes]
            # Any one guard per child makes a guard of the OR: the children's best, and their next best.
            union = tuple(dict.fromkeys(frozenset().union(*(r[min(k, len(r) - 1)] for r in ranked)) for k in (0, 1)))
        return Node(any_of([n.expr for n in nodes]), union, sum(n.cost for n in nodes))

    def _and(self, src: RuleSource, args: Iterable[object]) -> Node:
        by_field: dict[str, list[list[v.Pattern]]] = {}
        nodes: list[Node] = []
        for arg in _flatten(args, ConditionAND):
            if isinstance(arg, ConditionFieldEqualsValueExpression):
                values = self._values(arg.value)
                if values and all(v.is_simple(x) for x in values):
                    by_field.setdefault(norm_field(arg.field), []).append([v.pattern(x) for x in values])
                    continue
            nodes.append(self.node(src, arg))
        for key, groups in by_field.items():
            if len(groups) == 1:
                patterns = groups[0]
                expr = src.on_field(key, lambda x, patterns=patterns: src.patterns(patterns, x))  # type: ignore[misc]
                nodes.append(Node(expr, _atoms(key, patterns), _cost(patterns)))
            else:
                tests = [lambda x, g=g: src.patterns(g, x) for g in groups]
                guards = tuple(g for group in groups for g in _atoms(key, group))
                nodes.append(Node(src.on_field_all(key, tests), guards, sum(_cost(g) for g in groups)))
        if len(nodes) == 1:
            return nodes[0]
        nodes.sort(key=lambda n: n.cost)
        alternatives = tuple(dict.fromkeys(g for n in nodes for g in n.guards))
        alternatives = tuple(sorted(alternatives, key=_guard_rank))[:_MAX_ALTERNATIVES]
        return Node(all_of([n.expr for n in nodes]), alternatives, sum(n.cost for n in nodes))

    # --- values -------------------------------------------------------------------------------------

    def _values(self, value: SigmaType) -> list[SigmaType]:
        """A value as the OR-list of alternatives it stands for (expansions and placeholders opened)."""
        if isinstance(value, SigmaExpansion):
            return [x for item in value.values for x in self._values(item)]
        if isinstance(value, SigmaString) and value.contains_placeholder():
            return list(value.replace_placeholders(self._placeholder))
        return [value]

    def _placeholder(self, placeholder: Placeholder) -> Iterator[str | SpecialChars | Placeholder | SigmaString]:
        found = self.placeholders.get(placeholder.name)
        if not found:
            raise RuleCompileError(
                f"placeholder %{placeholder.name}% has no configured values", reason="unresolved-placeholder"
            )
        return iter(found)


def _special(key: str, special: sp.Special, cost: float) -> Node:
    return Node(special.expr, tuple(frozenset({("sub", key, need)}) for need in special.needs if indexable(need)), cost)


def _flatten(args: Iterable[object], kind: type) -> list[object]:
    out: list[object] = []
    for arg in args:
        if isinstance(arg, kind):
            out.extend(_flatten(arg.args, kind))  # type: ignore[attr-defined]
        elif arg is not None:
            out.append(arg)
    return out


def _atoms(key: str, patterns: Sequence[v.Pattern], *, keyword: bool = False) -> Guards:
    """The guard of "any of these patterns on this field": one atom per pattern, or none at all."""
    atoms: set[Atom] = set()
    for p in patterns:
        if p.kind == "number":
            if keyword:
                return ()
            atoms.add(("eq", key, p.text))
        elif p.kind == "exact" and not keyword:
            atoms.add(("eq", key, p.text))
        elif p.kind == "suffix" and not keyword and any(sep in p.text for sep in v.SEPARATORS) and v.basename(p.text):
            atoms.add(("base", key, v.basename(p.text)))
        elif indexable(p.needed()):
            atoms.add(("sub", key, p.needed()))
        else:
            return ()
    return (frozenset(atoms),)


def indexable(literal: str) -> bool:
    """A literal the index can look for: two characters and more, or one that is rare in a text (not
    ASCII: an emoji, a Cyrillic homoglyph, U+202E; or ASCII punctuation such as a backtick or a caret).
    The automaton finds any length, but a letter, a digit, a space or a path separator is in nearly
    every text, and each occurrence is a hit to handle."""
    return len(literal) >= 2 or (literal != "" and (not literal.isascii() or literal in _RARE_CHARACTERS))


_RARE_CHARACTERS = frozenset("`^|~$%{}[]<>&;!@#*+?")


def atom_weight(atom: Atom) -> float:
    """How often the atom is expected to hold, relative to an `eq` atom: what choosing a guard weighs.

    A field equal to a value, or a path ending in a file name, is rare; so is a long literal. A short
    one is not: `.exe` is in most process-creation events, `-encodedcommand` in few. Literals with a
    character that is not ASCII are rare whatever their length.
    """
    kind, _key, value = atom
    if kind != "sub" or not value.isascii():
        return 1.0
    return float(2 ** max(0, 6 - len(value)))


def _guard_rank(guard: Guard) -> tuple[float, int]:
    return (sum(atom_weight(a) for a in guard), len(guard))


def _cost(patterns: Sequence[v.Pattern]) -> float:
    return max(_KIND_COST[p.kind] for p in patterns) + 0.05 * len(patterns)
