"""Per-route rule index: which rules can match this event, in a few dict lookups.

Each rule offers alternative guards (see `compiler.py`); within one route the index picks, per rule,
the guard on the field most rules of the route share (so Security rules all hang on `EventID` and an
event costs one lookup), preferring exact atoms (`eq`, `base`) over substring atoms (`sub`).

`sub` atoms are indexed by one trigram of their literal: a text contains the literal only if it
contains each of its trigrams. The trigram chosen is the one least shared with other literals of the
route and not a fragment every Windows or Linux path carries (`exe`, `c:\\w`, `/us`...). An event's
field is cut into trigrams once (or, for long texts such as script blocks, each indexed trigram is
searched in it), and the rules of the trigrams found become candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from detectors.sigma.compiler import KEYWORDS, Guard
from detectors.sigma.values import basename, canon_number
from detectors.sigma.view import FieldView, Text

# Text every event of the kind carries: trigrams of these make poor index keys.
_COMMON_TEXT = (
    "c:\\windows\\system32\\", "c:\\windows\\syswow64\\", "c:\\program files (x86)\\", "c:\\programdata\\",
    "c:\\users\\", "\\appdata\\local\\temp\\", "\\appdata\\roaming\\microsoft\\windows\\", ".exe", ".dll",
    "microsoft", "windowspowershell\\v1.0\\powershell.exe", "\\software\\microsoft\\windows\\currentversion\\",
    "hklm\\", "hku\\", "\\registry\\machine\\", "\\services\\", "svchost", "/usr/bin/", "/usr/sbin/",
    "/usr/local/", "/bin/", "/tmp/", "/home/", "/var/", "/etc/", "http://", "https://", "www.", ".com",
    " -", " /", " --",
)  # fmt: skip
_COMMON_GRAMS = frozenset(t[i : i + 3] for t in _COMMON_TEXT for i in range(len(t) - 2))


class _Rule(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def guards(self) -> tuple[Guard, ...]: ...


@dataclass(slots=True)
class Bucket:
    """The rules of one route key: unguarded ones always run, guarded ones only on an atom hit."""

    always: list[int] = field(default_factory=list)
    eq: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    base: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    tri: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def candidates(self, view: FieldView) -> list[int]:
        hits: set[int] = set()
        for key, table in self.eq.items():
            for x in _strings(view.low(key)):
                found = table.get(x)
                if found:
                    hits.update(found)
                canon = canon_number(x)
                if canon is not None and canon != x and (found := table.get(canon)):
                    hits.update(found)
        for key, table in self.base.items():
            for x in _strings(view.low(key)):
                found = table.get(basename(x))
                if found:
                    hits.update(found)
        for key, table in self.tri.items():
            texts = view.ltexts() if key == KEYWORDS else _strings(view.low(key))
            _trigram_hits(texts, table, hits)
        if not hits:
            return self.always
        return [*self.always, *sorted(hits)]


def _strings(value: Text | None) -> Iterable[str]:
    if value is None:
        return ()
    return (value,) if value.__class__ is str else value  # type: ignore[return-value]


def _trigram_hits(texts: Iterable[str], table: dict[str, list[int]], hits: set[int]) -> None:
    limit = 4 * len(table)
    grams: set[str] = set()
    for text in texts:
        size = len(text)
        if size > limit:  # long text: search each indexed trigram in it instead of cutting it up
            for gram, rules in table.items():
                if gram in text:
                    hits.update(rules)
        elif size >= 3:
            grams.update(text[i : i + 3] for i in range(size - 2))
    for gram in grams:
        found = table.get(gram)
        if found:
            hits.update(found)


def build_buckets(rules: Sequence[_Rule], routes: Sequence[tuple[str, ...]]) -> dict[str, Bucket]:
    """One bucket per route key; `routes[i]` are the route keys of `rules[i]`."""
    members: dict[str, list[_Rule]] = {}
    for rule, keys in zip(rules, routes, strict=True):
        for key in keys:
            members.setdefault(key, []).append(rule)
    return {key: _bucket(group) for key, group in members.items()}


def _bucket(rules: Sequence[_Rule]) -> Bucket:
    popularity: Counter[str] = Counter()
    for rule in rules:
        popularity.update({atom[1] for guard in rule.guards for atom in guard})
    bucket = Bucket()
    chosen: list[tuple[int, Guard]] = []
    for rule in rules:
        if not rule.guards:
            bucket.always.append(rule.index)
            continue
        chosen.append((rule.index, min(rule.guards, key=lambda g: _preference(g, popularity))))
    shared = _literal_trigram_counts(guard for _, guard in chosen)
    for index, guard in chosen:
        for kind, key, value in guard:
            if kind == "sub":
                table = bucket.tri.setdefault(key, {})
                value = _rarest_trigram(value, shared.get(key, Counter()))
            else:
                table = (bucket.eq if kind == "eq" else bucket.base).setdefault(key, {})
            rules_of = table.setdefault(value, [])
            if index not in rules_of:
                rules_of.append(index)
    return bucket


def _preference(guard: Guard, popularity: Counter[str]) -> tuple[int, int, int]:
    """Exact atoms first, then the guard on the most shared field, then the fewest atoms."""
    substring = int(any(atom[0] == "sub" for atom in guard))
    return (substring, -min((popularity[atom[1]] for atom in guard), default=0), len(guard))


def _literal_trigram_counts(guards: Iterable[Guard]) -> dict[str, Counter[str]]:
    """Per field: in how many distinct literals each trigram occurs."""
    literals: dict[str, set[str]] = {}
    for guard in guards:
        for kind, key, value in guard:
            if kind == "sub":
                literals.setdefault(key, set()).add(value)
    return {key: Counter(g for lit in lits for g in _grams(lit)) for key, lits in literals.items()}


def _rarest_trigram(literal: str, shared: Counter[str]) -> str:
    return min(_grams(literal), key=lambda g: (g in _COMMON_GRAMS, not g.strip().isalnum(), shared[g], g))


def _grams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}
