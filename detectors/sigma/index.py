"""Per-route rule index: which rules can match this event, in a few dict lookups.

Each rule offers alternative guards (see `compiler.py`); within one route the index picks, per rule,
the guard whose atoms the fewest other rules share (`CommandLine` contains `-encodedcommand` rather than
`Image` ends with `\\powershell.exe`), then moves rules off fields that would be looked up for only a
few rules onto fields already looked up (Security rules end up on `EventID`: one lookup per event).

`sub` atoms are indexed by one trigram of their literal: a text contains the literal only if it
contains each of its trigrams. The trigram chosen is the one least shared with other literals of the
route and not a fragment every Windows or Linux path carries (`exe`, `c:\\w`, `/us`...). An event's
field is cut into trigrams once (or, for long texts such as script blocks, each indexed trigram is
searched in it); for each trigram found, the literals indexed under it are checked with `in` (cheap)
and only the rules whose literal is really there become candidates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from detectors.sigma.compiler import KEYWORDS, Atom, Guard
from detectors.sigma.values import basename, canon_number
from detectors.sigma.view import LAZY_WINDOWS_FIELDS, FieldView

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


class Bucket:
    """The rules of one route key: unguarded ones always run, guarded ones only on an atom hit."""

    __slots__ = ("always", "eq", "base", "tri", "_keys", "_lazy_keys")

    def __init__(self) -> None:
        self.always: list[int] = []
        self.eq: dict[str, dict[str, list[int]]] = {}
        self.base: dict[str, dict[str, list[int]]] = {}
        self.tri: dict[str, dict[str, list[tuple[int, str]]]] = {}
        self._keys: frozenset[str] = frozenset()
        self._lazy_keys: frozenset[str] = frozenset()

    def seal(self) -> None:
        """Record the indexed fields (call once the tables are filled)."""
        self._keys = frozenset({*self.eq, *self.base, *self.tri})
        self._lazy_keys = frozenset(k for k in self._keys if k in LAZY_WINDOWS_FIELDS or "." in k or k == KEYWORDS)

    def candidates(self, view: FieldView) -> list[int]:
        hits: set[int] = set()
        low = view.low
        # A Windows view holds all its fields: look up only the indexed ones this event has (a C set operation).
        present = (self._keys & view.values.keys()) | self._lazy_keys if view.closed else self._keys
        for key, table in self.eq.items():
            if key not in present:
                continue
            s = low(key)
            if s is None:
                continue
            for x in (s,) if s.__class__ is str else s:
                found = table.get(x)  # type: ignore[call-overload]
                if found:
                    hits.update(found)
                if x[:1].isdigit() or x[:1] == "-":  # numbers compare by value: 0x10 == 16
                    canon = canon_number(x)  # type: ignore[arg-type]
                    if canon is not None and canon != x and (found := table.get(canon)):
                        hits.update(found)
        for key, table in self.base.items():
            if key not in present:
                continue
            s = low(key)
            if s is None:
                continue
            for x in (s,) if s.__class__ is str else s:
                found = table.get(basename(x))  # type: ignore[arg-type]
                if found:
                    hits.update(found)
        for key, literals in self.tri.items():
            if key not in present:
                continue
            if key == KEYWORDS:
                _trigram_hits((view.lfulltext(),), literals, hits)
            elif (s := low(key)) is not None:
                _trigram_hits((s,) if s.__class__ is str else s, literals, hits)  # type: ignore[arg-type]
        if not hits:
            return self.always
        return [*self.always, *sorted(hits)]


def _trigram_hits(texts: Iterable[str], table: dict[str, list[tuple[int, str]]], hits: set[int]) -> None:
    """Add every rule whose literal occurs in one of the texts, found through the literal's trigram."""
    for text in texts:
        size = len(text)
        if len(table) * (100 + size) < 200 * size:  # cheaper to search each indexed trigram than to cut
            grams: Iterable[str] = [gram for gram in table if gram in text]
        else:
            grams = table.keys() & {text[i : i + 3] for i in range(size - 2)}  # iterates the smaller side
        for gram in grams:
            for rule, literal in table[gram]:
                if rule not in hits and literal in text:
                    hits.add(rule)


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
    shared = _literal_trigram_counts(chosen.values())
    for index, guard in chosen.items():
        for kind, key, value in guard:
            if kind == "sub":
                gram = _rarest_trigram(value, shared.get(key, Counter()))
                entries = bucket.tri.setdefault(key, {}).setdefault(gram, [])
                if (index, value) not in entries:
                    entries.append((index, value))
                continue
            rules_of = (bucket.eq if kind == "eq" else bucket.base).setdefault(key, {}).setdefault(value, [])
            if index not in rules_of:
                rules_of.append(index)
    bucket.seal()
    return bucket


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


def _literal_trigram_counts(guards: Iterable[Guard]) -> dict[str, Counter[str]]:
    """Per field: in how many distinct literals each trigram occurs."""
    literals: dict[str, set[str]] = {}
    for guard in guards:
        for kind, key, value in guard:
            if kind == "sub":
                literals.setdefault(key, set()).add(value)
    return {key: Counter(g for lit in lits for g in _grams(lit)) for key, lits in literals.items()}


def _rarest_trigram(literal: str, shared: Counter[str]) -> str:
    """The trigram of the literal least likely in ordinary text: not a path fragment, alphanumeric,
    shared with few other literals of the route."""
    return min(_grams(literal), key=lambda g: (g in _COMMON_GRAMS, not g.isalnum(), shared[g], g))


def _grams(text: str) -> set[str]:
    return {text[i : i + 3] for i in range(len(text) - 2)}
