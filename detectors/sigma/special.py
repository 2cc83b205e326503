"""Values that do not merge into string tests: cased strings, regular expressions, null, exists, CIDR
networks, numeric comparisons and field references (see `values.py` for strings, numbers, booleans).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from sigma.types import (
    CompareOperators,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaFieldReference,
    SigmaNull,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaType,
)

from detectors.sigma.codegen import Pred, RuleSource, all_of
from detectors.sigma.errors import RuleCompileError
from detectors.sigma.regex_literals import (
    lowered_literals,
    ordered_in,
    ordered_literals,
    required_counts,
    required_literals,
)
from detectors.sigma.values import StrTest, canon_number, keyword_patterns, pattern
from detectors.sigma.view import KEYWORD_SEPARATOR, FieldView, norm_field

_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}
# What `field: null` accepts: absent, JSON null, no values. Not "": the spec tells an empty value ('')
# from null, and SigmaHQ rules filter the two apart (the firewall rules' `filter_main_null` beside
# `filter_optional_no_path: ApplicationPath: ''`), as Elasticsearch does (an indexed "" exists).
_NULLS: tuple[object, ...] = (None, [], ())


@dataclass(frozen=True, slots=True)
class Special:
    """The expression for a value that does not merge into a string test, and what it needs in the text."""

    expr: str
    needs: tuple[str, ...] = ()  # lower-case substrings every matching value contains


def special(src: RuleSource, field: str | None, value: SigmaType) -> Special:
    """The values that do not merge into string tests: cased strings, regexes, null, exists, cidr,
    comparisons and field references."""
    key = norm_field(field) if field else None
    if isinstance(value, SigmaCasedString):
        cased = pattern(value, lower=False)
        if key:
            return Special(src.on_field(key, lambda x: src.patterns([cased], x), cased=True), (cased.needed().lower(),))
        keywords = keyword_patterns([cased])
        return Special(src.on_fulltext(lambda x: src.patterns(keywords, x), cased=True), (cased.needed().lower(),))
    if isinstance(value, SigmaRegularExpression):
        return _regex(src, key, value)
    if key is None:
        raise RuleCompileError(f"{type(value).__name__} needs a field (keyword search cannot use it)")
    if isinstance(value, SigmaNull):
        return Special(f"view.get({src.const(key)}) in {src.const(_NULLS)}")
    if isinstance(value, SigmaExists):
        return Special(f"(view.get({src.const(key)}) is {'not ' if value.exists else ''}None)")
    if isinstance(value, SigmaCIDRExpression):
        cidr = _cidr_test(value)
        return Special(src.on_field(key, lambda x: src.call(cidr, x), cased=True))
    if isinstance(value, SigmaCompareExpression):
        compare = _compare_test(value)
        return Special(src.on_field(key, lambda x: src.call(compare, x), cased=True))
    if isinstance(value, SigmaFieldReference):
        return Special(src.call(_fieldref(key, value), "view"))
    raise RuleCompileError(f"value type {type(value).__name__} is not supported by the stream engine")


def _regex(src: RuleSource, key: str | None, value: SigmaRegularExpression) -> Special:
    """`re` (case-sensitive unless `i`), searched; skipped cheaply when a literal it needs is absent."""
    flags = 0
    for flag in value.flags:
        flags |= _RE_FLAGS[flag]
    source = _unpadded(str(value.regexp))
    search = re.compile(source, flags).search
    literals = required_literals(source, flags)
    counts = required_counts(source, flags)
    parts = ordered_literals(source, flags)
    ordered = ordered_in(parts, bool(flags & re.DOTALL)) if parts else None

    def test(x: str) -> str:
        needed = [f"{x}.count({src.const(lit)}) >= {counts[lit]}" if counts[lit] > 1 else f"{src.const(lit)} in {x}"
                  for lit in literals]  # fmt: skip
        found = src.call(ordered, x) if ordered else f"{src.call(search, x)} is not None"
        return all_of([*needed, found])

    if key:
        expr = src.on_field(key, test, cased=True)
    else:  # keywords value by value: `.` must not cross from one field to the next
        values = f"{src.fulltext(cased=True)}.split({src.const(KEYWORD_SEPARATOR)})"
        expr = f"any(map({src.helper('x', test('x'))}, {values}))"
    return Special(expr, lowered_literals(source, flags))


def _unpadded(regex: str) -> str:
    """Searching `.*x.*` finds what searching `x` finds, without the quadratic backtracking."""
    original = regex
    while regex.startswith(".*") and not regex.startswith(".*?"):
        regex = regex[2:]
    while regex.endswith(".*") and not regex.endswith("\\.*"):
        regex = regex[:-2]
    if not regex or regex[0] in "*+?{":
        return original
    try:
        re.compile(regex)
    except re.error:
        return original
    return regex


def _cidr_test(value: SigmaCIDRExpression) -> StrTest:
    network = value.network

    def test(s: str) -> bool:
        try:
            address = ipaddress.ip_address(s.strip().strip("[]").split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped and network.version == 4:
            address = address.ipv4_mapped
        return address.version == network.version and address in network

    return test


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_test(value: SigmaCompareExpression) -> StrTest:
    op, limit = _COMPARE[value.op], float(value.number.number)

    def test(s: str) -> bool:
        canon = canon_number(s.strip())
        return canon is not None and op(float(canon), limit)

    return test


def _fieldref(key: str, value: SigmaFieldReference) -> Pred:
    ref = norm_field(value.field)
    starts, ends = value.starts_with, value.ends_with

    def compare(a: str, b: str) -> bool:
        if starts and ends:
            return b in a
        if starts:
            return a.startswith(b)
        if ends:
            return a.endswith(b)
        return a == b

    def pred(view: FieldView) -> bool:
        a, b = view.low(key), view.low(ref)
        if a is None or b is None:
            return False
        left = (a,) if isinstance(a, str) else a
        right = (b,) if isinstance(b, str) else b
        return any(compare(x, y) for x in left for y in right)

    return pred
