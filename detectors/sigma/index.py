"""Per-route rule index: which rules can match this event, in a few dict lookups.

Each rule offers alternative guards (see `compiler.py`); within one route the index picks, per rule,
the guard whose atoms the fewest other rules share (`CommandLine` contains `-encodedcommand` rather than
`Image` ends with `\\powershell.exe`), then moves rules off fields that would be looked up for only a
few rules onto fields already looked up (Security rules end up on `EventID`: one lookup per event).

`sub` atoms ("the field contains this literal") are indexed by one Aho-Corasick automaton per field
(pyahocorasick, C): a single pass over the event's text reports every literal that occurs in it, each
mapped to the rules hanging on it, so only the rules whose literal is really there become candidates.
(A trigram index with an `in` check per literal did this before, at ~300 µs per process-creation event
for the 3,254 CommandLine literals of SigmaHQ.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import ahocorasick

from detectors.sigma.compiler import KEYWORDS, Atom, Guard
from detectors.sigma.values import basename, canon_number
from detectors.sigma.view import LAZY_WINDOWS_FIELDS, FieldView


class _Rule(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def guards(self) -> tuple[Guard, ...]: ...


class Bucket:
    """The rules of one route key: unguarded ones always run, guarded ones only on an atom hit."""

    __slots__ = ("always", "eq", "base", "sub", "_keys", "_lazy_keys", "_keywords")

    def __init__(self) -> None:
        self.always: list[int] = []
        self.eq: dict[str, dict[str, list[int]]] = {}
        self.base: dict[str, dict[str, list[int]]] = {}
        self.sub: dict[str, Any] = {}  # field → ahocorasick.Automaton: literal → rule indexes
        self._keys: frozenset[str] = frozenset()
        self._lazy_keys: frozenset[str] = frozenset()
        self._keywords: Any = None  # the automaton of keyword (full-text) literals

    def seal(self) -> None:
        """Record the indexed fields (call once the tables are filled)."""
        self._keys = frozenset({*self.eq, *self.base, *self.sub} - {KEYWORDS})
        self._lazy_keys = frozenset(k for k in self._keys if k in LAZY_WINDOWS_FIELDS or "." in k)
        self._keywords = self.sub.get(KEYWORDS)

    def candidates(self, view: FieldView) -> list[int]:
        hits: set[int] = set()
        low = view.low
        eq, base, sub = self.eq, self.base, self.sub
        # A Windows view holds all its fields: look up only the indexed ones this event has (a C set operation).
        present = (self._keys & view.values.keys()) | self._lazy_keys if view.closed else self._keys
        for key in present:
            s = low(key)
            if s is None:
                continue
            texts: tuple[str, ...] = (s,) if s.__class__ is str else s  # type: ignore[assignment]
            if (table := eq.get(key)) is not None:
                for x in texts:
                    found = table.get(x)
                    if found:
                        hits.update(found)
                    if x[:1].isdigit() or x[:1] == "-":  # numbers compare by value: 0x10 == 16
                        canon = canon_number(x)
                        if canon is not None and canon != x and (found := table.get(canon)):
                            hits.update(found)
            if (names := base.get(key)) is not None:
                for x in texts:
                    found = names.get(basename(x))
                    if found:
                        hits.update(found)
            if (automaton := sub.get(key)) is not None:
                _substring_hits(texts, automaton, hits)
        if self._keywords is not None:
            _substring_hits((view.lfulltext(),), self._keywords, hits)
        if not hits:
            return self.always
        return [*self.always, *sorted(hits)]


def _substring_hits(texts: Iterable[str], automaton: Any, hits: set[int]) -> None:
    """Add every rule whose literal occurs in one of the texts (one automaton pass per text)."""
    for text in texts:
        for _end, rules in automaton.iter(text):
            hits.update(rules)


def build_buckets(rules: Sequence[_Rule], routes: Sequence[tuple[str, ...]]) -> dict[str, Bucket]:
    """One bucket per route key; `routes[i]` are the route keys of `rules[i]`."""
    members: dict[str, list[_Rule]] = {}
    for rule, keys in zip(rules, routes, strict=True):
        for key in keys:
            members.setdefault(key, []).append(rule)
    return {key: _bucket(group) for key, group in members.items()}


def _bucket(rules: Sequence[_Rule]) -> Bucket:
    """Index each rule under the alternative guard whose atoms the fewest other rules share.

    An atom many rules hang on (`Image` ends with `\\powershell.exe`) is one many events carry too; a rare
    one (`CommandLine` contains `-encodedcommand`) keeps the candidate list short.
    """
    popularity: Counter[Atom] = Counter()
    for rule in rules:
        popularity.update({atom for guard in rule.guards for atom in guard})
    bucket = Bucket()
    chosen: dict[int, Guard] = {}
    for rule in rules:
        if not rule.guards:
            bucket.always.append(rule.index)
        else:
            chosen[rule.index] = min(rule.guards, key=lambda g: (sum(popularity[a] for a in g), len(g)))
    _fewer_fields(chosen, {rule.index: list(rule.guards) for rule in rules})
    literals: dict[str, dict[str, list[int]]] = {}
    for index, guard in chosen.items():
        for kind, key, value in guard:
            table = literals if kind == "sub" else bucket.eq if kind == "eq" else bucket.base
            rules_of = table.setdefault(key, {}).setdefault(value, [])
            if index not in rules_of:
                rules_of.append(index)
    bucket.sub = {key: _automaton(by_literal) for key, by_literal in literals.items()}
    bucket.seal()
    return bucket


def _automaton(by_literal: dict[str, list[int]]) -> Any:
    automaton = ahocorasick.Automaton()
    for literal, rules in by_literal.items():
        automaton.add_word(literal, tuple(rules))
    automaton.make_automaton()
    return automaton


_MIN_FIELD_RULES = 4  # a field looked up on every event of the route should serve at least this many rules


def _fewer_fields(chosen: dict[int, Guard], options: dict[int, list[Guard]]) -> None:
    """Move rules off fields that few rules use onto fields already looked up, where they can.

    Each indexed field costs a lookup on every event of the route; a handful of extra candidates on a
    shared field (`EventID`) is cheaper than a field looked up for one rule.
    """
    while True:
        users: Counter[tuple[str, str]] = Counter()
        for guard in chosen.values():
            users.update({(kind, key) for kind, key, _ in guard})
        moved = False
        for index, guard in chosen.items():
            if all(users[(kind, key)] >= _MIN_FIELD_RULES for kind, key, _ in guard):
                continue
            better = [
                g for g in options[index]
                if g != guard and all(users[(kind, key)] >= _MIN_FIELD_RULES for kind, key, _ in g)
            ]  # fmt: skip
            if better:
                chosen[index] = min(better, key=len)
                moved = True
        if not moved:
            return
