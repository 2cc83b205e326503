"""A rule's condition as one generated Python function, compiled once when the rule loads.

The compiler (`compiler.py`) writes each condition node as a Python expression through a `RuleSource`;
`RuleSource.build` wraps the expression in a function and compiles it. Each test reads its field where
it runs, into a local (`(f0 := L[k3])`), from the view's lower-case (`view.lows`) or original-case
(`view.texts`) field map, and tests it with plain `str` operations (`==`, `in`, `startswith(tuple)`...):
no closure chain per test, no method call per field read, no read of a field a short-circuited test names.

Rule values and field names never appear in the source text: every one is a constant of the rule,
handed to the generated factory as a parameter (`k0`, `k1`, ...), so the text is only Python syntax
written here plus those names. The source is kept with the rule (`CompiledRule.source`), registered
with `linecache` and compiled under the file name `<sigma:RULE_ID>`, so a traceback through a rule
shows its lines.
"""

from __future__ import annotations

import linecache
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from detectors.sigma.values import Pattern, canon_number, contains_many

Pred = Callable[[Any], bool]
_MANY_INLINE = 40  # more literals than this: one trie regex instead of a chain of `in` (see values.py)
canon_cached = lru_cache(maxsize=4096)(canon_number)  # event texts compared with numbers (EventID...)


class RuleSource:
    """The constants, field reads and helper functions of one rule's generated predicate."""

    def __init__(self) -> None:
        self.consts: list[object] = []
        self._names: dict[object, str] = {}  # constant (by type and value, else identity) → its name
        self._reads: dict[tuple[str, Any], str] = {}  # (map, field key) → local name
        self._helpers: list[str] = []

    def const(self, value: object) -> str:
        """The name under which the generated code sees `value` (equal constants share one name)."""
        try:
            key: object = (type(value), value)
            found = self._names.get(key)
        except TypeError:  # unhashable: by identity (the list of constants keeps it alive)
            key = ("id", id(value))
            found = self._names.get(key)
        if found is None:
            found = self._names[key] = f"k{len(self.consts)}"
            self.consts.append(value)
        return found

    def field(self, key: str, *, cased: bool = False) -> tuple[str, str]:
        """A local for the field's text (lower-case unless `cased`) and the expression that reads it into
        the local (`(f0 := L[k3])`: a C dict lookup once the view has the field). Each test reads the field
        where it runs, so a field only a skipped test names is never read."""
        source = "T" if cased else "L"
        local = self._reads.get((source, key))
        if local is None:
            local = self._reads[(source, key)] = f"{'c' if cased else 'f'}{len(self._reads)}"
        return local, f"({local} := {source}[{self.const(key)}])"

    @staticmethod
    def fulltext(*, cased: bool = False) -> str:
        """The expression for the event's full text (`FieldView.fulltext`, lower-case unless `cased`)."""
        return "view.fulltext()" if cased else "view.lfulltext()"

    def helper(self, param: str, body: str) -> str:
        """A one-expression function of `param` (the test applied to each element of a list value)."""
        name = f"each{len(self._helpers)}"
        self._helpers.append(f"    def {name}({param}):\n        return {body}\n")
        return name

    # --- tests ----------------------------------------------------------------------------------------

    def call(self, test: Callable[..., object], arg: str) -> str:
        return f"{self.const(test)}({arg})"

    def patterns(self, patterns: Sequence[Pattern], x: str) -> str:
        """One expression true when any of the patterns matches the text in local `x`."""
        if any(p.kind == "any" for p in patterns):
            return "True"
        exact = frozenset(p.text for p in patterns if p.kind in ("exact", "number"))
        numbers = frozenset(p.text for p in patterns if p.kind == "number")
        prefixes = tuple(dict.fromkeys(p.text for p in patterns if p.kind == "prefix"))
        suffixes = tuple(dict.fromkeys(p.text for p in patterns if p.kind == "suffix"))
        subs = tuple(dict.fromkeys(p.text for p in patterns if p.kind == "contains"))
        fulls = [p.regex for p in patterns if p.kind == "regex"]
        searches = [p.regex for p in patterns if p.kind == "search"]
        tests: list[str] = []
        if len(exact) == 1 and not numbers:
            tests.append(f"{x} == {self.const(next(iter(exact)))}")
        elif exact:
            tests.append(f"{x} in {self.const(exact)}")
        if numbers:
            tests.append(f"{self.call(canon_cached, x)} in {self.const(numbers)}")
        if prefixes:
            tests.append(f"{x}.startswith({self.const(prefixes)})")
        if suffixes:
            tests.append(f"{x}.endswith({self.const(suffixes)})")
        if "" in subs:
            return "True"
        if len(subs) > _MANY_INLINE:
            tests.append(self.call(contains_many(subs), x))
        else:
            tests += [f"{self.const(sub)} in {x}" for sub in subs]
        if fulls:
            regex = re.compile("|".join(f"(?:{r})" for r in fulls), re.DOTALL)
            tests.append(f"{self.call(regex.fullmatch, x)} is not None")
        if searches:
            regex = re.compile("|".join(f"(?:{r})" for r in searches), re.DOTALL)
            tests.append(f"{self.call(regex.search, x)} is not None")
        return any_of(tests)

    def on_field(self, key: str, test: Callable[[str], str], *, cased: bool = False) -> str:
        """True when the field's text, or any element of a list value, passes `test` (an expression builder)."""
        local, read = self.field(key, cased=cased)
        each = self.helper("x", test("x"))
        return f"({test(local)} if {read}.__class__ is str else {local} is not None and any(map({each}, {local})))"

    def on_field_all(self, key: str, tests: Sequence[Callable[[str], str]]) -> str:
        """`field|all`: every test passes (on a list value: each on some element)."""
        local, read = self.field(key)
        on_str = all_of([t(local) for t in tests])
        on_list = all_of([f"any(map({self.helper('x', t('x'))}, {local}))" for t in tests])
        return f"({on_str} if {read}.__class__ is str else {local} is not None and {on_list})"

    def on_fulltext(self, test: Callable[[str], str], *, cased: bool = False) -> str:
        """True when the event's full text passes `test` (keywords)."""
        local = self._reads.setdefault(("T" if cased else "L", _FULLTEXT), "kwc" if cased else "kw")
        return f"({test(local)} if ({local} := {self.fulltext(cased=cased)}).__class__ is str else False)"

    # --- the function ---------------------------------------------------------------------------------

    def build(self, expr: str, rule_id: str) -> tuple[Pred, str]:
        """The predicate `match(view)` for `expr` and its source, compiled under the name `<sigma:RULE_ID>`."""
        sources = {src for src, key in self._reads if key is not _FULLTEXT}
        body = "".join(f"        {m} = view.{attr}\n" for m, attr in (("L", "lows"), ("T", "texts")) if m in sources)
        params = ", ".join(f"k{i}" for i in range(len(self.consts)))
        helpers = "".join(self._helpers)
        match = f"    def match(view):\n{body}        return {expr}\n    return match\n"
        source = f"def factory({params}):\n{helpers}{match}"
        filename = f"<sigma:{rule_id}>"
        namespace: dict[str, Any] = {"__builtins__": _BUILTINS}
        exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own syntax; rule values are constants
        linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
        return namespace["factory"](*self.consts), source


_FULLTEXT: Any = object()  # the field key standing for the full text
_BUILTINS = {"any": any, "map": map, "str": str}  # all the generated code may name besides its constants


def any_of(exprs: Sequence[str]) -> str:
    if not exprs:
        return "False"
    return exprs[0] if len(exprs) == 1 else "(" + " or ".join(exprs) + ")"


def all_of(exprs: Sequence[str]) -> str:
    if not exprs:
        return "True"
    return exprs[0] if len(exprs) == 1 else "(" + " and ".join(exprs) + ")"
