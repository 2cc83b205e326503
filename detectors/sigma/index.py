"""Per-route-set rule index: which rules can match this event, in a few dict lookups.

The engine builds one index per set of route keys an event has (`win:*` + `win:security`...) and, for
Windows events, per EventID the rules name, so each field is looked up once per event. Each rule offers
alternative guards (see `compiler.py`), every one of which holds in every match; within one index the
index picks, per rule, the guard whose atoms are expected to hold least often, weighed by how many rules
share them (`CommandLine` contains `-encodedcommand` rather than `Image` ends with `\\powershell.exe`),
moves rules off fields that would be looked up for only a few rules onto fields already looked up, and
adds a second guard on those fields: a rule is a candidate only when both have a hit.

`sub` atoms ("the field contains this literal") are indexed by one Aho-Corasick automaton per field
(ahocorasick-rs, Rust): a single pass over the event's text reports every literal that occurs in it,
each mapped to the rules hanging on it, so only the rules whose literal is really there become
candidates. (A trigram index with an `in` check per literal did this before, at ~300 µs per
process-creation event for the 3,254 CommandLine literals of SigmaHQ; pyahocorasick's pass took 9.4 µs
per 4688 command line, this one 2.7 µs.) A field with only a few literals keeps them in a tuple, one
`in` each: cheaper than an automaton pass over the text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol

import ahocorasick_rs

from detectors.sigma.codegen import canon_cached
from detectors.sigma.compiler import KEYWORDS, Atom, Guard, Guards, atom_weight
from detectors.sigma.view import LAZY_WINDOWS_FIELDS, FieldView


class _Rule(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def guards(self) -> tuple[Guard, ...]: ...


class Bucket:
    """The rules of one route set: unguarded ones always run, guarded ones only on an atom hit."""

    __slots__ = ("always", "eq", "base", "sub", "second", "_fields", "_keys", "_lazy_keys", "_keywords")

    def __init__(self) -> None:
        self.always: list[int] = []
        self.second: frozenset[int] = frozenset()  # rules also indexed under a second guard
        self.eq: dict[str, dict[str, list[int]]] = {}
        self.base: dict[str, dict[str, list[int]]] = {}
        self.sub: dict[str, Any] = {}  # field → its literals and their rules (`_substrings`)
        # field → (eq table, base table, literals, whether the eq table holds numbers)
        self._fields: dict[str, tuple[Any, Any, Any, bool]] = {}
        self._keys: frozenset[str] = frozenset()
        self._lazy_keys: frozenset[str] = frozenset()
        self._keywords: Any = None  # the keyword (full-text) literals

    def seal(self) -> None:
        """Record the indexed fields (call once the tables are filled)."""
        self._keys = frozenset({*self.eq, *self.base, *self.sub} - {KEYWORDS})
        self._lazy_keys = frozenset(k for k in self._keys if k in LAZY_WINDOWS_FIELDS or "." in k)
        self._fields = {
            k: (self.eq.get(k), self.base.get(k), self.sub.get(k), any(canon_cached(v) for v in self.eq.get(k, ())))
            for k in self._keys
        }
        self._keywords = self.sub.get(KEYWORDS)

    def candidates(self, view: FieldView) -> list[int]:
        """Indexes of the rules that can match this event, in rule order."""
        hits: set[int] = set()
        lows = view.lows
        fields = self._fields
        # A Windows view holds all its fields: look up only the indexed ones this event has (a C set operation).
        present: Any = self._keys
        if view.closed:
            present = self._keys & view.values.keys()
            if self._lazy_keys:
                present |= self._lazy_keys
        for key in present:
            s = lows[key]
            if s is None:
                continue
            eq, base, literals, numeric = fields[key]
            for x in (s,) if s.__class__ is str else s:
                if eq is not None:
                    if found := eq.get(x):
                        hits.update(found)
                    if numeric and (x[:1].isdigit() or x[:1] == "-"):  # numbers compare by value: 0x10 == 16
                        canon = canon_cached(x)
                        if canon is not None and canon != x and (found := eq.get(canon)):
                            hits.update(found)
                if base is not None and (found := base.get(x[max(x.rfind("\\"), x.rfind("/")) + 1 :])):
                    hits.update(found)  # the last path segment
                if literals is not None:
                    _substring_hits(literals, x, hits)
        if self._keywords is not None:
            _substring_hits(self._keywords, view.lfulltext(), hits)
        if not hits:
            return self.always
        if self.second:  # a rule with a second guard needs a hit on it too (its token is ~index)
            second = self.second
            hits = {i for i in hits if i >= 0 and (i not in second or ~i in hits)}
            if not hits:
                return self.always
        hits.update(self.always)
        return sorted(hits)


def _substring_hits(literals: Any, text: str, hits: set[int]) -> None:
    """Add the rules of every literal that occurs in the text (see `_substrings`)."""
    if literals.__class__ is tuple:
        for shared, group in literals:
            if shared in text:  # every literal of the group contains it
                for literal, rules in group:
                    if literal in text:
                        hits.update(rules)
    else:
        automaton, rules_of = literals
        for found, _start, _end in automaton.find_matches_as_indexes(text, overlapping=True):
            hits.update(rules_of[found])


def build_bucket(rules: Sequence[_Rule], known: Mapping[str, frozenset[str]] | None = None) -> Bucket:
    """The index of the rules one route set listens to: each rule under the alternative guard whose atoms
    are expected to hold least often, weighed by how many rules share them, and a second guard.

    An atom many rules hang on (`Image` ends with `\\powershell.exe`) is one many events carry too; a rare
    one (`CommandLine` contains `-encodedcommand`) keeps the candidate list short.

    `known`: fields whose value every event of this index has (a Windows event's `EventID`), as the
    forms `eq` atoms write it (an empty set: a value no atom names). Rules that cannot match it are left
    out, and guards it decides are dropped (see `given`).
    """
    guards_of: dict[int, Guards] = {}
    for rule in rules:
        found = given(rule.guards, known) if known else rule.guards
        if found is not None:
            guards_of[rule.index] = found
    popularity: Counter[Atom] = Counter()
    for guards in guards_of.values():
        popularity.update({atom for guard in guards for atom in guard})

    def weight(guard: Guard) -> tuple[float, int]:
        return (sum(popularity[a] * atom_weight(a) for a in guard), len(guard))

    bucket = Bucket()
    chosen: dict[int, Guard] = {}
    for index, guards in guards_of.items():
        if not guards:
            bucket.always.append(index)
        else:
            chosen[index] = min(guards, key=weight)
    _fewer_fields(chosen, {index: list(guards) for index, guards in guards_of.items()})

    # A second guard per rule, from the lookups the first guards make anyway: every guard holds in every
    # matching event, so a rule is a candidate only when both have a hit (`cmd.exe` AND `/c copy`).
    looked_up = {(kind, key) for guard in chosen.values() for kind, key, _ in guard}
    second: dict[int, Guard] = {}
    for index, guard in chosen.items():
        others = [g for g in guards_of[index] if g != guard and all((k, f) in looked_up for k, f, _ in g)]
        if others:
            second[index] = min(others, key=weight)
    literals: dict[str, dict[str, list[int]]] = {}
    tokens = [(guard, index) for index, guard in chosen.items()] + [(g, ~index) for index, g in second.items()]
    for guard, token in tokens:
        for kind, key, value in guard:
            table = literals if kind == "sub" else bucket.eq if kind == "eq" else bucket.base
            rules_of = table.setdefault(key, {}).setdefault(value, [])
            if token not in rules_of:
                rules_of.append(token)
    bucket.sub = {key: _substrings(by_literal, long_text=key == KEYWORDS) for key, by_literal in literals.items()}
    bucket.second = frozenset(second)
    bucket.seal()
    return bucket


def given(guards: Guards, known: Mapping[str, frozenset[str]]) -> Guards | None:
    """A rule's guards once some fields' values are known; None when the rule cannot match.

    A guard with an `eq` atom that holds tells nothing more (it is dropped: a rule left without guards
    is always a candidate); `eq` atoms on a known field that do not hold are removed, and a guard left
    with no atom means no matching event exists (every matching event holds one of its atoms).
    """
    out: list[Guard] = []
    for guard in guards:
        if any(kind == "eq" and value in known.get(key, ()) for kind, key, value in guard):
            continue
        kept = [atom for atom in guard if atom[0] != "eq" or atom[1] not in known]
        if not kept:
            return None
        out.append(frozenset(kept))
    return tuple(out)


_FEW_LITERALS = 24  # up to this many literals, one `in` per literal beats an automaton pass (measured)


def _substrings(by_literal: dict[str, list[int]], *, long_text: bool = False) -> Any:
    """What finds a field's literals: (literal, rules) groups for a few, else an Aho-Corasick automaton.

    The automaton's pass costs by the character, each `in` by the scan: a long text (an event's keyword
    full text, ~400 characters) makes even 20 literals cheaper to find in one pass (2.5 vs 3.5 µs). A
    deterministic automaton is the fastest pass but grows with the literals: kept for small sets.
    """
    if len(by_literal) <= _FEW_LITERALS and not long_text:
        return _grouped([(literal, tuple(rules)) for literal, rules in by_literal.items()])
    implementation = ahocorasick_rs.Implementation.DFA if len(by_literal) <= _SMALL_DFA else None
    automaton = ahocorasick_rs.AhoCorasick(
        list(by_literal), matchkind=ahocorasick_rs.MATCHKIND_STANDARD, implementation=implementation
    )
    return _Automaton(automaton, tuple(tuple(rules) for rules in by_literal.values()))


_SMALL_DFA = 100  # literals up to which the automaton is a DFA


class _Automaton(NamedTuple):
    automaton: ahocorasick_rs.AhoCorasick  # reports the index of each literal found (overlaps included)
    rules_of: tuple[tuple[int, ...], ...]  # literal index → the rules hanging on it


_MIN_GROUP = 3  # literals sharing a two-character substring that are checked behind one `in` for it


_Literal = tuple[str, tuple[int, ...]]  # a literal and the rules hanging on it


def _grouped(pairs: list[_Literal]) -> tuple[tuple[str, tuple[_Literal, ...]], ...]:
    """Few literals as groups behind a substring they all contain (`::` for `sekurlsa::`, `lsadump::`...):
    a text without it skips the whole group in one scan. Ungrouped literals sit behind "" (always in)."""
    groups: list[tuple[str, tuple[_Literal, ...]]] = []
    rest = pairs
    while len(rest) >= _MIN_GROUP:
        shares = Counter(pair for literal, _ in rest for pair in {literal[i : i + 2] for i in range(len(literal) - 1)})
        shared, count = max(shares.items(), key=lambda kv: (kv[1], kv[0]), default=("", 0))
        if count < _MIN_GROUP:
            break
        groups.append((shared, tuple(p for p in rest if shared in p[0])))
        rest = [p for p in rest if shared not in p[0]]
    if rest:
        groups.append(("", tuple(rest)))
    return tuple(groups)


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
