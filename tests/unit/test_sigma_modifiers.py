"""Sigma detection semantics, one construct at a time: each with events that must and must not match.

Rules are written inline (YAML) and run through the real loader, compiler, router and index; events
are ECS documents as `vigil.events` carries them (Windows ones with `winlog.event_data`).
"""

from __future__ import annotations

import base64
from textwrap import dedent, indent
from typing import Any

import pytest

from detectors.sigma import SigmaEngine
from detectors.sigma.engine import CompiledRule
from detectors.sigma.loader import LogSource, RuleInfo

PROCESS_CREATION = "product: windows\ncategory: process_creation"


def rule_text(detection: str, logsource: str = PROCESS_CREATION, rule_id: str = "11111111-1111-1111-1111-111111111111"):
    return (
        f"title: Test rule\nid: {rule_id}\nstatus: test\nlevel: high\ntags:\n    - attack.t1059\n"
        f"logsource:\n{indent(logsource, '    ')}\ndetection:\n{indent(dedent(detection).strip(), '    ')}\n"
    )


def rule(detection: str, logsource: str = PROCESS_CREATION, rule_id: str = "11111111-1111-1111-1111-111111111111"):
    engine = SigmaEngine.from_texts({"rule.yml": rule_text(detection, logsource, rule_id)})
    assert not engine.skipped, engine.skipped
    return engine


def sysmon(event_id: str = "1", **data: Any) -> dict[str, Any]:
    return {
        "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": event_id, "event_data": data},
        "event": {"id": "evt-1"},
    }


def security(event_id: str, **data: Any) -> dict[str, Any]:
    return {"winlog": {"channel": "Security", "event_id": event_id, "event_data": data}}


def hit(engine: SigmaEngine, event: dict[str, Any]) -> bool:
    evaluation = engine.evaluate(event)
    assert not evaluation.errors, evaluation.errors
    return bool(evaluation.matches)


# --- strings, wildcards, case ---------------------------------------------------------------------------


def test_plain_value_is_exact_and_case_insensitive():
    e = rule("selection:\n    CommandLine: 'whoami /all'\ncondition: selection")
    assert hit(e, sysmon(CommandLine="whoami /all"))
    assert hit(e, sysmon(CommandLine="WHOAMI /ALL"))
    assert not hit(e, sysmon(CommandLine="whoami /all /fo csv"))
    assert not hit(e, sysmon(Image="whoami /all"))  # another field
    assert not hit(e, sysmon())  # field absent


def test_contains_startswith_endswith():
    e = rule(
        """
        sel_contains:
            CommandLine|contains: 'DownloadString'
        sel_starts:
            CommandLine|startswith: 'cmd.exe /c'
        sel_ends:
            Image|endswith: '\\rundll32.exe'
        condition: 1 of sel_*
        """
    )
    assert hit(e, sysmon(CommandLine="iex (new-object net.webclient).downloadstring('x')"))
    assert hit(e, sysmon(CommandLine="CMD.EXE /C dir"))
    assert hit(e, sysmon(Image="C:\\Windows\\System32\\RUNDLL32.EXE"))
    assert not hit(e, sysmon(CommandLine="download string", Image="C:\\rundll32.exe.bak"))
    assert not hit(e, sysmon(CommandLine="x cmd.exe /c"))


def test_wildcards_and_escapes():
    e = rule(
        """
        sel_star:
            CommandLine: 'net * user'
        sel_single:
            Image: 'C:\\tools\\ps?.exe'
        sel_escaped:
            CommandLine: 'literal\\*star'
        condition: 1 of sel_*
        """
    )
    assert hit(e, sysmon(CommandLine="net localgroup user"))
    assert not hit(e, sysmon(CommandLine="net localgroup users"))
    assert hit(e, sysmon(Image="C:\\tools\\ps1.exe"))
    assert not hit(e, sysmon(Image="C:\\tools\\ps12.exe"))
    assert hit(e, sysmon(CommandLine="literal*star"))
    assert not hit(e, sysmon(CommandLine="literalXstar"))


def test_lists_are_or_maps_are_and_list_of_maps_is_or():
    e = rule(
        """
        selection:
            - Image|endswith: '\\a.exe'
              CommandLine|contains:
                  - ' -x '
                  - ' -y '
            - OriginalFileName: 'b.exe'
        condition: selection
        """
    )
    assert hit(e, sysmon(Image="C:\\a.exe", CommandLine="a -y z"))
    assert not hit(e, sysmon(Image="C:\\a.exe", CommandLine="a -z z"))  # map: both needed
    assert not hit(e, sysmon(Image="C:\\c.exe", CommandLine="a -x z"))
    assert hit(e, sysmon(OriginalFileName="B.EXE"))


def test_all_modifier_needs_every_value():
    e = rule(
        "selection:\n    CommandLine|contains|all:\n        - 'vssadmin'\n        - 'delete'\ncondition: selection"
    )
    assert hit(e, sysmon(CommandLine="vssadmin.exe Delete Shadows /all"))
    assert not hit(e, sysmon(CommandLine="vssadmin list shadows"))


def test_cased_is_case_sensitive():
    e = rule("selection:\n    CommandLine|cased|contains: 'MiMiKaTz'\ncondition: selection")
    assert hit(e, sysmon(CommandLine="run MiMiKaTz now"))
    assert not hit(e, sysmon(CommandLine="run mimikatz now"))


# --- regular expressions ----------------------------------------------------------------------------


def test_re_is_case_sensitive_and_searched():
    e = rule("selection:\n    CommandLine|re: 'Invoke-[A-Z]+'\ncondition: selection")
    assert hit(e, sysmon(CommandLine="powershell Invoke-WEB"))
    assert not hit(e, sysmon(CommandLine="powershell invoke-web"))


def test_re_flags_i_m_s():
    ignore = rule("selection:\n    CommandLine|re|i: '^invoke-[a-z]+$'\ncondition: selection")
    assert hit(ignore, sysmon(CommandLine="INVOKE-WEB"))
    multi = rule("selection:\n    CommandLine|re|m: '^second$'\ncondition: selection")
    assert hit(multi, sysmon(CommandLine="first\nsecond\nthird"))
    assert not hit(
        rule("selection:\n    CommandLine|re: '^second$'\ncondition: selection"), sysmon(CommandLine="a\nsecond")
    )
    dotall = rule("selection:\n    CommandLine|re|s: 'begin.+end'\ncondition: selection")
    assert hit(dotall, sysmon(CommandLine="begin\nmiddle\nend"))
    assert not hit(
        rule("selection:\n    CommandLine|re: 'begin.+end'\ncondition: selection"), sysmon(CommandLine="begin\nend")
    )


def test_re_with_contains_is_not_anchored_twice():
    e = rule("selection:\n    CommandLine|re: '.*-[eE]nc.*'\ncondition: selection")
    assert hit(e, sysmon(CommandLine="powershell -enc AAAA"))
    assert not hit(e, sysmon(CommandLine="powershell -ENC AAAA"))


# --- encodings ------------------------------------------------------------------------------------------


def test_base64_and_base64offset():
    exact = rule("selection:\n    CommandLine|base64: 'secret'\ncondition: selection")
    assert hit(exact, sysmon(CommandLine=base64.b64encode(b"secret").decode()))
    assert not hit(exact, sysmon(CommandLine="secret"))
    e = rule("selection:\n    CommandLine|base64offset|contains: 'http://'\ncondition: selection")
    for prefix in (b"", b"x", b"xy"):  # the three alignments of the value inside a larger blob
        blob = base64.b64encode(prefix + b"http://evil.example/payload").decode()
        assert hit(e, sysmon(CommandLine=f"powershell -e {blob}")), prefix
    assert not hit(e, sysmon(CommandLine=base64.b64encode(b"ftp://evil.example").decode()))


def test_utf16_wide_base64offset_catches_encoded_powershell():
    e = rule("selection:\n    CommandLine|wide|base64offset|contains: 'IEX'\ncondition: selection")
    encoded = base64.b64encode("$a=1; IEX (New-Object Net.WebClient)".encode("utf-16le")).decode()
    assert hit(e, sysmon(CommandLine=f"powershell -EncodedCommand {encoded}"))
    assert not hit(e, sysmon(CommandLine=base64.b64encode(b"$a=1; IEX (x)").decode()))  # utf-8, not wide
    utf16le = rule("selection:\n    CommandLine|utf16le|base64offset|contains: 'IEX'\ncondition: selection")
    assert hit(utf16le, sysmon(CommandLine=encoded))
    utf16be = rule("selection:\n    CommandLine|utf16be|base64offset|contains: 'IEX'\ncondition: selection")
    assert hit(utf16be, sysmon(CommandLine=base64.b64encode("xx IEX yy".encode("utf-16be")).decode()))
    assert not hit(utf16be, sysmon(CommandLine=base64.b64encode(b"xx IEX yy").decode()))


def test_wide_without_base64_matches_nul_interleaved_text():
    e = rule(
        "selection:\n    Data|wide|contains: 'abc'\ncondition: selection", "product: windows\nservice: application"
    )
    event = {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"Data": "xa\x00b\x00c\x00y"}}}
    assert hit(e, event)
    assert not hit(e, {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"Data": "abc"}}})


@pytest.mark.parametrize("dash", ["-", "/", "\u2013", "\u2014", "\u2015"])
def test_windash_accepts_every_dash(dash: str):
    e = rule("selection:\n    CommandLine|windash|contains: ' -exec bypass'\ncondition: selection")
    assert hit(e, sysmon(CommandLine=f"powershell {dash}exec bypass"))


def test_windash_does_not_accept_other_characters():
    e = rule("selection:\n    CommandLine|windash|contains: ' -exec bypass'\ncondition: selection")
    assert not hit(e, sysmon(CommandLine="powershell +exec bypass"))
    assert not hit(e, sysmon(CommandLine="powershell exec bypass"))


# --- networks, numbers, references, existence ---------------------------------------------------------------


def test_cidr_ipv4_and_ipv6():
    e = rule(
        "selection:\n    DestinationIp|cidr:\n        - '10.0.0.0/8'\n        - 'fd00::/8'\ncondition: selection",
        "product: windows\ncategory: network_connection",
    )
    assert hit(e, sysmon("3", DestinationIp="10.20.30.40"))
    assert hit(e, sysmon("3", DestinationIp="fd12:3456::1"))
    assert hit(e, sysmon("3", DestinationIp="::ffff:10.1.2.3"))  # v4-mapped v6
    assert not hit(e, sysmon("3", DestinationIp="11.0.0.1"))
    assert not hit(e, sysmon("3", DestinationIp="fe80::1"))
    assert not hit(e, sysmon("3", DestinationIp="not-an-ip"))


def test_numeric_comparisons():
    e = rule(
        "selection:\n    EventID: 4625\n    FailureCount|gte: 5\n    FailureCount|lt: 100\ncondition: selection",
        "product: windows\nservice: security",
    )
    assert hit(e, security("4625", FailureCount="5"))
    assert hit(e, security("4625", FailureCount=99))
    assert not hit(e, security("4625", FailureCount="4"))
    assert not hit(e, security("4625", FailureCount="100"))
    assert not hit(e, security("4625", FailureCount="many"))
    gt_lte = rule(
        "selection:\n    Size|gt: 10\n    Size|lte: 0x20\ncondition: selection", "product: windows\nservice: security"
    )
    assert hit(gt_lte, security("1", Size="0x20"))  # hex values compare by value
    assert not hit(gt_lte, security("1", Size="10"))


def test_numbers_match_their_text_and_text_matches_numbers():
    number = rule("selection:\n    EventID: 4688\ncondition: selection", "product: windows\nservice: security")
    assert hit(number, security("4688"))
    assert hit(number, {"winlog": {"channel": "Security", "event_id": 4688, "event_data": {}}})
    assert not hit(number, security("46880"))
    text = rule("selection:\n    EventID: '4688'\ncondition: selection", "product: windows\nservice: security")
    assert hit(text, security("4688"))


def test_fieldref_compares_two_fields():
    e = rule("selection:\n    ParentImage|fieldref: Image\ncondition: selection")
    assert hit(e, sysmon(Image="C:\\x\\a.exe", ParentImage="c:\\X\\A.EXE"))
    assert not hit(e, sysmon(Image="C:\\x\\a.exe", ParentImage="C:\\x\\b.exe"))
    assert not hit(e, sysmon(Image="C:\\x\\a.exe"))
    ends = rule("selection:\n    CommandLine|fieldref|endswith: Image\ncondition: selection")
    assert hit(ends, sysmon(Image="C:\\a.exe", CommandLine='"x" C:\\a.exe'))
    assert not hit(ends, sysmon(Image="C:\\a.exe", CommandLine="C:\\a.exe -x"))


def test_exists():
    present = rule("selection:\n    Hashes|exists: true\ncondition: selection")
    absent = rule("selection:\n    Hashes|exists: false\ncondition: selection")
    assert hit(present, sysmon(Hashes="SHA256=00"))
    assert not hit(present, sysmon(Image="x"))
    assert hit(absent, sysmon(Image="x"))
    assert not hit(absent, sysmon(Hashes="SHA256=00"))


def test_null_matches_absent_and_empty_string_matches_empty():
    """The spec's two special values are two tests (rules write `1 of selection_empty*` for either)."""
    null = rule(
        "selection:\n    Image|endswith: '\\a.exe'\nfilter:\n    CommandLine: null\ncondition: selection and filter"
    )
    assert hit(null, sysmon(Image="C:\\a.exe"))
    assert not hit(null, sysmon(Image="C:\\a.exe", CommandLine=""))  # an empty Data element is a value
    assert not hit(null, sysmon(Image="C:\\a.exe", CommandLine="a.exe"))
    empty = rule("selection:\n    CommandLine: ''\ncondition: selection")
    assert hit(empty, sysmon(CommandLine=""))
    assert not hit(empty, sysmon(CommandLine="x"))


# --- conditions -----------------------------------------------------------------------------------------


def test_one_of_and_all_of_with_wildcards_and_not():
    e = rule(
        """
        selection_img:
            Image|endswith: '\\net.exe'
        selection_cli:
            CommandLine|contains: ' user '
        filter_main:
            User|contains: 'SYSTEM'
        condition: all of selection_* and not 1 of filter_*
        """
    )
    assert hit(e, sysmon(Image="C:\\net.exe", CommandLine="net user x", User="corp\\bob"))
    assert not hit(e, sysmon(Image="C:\\net.exe", CommandLine="net group x", User="corp\\bob"))
    assert not hit(e, sysmon(Image="C:\\net.exe", CommandLine="net user x", User="NT AUTHORITY\\SYSTEM"))


def test_all_of_them_and_one_of_them_and_parentheses():
    all_of = rule("a:\n    Image: 'x'\nb:\n    CommandLine: 'y'\ncondition: all of them")
    assert hit(all_of, sysmon(Image="x", CommandLine="y"))
    assert not hit(all_of, sysmon(Image="x", CommandLine="z"))
    one_of = rule("a:\n    Image: 'x'\nb:\n    CommandLine: 'y'\ncondition: 1 of them")
    assert hit(one_of, sysmon(CommandLine="y"))
    grouped = rule("a:\n    Image: 'x'\nb:\n    CommandLine: 'y'\nc:\n    User: 'z'\ncondition: a and (b or c)")
    assert hit(grouped, sysmon(Image="x", User="z"))
    assert not hit(grouped, sysmon(User="z"))


def test_keywords_search_all_values_case_insensitively_and_all_keywords():
    logsource = "product: windows\nservice: application"
    keywords = rule("keywords:\n    - 'Failed to load'\n    - 'evil*module'\ncondition: keywords", logsource)
    app = {"winlog": {"channel": "Application", "event_id": "1000", "event_data": {"A": "x", "B": "FAILED TO LOAD y"}}}
    assert hit(keywords, app)
    wild = {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"A": "an evil test module"}}}
    assert hit(keywords, wild)
    across = {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"A": "evil", "B": "module"}}}
    assert not hit(keywords, across)  # a wildcard does not reach from one field into the next
    every = rule("keywords:\n    '|all':\n        - 'alpha'\n        - 'beta'\ncondition: keywords", logsource)
    both = {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"A": "alpha", "B": "beta"}}}
    assert hit(every, both)
    assert not hit(every, {"winlog": {"channel": "Application", "event_id": "1", "event_data": {"A": "alpha"}}})


def test_keywords_on_text_logs_use_message_and_original():
    e = rule("keywords:\n    - 'Corrupted MAC on input'\ncondition: keywords", "product: linux\nservice: sshd")
    line = "Jan 1 00:00:00 host sshd[1]: Corrupted MAC on input."
    event = {"message": "Corrupted MAC on input.", "event": {"original": line, "dataset": "system.auth"},
             "process": {"name": "sshd"}, "vigil": {"parser": "syslog.linux_auth"}}  # fmt: skip
    assert hit(e, event)
    event["message"] = "Accepted password for root"
    event["event"]["original"] = "Jan 1 00:00:00 host sshd[1]: Accepted password for root"
    assert not hit(e, event)


# --- routing, aliases, errors ---------------------------------------------------------------------------


def test_process_creation_rules_see_security_4688_under_sysmon_names():
    e = rule(
        "selection:\n    Image|endswith: '\\whoami.exe'\n    ParentImage|endswith: '\\cmd.exe'\ncondition: selection"
    )
    event = security("4688", NewProcessName="C:\\Windows\\System32\\whoami.exe", ParentProcessName="C:\\cmd.exe")
    assert hit(e, event)
    assert not hit(
        e, {"winlog": {"channel": "Security", "event_id": "4624", "event_data": event["winlog"]["event_data"]}}
    )


def test_rules_only_see_their_log_source():
    e = rule("selection:\n    Image|endswith: '\\whoami.exe'\ncondition: selection")
    assert hit(e, sysmon("1", Image="C:\\whoami.exe"))
    assert not hit(e, sysmon("11", Image="C:\\whoami.exe"))  # file_event, not process_creation
    assert not hit(e, {"winlog": {"channel": "System", "event_id": "1", "event_data": {"Image": "C:\\whoami.exe"}}})


def test_match_reports_rule_and_event():
    e = rule("selection:\n    Image|endswith: '\\whoami.exe'\ncondition: selection")
    [found] = e.match(sysmon(Image="C:\\whoami.exe"))
    assert (found.rule_id, found.title, found.level, found.tags, found.event_id) == (
        "11111111-1111-1111-1111-111111111111", "Test rule", "high", ("attack.t1059",), "evt-1",
    )  # fmt: skip


def test_a_failing_rule_is_counted_and_reported_not_a_silent_no_match():
    info = RuleInfo("bad", "Broken", "high", "test", (), LogSource("windows", "process_creation"), (), "x", "x")

    def broken(view: Any) -> bool:
        raise ValueError("boom")

    good = rule("selection:\n    Image|endswith: '\\whoami.exe'\ncondition: selection").rules[0]
    failing = CompiledRule(0, info, broken, (), ("wincat:process_creation",))
    engine = SigmaEngine([failing, CompiledRule(1, good.info, good.pred, (), good.routes)], [], {})
    evaluation = engine.evaluate(sysmon(Image="C:\\whoami.exe"))
    assert [m.rule_id for m in evaluation.matches] == [good.info.id]
    assert [(err.rule_id, type(err.cause)) for err in evaluation.errors] == [("bad", ValueError)]
    engine.match(sysmon(Image="C:\\x.exe"))
    assert engine.error_counts["bad"] == 2


def test_unresolved_placeholder_is_skipped_with_reason_and_resolved_one_loads():
    text = dedent(
        """
        title: Placeholder
        id: 22222222-2222-2222-2222-222222222222
        logsource:
            product: windows
            category: process_creation
        detection:
            selection:
                Image|endswith: '\\a.exe'
            filter:
                User|expand: '%admins%'
            condition: selection and not filter
        """
    )
    skipped = SigmaEngine.from_texts({"p.yml": text})
    assert [s.reason.value for s in skipped.skipped] == ["unresolved-placeholder"]
    loaded = SigmaEngine.from_texts({"p.yml": text}, placeholders={"admins": ["corp\\admin"]})
    assert not loaded.skipped
    assert loaded.match(sysmon(Image="C:\\a.exe", User="corp\\bob"))
    assert not loaded.match(sysmon(Image="C:\\a.exe", User="CORP\\admin"))


def test_unroutable_logsource_is_skipped_with_reason():
    text = "title: Cloud\nid: 33333333-3333-3333-3333-333333333333\n"
    text += "logsource:\n    product: aws\n    service: cloudtrail\n"
    text += "detection:\n    selection:\n        eventName: x\n    condition: selection\n"
    engine = SigmaEngine.from_texts({"c.yml": text})
    [skipped] = engine.skipped
    assert skipped.reason.value == "unsupported-logsource"
    assert "aws" in skipped.detail


@pytest.mark.parametrize(
    "data",
    [
        {"A": "x", "B": "", "C": "y"},  # all strings, one empty: left out as on the general path
        {"A": "x", "B": None, "C": 0, "D": False, "E": ["p", "q"], "F": ""},  # other types: the general path
    ],
)
def test_fulltext_joins_the_non_empty_texts(data: dict[str, Any]):
    from detectors.sigma.view import KEYWORD_SEPARATOR, as_text, build_view

    event = {"winlog": {"channel": "Application", "event_id": "1", "event_data": data}, "message": "m"}
    expected: list[str] = []
    for value in [*data.values(), "m"]:
        text = as_text(value)
        expected += [] if not text else [text] if isinstance(text, str) else list(text)
    assert build_view(event).fulltext() == KEYWORD_SEPARATOR.join(expected)
