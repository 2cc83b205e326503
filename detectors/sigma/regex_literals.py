"""The literal text every match of a regular expression must contain.

Used to skip a regular expression cheaply (`"`" in text` before `\\w+`(...)`...` is searched) and to index
rules whose only condition is a regex. Reads the pattern with `re._parser`, the standard library's own
parser; any pattern it cannot read yields no literals (the regex then simply always runs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

try:  # CPython 3.11+: the parser behind `re`
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other interpreters: no prefilter
    _c = _sre = None

_REPEAT_OPS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_REPEATS = tuple(getattr(_c, name) for name in _REPEAT_OPS if _c is not None and hasattr(_c, name))


def _parse(pattern: str, flags: int) -> Any:
    """The standard library's parse of the pattern; None when it cannot be read here."""
    if _sre is None:
        return None
    try:
        return _sre.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError):
        return None


def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """Case-exact substrings present in every match (longest first); () when none is certain."""
    return _longest_first(required_counts(pattern, flags))


def required_counts(pattern: str, flags: int = 0) -> Counter[str]:
    """Case-exact substrings present in every match, each with how many disjoint times at least.

    The runs come from one path through the pattern (a sequence, groups, repeats taken their minimum
    once), so in a match they occupy disjoint spans: `text.count(run) >= n` holds for every match
    (`\\+.*\\+.*\\+` needs three `+`), a cheap test that skips most texts before a backtracking search.
    """
    parsed = _parse(pattern, flags)
    if parsed is None:
        return Counter()
    ignore = bool(parsed.state.flags & re.IGNORECASE)
    return Counter(run for run in _sequence(list(parsed), ignore) if run)


def lowered_literals(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """Substrings the LOWER-CASED text of every match contains, longest first (() when none is certain).

    What the rule index looks for in a field's lower-case text. Unlike `required_literals` it keeps the
    letters of a case-insensitive pattern (`(?i)werfault` needs `werfault`), except `i` and `s`: under
    IGNORECASE they also match `İ`, `ı` and `ſ`, whose lower case is not `i` or `s`. Each is a guard of
    its own: the index weighs them (`cmd.{0,5}/c.+powershell`: `powershell`, `cmd`, `/c`).
    """
    parsed = _parse(pattern, flags)
    if parsed is None:
        return ()
    runs = _sequence(list(parsed), bool(parsed.state.flags & re.IGNORECASE), fold=True)
    return _longest_first({run.lower() for run in runs if run})


_UNSAFE_FOLDS = frozenset("iIsS")  # letters IGNORECASE matches to characters that do not lower to them


def _sequence(items: list[tuple[Any, Any]], ignore: bool, *, fold: bool = False) -> list[str]:
    """The literal runs of one path through the pattern. `fold`: runs for lower-cased text (see
    `lowered_literals`), which may keep cased ASCII letters of a case-insensitive part."""
    runs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            runs.append("".join(current))
            current.clear()

    for op, av in items:
        if op is _c.LITERAL:
            char = chr(av)
            cased = char.lower() != char.upper()
            if ignore and cased and not (fold and char.isascii() and char not in _UNSAFE_FOLDS):
                flush()  # a cased letter under IGNORECASE: not exact
            else:
                current.append(char)
            continue
        flush()
        if op is _c.SUBPATTERN:
            _group, add, remove, sub = av
            scoped = (ignore or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            runs.extend(_sequence(list(sub), scoped, fold=fold))
        elif op in _REPEATS:
            low, _high, sub = av
            if low >= 1:
                runs.extend(_sequence(list(sub), ignore, fold=fold))
        elif op is _c.ATOMIC_GROUP:
            runs.extend(_sequence(list(av), ignore, fold=fold))
    flush()
    return runs


def ordered_literals(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """The literals of a pattern made only of literals and `.*` between them (`\\+.*\\+.*\\+`), in order;
    None for any other pattern.

    Such a pattern matches where the literals occur in this order, apart, within one line (`.` stops at a
    newline unless DOTALL): `ordered_in` tests that with `str.find`, where the backtracking search tries
    every way to place them (milliseconds for a command line with 30 `+`).
    """
    parsed = _parse(pattern, flags)
    if parsed is None:
        return None
    if parsed.state.flags & re.IGNORECASE:
        return None
    parts: list[str] = []
    current: list[str] = []
    for op, av in parsed:
        if op is _c.LITERAL:
            current.append(chr(av))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and _any_run(av):
            if current:
                parts.append("".join(current))
                current.clear()
        else:
            return None
    if current:
        parts.append("".join(current))
    return tuple(parts) if parts else None


def _any_run(av: Any) -> bool:
    low, high, sub = av
    return bool(low == 0 and high == _c.MAXREPEAT and list(sub) == [(_c.ANY, None)])


def ordered_in(parts: tuple[str, ...], dotall: bool) -> Callable[[str], bool]:
    """`text → the parts occur in order, not overlapping, within one line` (the whole text with DOTALL).

    Placing each part at its first occurrence after the previous one finds a placement whenever one exists.
    """

    def within(line: str) -> bool:
        at = 0
        for part in parts:
            found = line.find(part, at)
            if found < 0:
                return False
            at = found + len(part)
        return True

    if dotall:
        return within
    return lambda text: any(map(within, text.split("\n"))) if "\n" in text else within(text)


def _longest_first(runs: Iterable[str]) -> tuple[str, ...]:
    """Longest first (the most selective guard), ties in text order so the result is stable."""
    return tuple(sorted(runs, key=lambda r: (-len(r), r)))
