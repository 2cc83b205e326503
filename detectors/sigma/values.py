"""Value shapes: one Sigma value (after pySigma applied the modifiers) → what a field text must look like.

pySigma has already turned modifiers into typed values: `contains`/`startswith`/`endswith` into
wildcards in a `SigmaString`, `windash`/`base64offset` into a `SigmaExpansion` of alternatives,
`base64`/`wide`/`utf16*` into the encoded string, `re` into `SigmaRegularExpression` (with its i/m/s
flags), `cidr`, `lt`..`gte`, `fieldref`, `exists`, `cased` into their own types, `all` into AND linking.

A string becomes a `Pattern`: exact, prefix, suffix or contains when the wildcards are only leading or
trailing, otherwise one anchored regex; `codegen.py` turns the patterns of one field into plain `str`
operations (a frozenset lookup, one `endswith(tuple)`, a chain of `in`...). Matching is on the lower-cased field
text unless the value is `cased` or a regex (regexes are case-sensitive unless flagged `i`). The other
value types (regex, null, exists, cidr, comparisons, field references, cased) are in `special.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaNumber,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from detectors.sigma.errors import RuleCompileError
from detectors.sigma.view import KEYWORD_SEPARATOR

StrTest = Callable[[str], bool]
SEPARATORS = ("\\", "/")
_NOT_SEPARATOR = f"[^{KEYWORD_SEPARATOR}]"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A string value as a shape: exact, prefix, suffix, contains, any (`*`) or regex (fullmatch)."""

    kind: str
    text: str
    regex: str = ""
    literals: tuple[str, ...] = ()  # for regex: the literal runs between wildcards
    parts: tuple[str | SpecialChars, ...] = ()  # for regex: literals and wildcards in order

    def needed(self) -> str:
        """A substring every matching text contains ("" when there is none)."""
        if self.kind == "regex":
            return max(self.literals, key=len, default="")
        return "" if self.kind == "any" else self.text


def is_simple(value: SigmaType) -> bool:
    """Values that merge into one string test of a field (case-insensitive strings, numbers, booleans)."""
    if isinstance(value, SigmaString):
        return not isinstance(value, SigmaCasedString) and not value.contains_placeholder()
    return isinstance(value, SigmaNumber | SigmaBool)


def pattern(value: SigmaType, *, lower: bool = True) -> Pattern:
    """The shape of a simple value (see `is_simple`), lower-cased for case-insensitive matching."""
    if isinstance(value, SigmaNumber):
        return Pattern("number", canon_number(str(value.number)) or str(value.number))
    if isinstance(value, SigmaBool):
        return Pattern("exact", "true" if value.boolean else "false")
    if not isinstance(value, SigmaString):
        raise RuleCompileError(f"{type(value).__name__} is not a string value")
    parts = [p.lower() if lower and isinstance(p, str) else p for p in value.s]
    for p in parts:
        if not isinstance(p, str | SpecialChars):
            raise RuleCompileError(f"unresolved placeholder %{p.name}%", reason="unresolved-placeholder")
    if not parts:
        return Pattern("exact", "")
    multi = SpecialChars.WILDCARD_MULTI
    if SpecialChars.WILDCARD_SINGLE not in parts:
        literals = [p for p in parts if isinstance(p, str)]
        inner = parts[1:-1] if len(parts) > 2 else []
        if not literals:
            return Pattern("any", "")
        if len(literals) == 1 and multi not in inner:
            text = literals[0]
            starts, ends = parts[0] is multi, parts[-1] is multi
            kind = {(False, False): "exact", (False, True): "prefix", (True, False): "suffix"}.get(
                (starts, ends), "contains"
            )
            return Pattern(kind, text)
    literal_runs = tuple(p for p in parts if isinstance(p, str))
    return Pattern("regex", "", _regex_source(parts), literal_runs, tuple(parts))  # type: ignore[arg-type]


def _regex_source(parts: Iterable[object], any_char: str = ".") -> str:
    out = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            out.append(any_char + "*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            out.append(any_char)
        else:
            out.append(re.escape(str(p)))
    return "".join(out)


def canon_number(text: str) -> str | None:
    """A number written in text (`4688`, `0x1250`, `3.0`) in one canonical form; None if not a number."""
    if not text or not (text[0].isdigit() or (text[0] in "-+" and text[1:2].isdigit())):
        return None
    try:
        return str(int(text, 0))
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return str(int(number)) if number.is_integer() else repr(number)


# --- long lists of literals -----------------------------------------------------------------------------


def contains_many(subs: tuple[str, ...]) -> StrTest:
    """A test for "contains any of these literals" when they are too many for a chain of `in`."""
    if not any(sub.isascii() for sub in subs):
        return _contains_any_non_ascii(subs)
    return _contains_any_trie(subs)


def _contains_any_trie(subs: tuple[str, ...]) -> StrTest:
    """Long lists (cmdlet names, emoji, homoglyphs): one regex shaped as a trie of the literals, so the
    search shares their common prefixes and skips positions whose character starts none of them."""
    regex = re.compile(trie_regex(subs))
    return lambda s: regex.search(s) is not None


def trie_regex(words: Iterable[str]) -> str:
    """A regex matching exactly the given literals, factored by common prefixes."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:  # type: ignore[type-arg]
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return build(trie)


def _contains_any_non_ascii(subs: tuple[str, ...]) -> StrTest:
    """Lists of literals that each hold a non-ASCII character (emoji, homoglyphs): nothing to do for an
    ASCII text, else only try the literals whose first non-ASCII character occurs in it."""
    by_char: dict[str, list[str]] = {}
    for sub in subs:
        by_char.setdefault(next(c for c in sub if not c.isascii()), []).append(sub)
    chars = frozenset(by_char)

    def test(s: str) -> bool:
        if s.isascii():
            return False
        for char in chars.intersection(s):
            for sub in by_char[char]:
                if sub in s:
                    return True
        return False

    return test


def keyword_patterns(patterns: Sequence[Pattern]) -> list[Pattern]:
    """Keywords search the full text (`FieldView.fulltext`): every pattern is implicitly `*value*`,
    and wildcards do not cross the NUL between two field values."""
    subs: list[Pattern] = []
    for p in patterns:
        if p.kind == "regex":
            subs.append(Pattern("search", "", _regex_source(p.parts, _NOT_SEPARATOR)))
        elif p.kind == "any":
            subs.append(Pattern("contains", ""))  # `*`: any non-empty text
        else:
            subs.append(Pattern("contains", p.text))
    return subs


def basename(text: str) -> str:
    """The last path segment (after the last `\\` or `/`)."""
    return text[max(text.rfind("\\"), text.rfind("/")) + 1 :]
