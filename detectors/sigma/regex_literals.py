"""The literal text every match of a regular expression must contain.

Used to skip a regular expression cheaply (`"`" in text` before `\\w+`(...)`...` is searched) and to index
rules whose only condition is a regex. Reads the pattern with `re._parser`, the standard library's own
parser; any pattern it cannot read yields no literals (the regex then simply always runs).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

try:  # CPython 3.11+: the parser behind `re`
    from re import _constants as _c  # type: ignore[attr-defined]
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - other interpreters: no prefilter
    _c = _sre = None

_REPEAT_OPS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")
_REPEATS = tuple(getattr(_c, name) for name in _REPEAT_OPS if _c is not None and hasattr(_c, name))


def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...]:
    """Case-exact substrings present in every match (longest first); () when none is certain."""
    return tuple(sorted(required_counts(pattern, flags), key=lambda r: (-len(r), r)))


def required_counts(pattern: str, flags: int = 0) -> Counter[str]:
    """Case-exact substrings present in every match, each with how many disjoint times at least.

    The runs come from one path through the pattern (a sequence, groups, repeats taken their minimum
    once), so in a match they occupy disjoint spans: `text.count(run) >= n` holds for every match
    (`\\+.*\\+.*\\+` needs three `+`), a cheap test that skips most texts before a backtracking search.
    """
    if _sre is None:
        return Counter()
    try:
        parsed = _sre.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError, ValueError):
        return Counter()
    ignore = bool(parsed.state.flags & re.IGNORECASE)
    return Counter(run for run in _sequence(list(parsed), ignore) if run)


def _sequence(items: list[tuple[Any, Any]], ignore: bool) -> list[str]:
    runs: list[str] = []
    current: list[str] = []

    def flush() -> None:
        if current:
            runs.append("".join(current))
            current.clear()

    for op, av in items:
        if op is _c.LITERAL:
            char = chr(av)
            if ignore and char.lower() != char.upper():  # a cased letter under IGNORECASE: not exact
                flush()
            else:
                current.append(char)
            continue
        flush()
        if op is _c.SUBPATTERN:
            _group, add, remove, sub = av
            scoped = (ignore or bool(add & re.IGNORECASE)) and not remove & re.IGNORECASE
            runs.extend(_sequence(list(sub), scoped))
        elif op in _REPEATS:
            low, _high, sub = av
            if low >= 1:
                runs.extend(_sequence(list(sub), ignore))
        elif op is _c.ATOMIC_GROUP:
            runs.extend(_sequence(list(av), ignore))
    flush()
    return runs
