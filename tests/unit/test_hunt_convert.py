"""Sigma → Lucene for the hunt: field names, case handling, regex translation, what is refused."""

from __future__ import annotations

import fnmatch
import re

import pytest

from detectors.hunt.convert import convert_rules
from detectors.hunt.fields import FieldNames, NotConvertible, regex_to_lucene
from detectors.sigma.loader import load_texts

NAMES = FieldNames.of(["winlog.event_data.CommandLine", "winlog.event_data.Image", "winlog.event_data.NewProcessName",
                       "winlog.event_data.CommandLine.ci", "winlog.event_data.ServiceName"])  # fmt: skip


def rule(detection: str, logsource: str = "category: process_creation\n    product: windows") -> str:
    return f"title: t\nid: 11111111-1111-1111-1111-111111111111\nlogsource:\n    {logsource}\ndetection:\n{detection}"


def lucene(detection: str, **kw: str) -> str:
    conversion = convert_rules(load_texts({"r.yml": rule(detection, **kw)}).rules, NAMES)
    assert not conversion.skipped, conversion.skipped
    return next(iter(conversion.queries.values())).lucene


def refused(detection: str) -> str:
    """Why the backend refused a rule the stream runs: it is hunted by the engine instead."""
    conversion = convert_rules(load_texts({"r.yml": rule(detection)}).rules, NAMES)
    (query,) = conversion.queries.values()
    assert query.evaluation == "engine" and query.refused is not None and not conversion.skipped
    return query.refused.kind


def test_default_values_are_lower_cased_on_the_ci_subfield_with_the_indexed_field_spelling() -> None:
    q = lucene("    sel:\n        commandline|contains: 'WhoAmI /ALL'\n    condition: sel")
    assert q == r"winlog.event_data.CommandLine.ci:*whoami\ \/all*"


def test_cased_stays_on_the_keyword_with_its_case() -> None:
    q = lucene("    sel:\n        CommandLine|cased|contains: 'WhoAmI'\n    condition: sel")
    assert q == "winlog.event_data.CommandLine:*WhoAmI*"


def test_process_creation_image_also_reads_the_4688_name() -> None:
    q = lucene("    sel:\n        Image|endswith: '\\cmd.exe'\n    condition: sel")
    assert "winlog.event_data.Image.ci:*\\\\cmd.exe" in q and "winlog.event_data.NewProcessName.ci:*\\\\cmd.exe" in q


def test_keyword_lists_and_all_lists() -> None:
    q = lucene("    sel:\n        CommandLine|contains|all: ['-enc', 'Hidden']\n    condition: sel")
    assert q == r"winlog.event_data.CommandLine.ci:*\-enc* AND winlog.event_data.CommandLine.ci:*hidden*"
    q = lucene("    keywords:\n        - 'MiMiKaTz'\n        - 'sekurlsa'\n    condition: keywords")
    assert q == "*mimikatz* OR *sekurlsa*"  # on every `.ci` field (HuntQuery.query)


def test_windows_system_fields_and_event_ids() -> None:
    q = lucene("    sel:\n        EventID: 7045\n        Channel: System\n    condition: sel",
               logsource="product: windows\n    service: system")  # fmt: skip
    assert q == "winlog.event_id:7045 AND winlog.channel.ci:system"


def test_regexes_are_translated_to_whole_term_lucene() -> None:
    q = lucene("    sel:\n        CommandLine|re: '\\s-[Ee]nc'\n    condition: sel")
    assert q == r"winlog.event_data.CommandLine:/.*(\s-[Ee]nc).*/"
    q = lucene("    sel:\n        CommandLine|re|i: '^POWERSHELL\\.exe\\s'\n    condition: sel")
    assert q == r"winlog.event_data.CommandLine.ci:/(powershell\.exe\s).*/"


@pytest.mark.parametrize(
    ("pattern", "lucene_pattern", "samples"),
    [
        ("abc", ".*(abc).*", ["xabcx", "abc"]),
        ("^abc$", "abc", ["abc"]),
        ("a|b", ".*(a|b).*", ["xbx"]),
        ("(?:ab)+c", ".*((ab)+c).*", ["ababc"]),
        ('say "hi"@home', '.*(say \\"hi\\"\\@home).*', ['say "hi"@home']),
        ("x.*?y", ".*(x.*y).*", ["x--y"]),
    ],
)
def test_regex_translation_matches_the_same_whole_terms(pattern: str, lucene_pattern: str, samples: list[str]) -> None:
    translated, ignore_case = regex_to_lucene(pattern)
    assert translated == lucene_pattern and not ignore_case
    python_whole = re.sub(r'\\([@"])', r"\1", translated)  # Lucene's extra escapes are literals in Python
    for sample in samples:
        assert re.search(pattern, sample) and re.fullmatch(python_whole, sample)


@pytest.mark.parametrize("pattern", [r"\bword", r"(?=a)b", r"(a)\1", "a^b", "^a|b"])
def test_regexes_without_a_lucene_equivalent_are_refused(pattern: str) -> None:
    with pytest.raises(NotConvertible):
        regex_to_lucene(pattern)


def test_refused_constructs_are_reported_with_a_reason() -> None:
    assert refused("    sel:\n        SourceIp|cidr: '10.0.0.0/8'\n    condition: sel") == "cidr"
    assert refused("    sel:\n        User: 'NT AUTHORITY\\SYSTEM'\n    condition: sel") == "derived-field"
    assert refused("    sel:\n        ProcessId|gt: 4\n    condition: sel") == "compare"
    keywords = rule("    keywords:\n        - 'evil'\n    condition: keywords", logsource="product: linux")
    assert next(iter(convert_rules(load_texts({"r.yml": keywords}).rules).engine_by_reason())) == "keyword-text"
    cisco = rule("    sel:\n        a: b\n    condition: sel", logsource="product: cisco\n    service: aaa")
    assert next(iter(convert_rules(load_texts({"r.yml": cisco}).rules).engine_by_reason())) == "cisco-route"


LINUX = "category: process_creation\n    product: linux"


def test_linux_image_is_the_executable_else_the_absolute_first_token_of_the_command_line() -> None:
    q = lucene("    sel:\n        Image|endswith: '/nc'\n    condition: sel", logsource=LINUX)
    assert q.startswith(r"process.executable.ci:*\/nc OR ((NOT _exists_:process.executable) AND ")
    assert r"process.command_line.ci:/\/[^ ]*( .*)?/" in q and r"process.command_line.ci:/[^ ]*\/nc( .*)?/" in q


@pytest.mark.parametrize(
    ("glob", "line", "first_token_matches"),
    [("*/nc", "/bin/nc -e /bin/sh", True), ("*/nc", "/bin/ncat -e", False), ("*/nc", "/bin/sh -c /bin/nc", False),
     ("/usr/bin/pyth?n3", "/usr/bin/python3 -c x", True), ("*a.b*", "/x/aXb", False), ("*a.b*", "/x/a.b", True)],
)  # fmt: skip
def test_first_token_regex_reads_like_the_stream(glob: str, line: str, first_token_matches: bool) -> None:
    from sigma.types import SigmaString

    from detectors.hunt.ecs_fields import first_token_regex

    pattern = first_token_regex(SigmaString(glob))
    assert bool(re.fullmatch(pattern, line)) is first_token_matches
    assert fnmatch.fnmatchcase(line.split(" ", 1)[0], glob) is first_token_matches  # what the stream compares


def test_a_web_rule_reads_the_ecs_fields_the_stream_resolves() -> None:
    q = lucene("    sel:\n        cs-method: POST\n        sc-status: 404\n    condition: sel",
               logsource="category: webserver")  # fmt: skip
    # the ECS field, else the label of that name (the stream's fallback); the status code is a long: no `.ci`
    assert q == ("(http.request.method.ci:post OR ((NOT _exists_:http.request.method) AND labels.cs-method.ci:post))"
                 " AND (http.response.status_code:404 OR ((NOT _exists_:http.response.status_code) AND "
                 "labels.sc-status:404))")  # fmt: skip


def test_values_the_stream_also_reads_in_another_spelling_are_left_to_the_engine() -> None:
    """The index holds `%%4417` and `%{guid}` as logged; the stream also reads `WriteData (or AddFile)` and
    the bare or braced GUID (view.SPELLED_FIELDS). A rule written in the logged form stays a Lucene query."""

    def kind(code: int, item: str) -> str:
        detection = f"    selection:\n        EventID: {code}\n        {item}\n    condition: selection"
        texts = {"r.yml": rule(detection, logsource="service: security\n    product: windows")}
        (query,) = convert_rules(load_texts(texts).rules, NAMES).queries.values()
        return query.refused.kind if query.refused else query.evaluation

    assert kind(5145, "AccessList|contains: 'WriteData'") == "derived-field"
    assert kind(5145, "AccessList|contains: '%%4417'") == "lucene"
    assert kind(4662, "ObjectType: '19195a5b-6da0-11d0-afd3-00c04fd930c9'") == "derived-field"
    assert kind(4663, "ObjectName|endswith: '\\lsass.exe'") == "lucene"
