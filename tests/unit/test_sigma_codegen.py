"""The generated rule predicates (`detectors/sigma/codegen.py`): rule values never become code, the
source is kept and shows in tracebacks, list values match element by element as before, and the
regex prefilter (literal counts) never rejects a text the regex matches."""

from __future__ import annotations

import linecache
import random
import re
import traceback
from typing import Any

import pytest

from detectors.sigma.regex_literals import lowered_literals, ordered_in, ordered_literals, required_counts
from tests.unit.test_sigma_modifiers import hit, rule, sysmon

HOSTILE = [
    "') or True or ('",
    '" or __import__("os").system("id") or "',
    "k0",
    "view",
    "{k0}\\n    return True",
    "\\'\\\"",
    "# a comment) and (",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_rule_values_are_constants_not_source(value: str):
    quoted = value.replace("'", "''")
    e = rule(f"selection:\n    CommandLine|contains: '{quoted}'\n    Image: '{quoted}'\ncondition: selection")
    [compiled] = e.rules
    for line in compiled.source.splitlines():
        assert value.lower() not in line or value.lower() in ("k0", "view")  # names the generator itself uses
    assert "or True" not in compiled.source and "__import__" not in compiled.source
    assert hit(e, sysmon(CommandLine=f"a {value} b", Image=value.upper()))
    assert not hit(e, sysmon(CommandLine="a b", Image=value))
    assert not hit(e, sysmon(CommandLine=f"a {value} b", Image=value + "x"))


def test_field_names_are_constants_not_source():
    e = rule("selection:\n    'Bad\")or(True': 'x'\ncondition: selection")
    [compiled] = e.rules
    assert "True" not in compiled.source
    assert hit(e, sysmon(**{'Bad")or(True': "X"}))
    assert not hit(e, sysmon(Other="x"))


def test_source_is_kept_and_tracebacks_show_it():
    rule_id = "33333333-3333-3333-3333-333333333333"
    e = rule("selection:\n    Image|endswith: '\\whoami.exe'\ncondition: selection", rule_id=rule_id)
    [compiled] = e.rules
    filename = f"<sigma:{rule_id}>"
    assert compiled.pred.__code__.co_filename == filename
    assert "def match(view):" in compiled.source
    assert linecache.getline(filename, 2).strip().startswith("def ")
    with pytest.raises(AttributeError) as raised:
        compiled.pred(object())  # no field maps: fails inside the generated function
    last = traceback.extract_tb(raised.value.__traceback__)[-1]
    assert last.filename == filename and last.line is not None and "view.lows" in last.line


def test_list_values_match_any_element_and_all_needs_each_value_somewhere():
    e = rule("selection:\n    CommandLine|contains|all: ['alpha', 'beta']\ncondition: selection")
    assert hit(e, sysmon(CommandLine=["x ALPHA", "beta y"]))
    assert hit(e, sysmon(CommandLine=["alpha beta"]))
    assert not hit(e, sysmon(CommandLine=["alpha", "gamma"]))
    assert not hit(e, sysmon(CommandLine=[]))
    one: Any = rule("selection:\n    Image|endswith: ['\\a.exe', '\\b.exe']\ncondition: selection")
    assert hit(one, sysmon(Image=["c:\\x.exe", "C:\\B.EXE"]))
    assert not hit(one, sysmon(Image=["c:\\x.exe"]))


def test_regex_on_list_values_and_keywords_value_by_value():
    e = rule("selection:\n    CommandLine|re: '^ab+c$'\ncondition: selection")
    assert hit(e, sysmon(CommandLine=["zzz", "abbbc"]))
    assert not hit(e, sysmon(CommandLine=["zabc"]))
    k = rule("keywords:\n    - '|re': 'a.b'\ncondition: keywords")
    assert hit(k, sysmon(Field="xa-by"))
    assert not hit(k, sysmon(First="xa", Second="by"))  # `.` does not cross from one value to the next


# --- the regex prefilter: literal counts every match must contain ----------------------------------------

COUNTED = [
    r"\+.*\+.*\+.*\+",
    r"`.*`.*`",
    r"ab.*ab",
    r"(?:x-)+y.*x-",
    r"(?i)ab\+.*\+",
    r"a(?=b)b.*ab",
    r"(aa|b)c.*aa",
    r"\^.*\^.*\^.*\^.*\^",
]


def test_required_counts_of_repeated_literals():
    assert required_counts(r"\+.*\+.*\+") == {"+": 3}
    assert required_counts(r"ab.*ab") == {"ab": 2}
    assert required_counts(r"(?i)ab\+.*\+") == {"+": 2}  # cased letters under (?i) are not exact
    assert required_counts(r"(aa|b)c") == {"c": 1}  # an alternative is not required


def test_lowered_literals_keep_letters_of_case_insensitive_parts():
    # `s` breaks a run (ſ)
    assert lowered_literals(r"(?i)\.exe\s+werfaultsecure\.exe") == ("ecure.exe", "werfault", ".exe")
    assert lowered_literals(r"Invoke-Expression") == ("invoke-expression",)  # case-sensitive: lowered as is
    assert lowered_literals(r"ab(?i:CDEF)g") == ("cdef", "ab", "g")
    assert lowered_literals(r"(?i)\$\{`?e`?n") == ("${", "e", "n")
    assert lowered_literals(r"[a-f0-9]{64}") == ()
    assert lowered_literals(r"cmd.{0,5}(?:/c|/r).+powershell") == ("powershell", "cmd", "/")


_ODD_FOLDS = {"k": "\u212a", "i": "\u0131\u0130", "s": "\u017f"}  # Kelvin sign, dotless/dotted I, long s


@pytest.mark.parametrize(
    ("regex", "base"),
    [(r"(?i)werfaultsecure", "werfaultsecure"), (r"(?i)kelvin\d", "kelvin1"), (r"x(?i:yzk)W", "xyzkW")],
)
def test_every_match_lowered_contains_the_lowered_literals(regex: str, base: str):
    """Fuzz: texts that spell the match in random case, with the odd case folds IGNORECASE accepts."""
    compiled = re.compile(regex)
    literals = lowered_literals(regex)
    assert literals
    rng = random.Random(regex)
    found = 0
    for _ in range(3000):
        text = "".join(rng.choice([c, c.upper(), c.lower(), *_ODD_FOLDS.get(c.lower(), "")]) for c in base)
        if compiled.search(text):
            found += 1
            assert all(literal in text.lower() for literal in literals), (regex, text)
    assert found > 100


@pytest.mark.parametrize("regex", COUNTED)
def test_every_match_holds_the_counted_literals(regex: str):
    """Fuzz: random texts over the pattern's own characters; each one the regex finds must pass the prefilter."""
    compiled = re.compile(regex)
    counts = required_counts(regex)
    alphabet = "".join(sorted({*"".join(counts), "x", "-", "y", "a", "b", "c", "A", "B"}))
    rng = random.Random(regex)
    found = 0
    for _ in range(4000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        if compiled.search(text):
            found += 1
            assert all(text.count(run) >= n for run, n in counts.items()), (text, counts)
    assert found  # the fuzz did exercise matches


def test_regex_rule_with_repeated_literal_matches_at_the_threshold_only():
    e = rule("selection:\n    CommandLine|re: '\\+.*\\+.*\\+'\ncondition: selection")
    assert "count(" in e.rules[0].source
    assert hit(e, sysmon(CommandLine="a+b+c+"))
    assert not hit(e, sysmon(CommandLine="a+b+c"))


def test_ordered_literals_only_for_literals_and_dot_star():
    assert ordered_literals(r"\+.*\+.*\+") == ("+", "+", "+")
    assert ordered_literals(r"ab.*?cd") == ("ab", "cd")
    for other in (r"a.+b", r"a.*b$", r"(?i)a.*b", r"a\.*b", r"a[bc].*d", r"a.*+b", r"(a).*b"):
        assert ordered_literals(other) is None, other


ORDERED = [r"\+.*\+.*\+", r"ab.*?ab.*b", r"a.*-.*a", r"(?s)a.*b.*a", r"aa.*a"]


@pytest.mark.parametrize("regex", ORDERED)
def test_ordered_test_finds_what_the_regex_finds(regex: str):
    """Fuzz, newlines included: the `str.find` test agrees with `re.search` on every text, both ways."""
    compiled = re.compile(regex)
    parts = ordered_literals(regex)
    assert parts is not None
    test = ordered_in(parts, bool(compiled.flags & re.DOTALL))
    rng = random.Random(regex)
    found = 0
    for _ in range(4000):
        text = "".join(rng.choice("+ab-\nx") for _ in range(rng.randint(0, 20)))
        expected = compiled.search(text) is not None
        assert test(text) is expected, (regex, text)
        found += expected
    assert 0 < found < 4000  # the fuzz exercised both answers


def test_a_regex_of_many_repeated_literals_is_not_a_backtracking_search():
    e = rule("selection:\n    CommandLine|re: '" + ".*".join([r"\+"] * 14) + "'\ncondition: selection")
    assert hit(e, sysmon(CommandLine="+a" * 40))
    assert not hit(e, sysmon(CommandLine="+a" * 10 + "\n" + "+a" * 10))  # `.` stops at the newline
    assert hit(e, sysmon(CommandLine="+a" * 10 + "\n" + "+a" * 14))


def test_a_filter_runs_after_the_selection_it_excludes_from():
    """`selection and not filter`: the selection usually fails and decides alone, the filter rarely matches."""
    engine = rule(
        "selection:\n    Image|endswith: '\\\\x.exe'\nfilter:\n    CommandLine|contains: 'y'\n"
        "condition: not filter and selection"
    )
    source = engine.rules[0].source
    body = next(line for line in source[source.index("def match") :].splitlines() if "return" in line)
    assert body.index(".endswith(") < body.index("(not "), body
    assert hit(engine, sysmon(Image="C:\\x.exe", CommandLine="z"))
    assert not hit(engine, sysmon(Image="C:\\x.exe", CommandLine="y"))
