"""The rule index (`detectors/sigma/index.py`): grouped `in` checks for a few literals and the
Aho-Corasick automaton for many report exactly the literals a text contains; each Windows EventID the
rules name has its own index; guards prefer selective atoms; rare single characters are indexed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from detectors.sigma import SigmaEngine
from detectors.sigma.compiler import indexable
from detectors.sigma.index import _substring_hits, _substrings, given
from detectors.sigma.view import build_view
from tests.unit.test_sigma_modifiers import hit, rule_text, security, sysmon

MIMIKATZ = ["lsadump::", "sekurlsa::", "kerberos::ptt", "misc::skeleton", "gentilkiwi.com", "eo.oe.kiwi",
            "kiwi legit printer", "\\mimilib.dll", "mimidrv.sys", "privilege::debug"]  # fmt: skip


@pytest.mark.parametrize("count", [len(MIMIKATZ), 60])  # a few: grouped in-checks; many: the automaton
def test_literal_hits_are_exactly_the_literals_in_the_text(count: int):
    rng = random.Random(count)
    literals = [*MIMIKATZ, *(f"lit{i}::x" for i in range(count - len(MIMIKATZ)))]
    by_literal = {literal: [i] for i, literal in enumerate(literals)}
    found_literals = _substrings(by_literal)
    assert found_literals.__class__ is tuple if count <= 24 else found_literals.__class__ is not tuple
    for _ in range(2000):
        chosen = rng.sample(literals, rng.randint(0, 3))
        noise = ["".join(rng.choice("ki:w.m ls") for _ in range(rng.randint(0, 8))) for _ in range(3)]
        text = "\x00".join(rng.sample(chosen + noise, len(chosen) + len(noise)))
        hits: set[int] = set()
        _substring_hits(found_literals, text, hits)
        assert hits == {i for i, literal in enumerate(literals) if literal in text}, text


# --- which rules an event's index offers ----------------------------------------------------------------

SECURITY = "product: windows\nservice: security"


def _engine(*detections: str, logsource: str = SECURITY) -> SigmaEngine:
    texts = {f"r{i}.yml": rule_text(d, logsource, f"{i:08d}-0000-0000-0000-000000000000")
             for i, d in enumerate(detections)}  # fmt: skip
    engine = SigmaEngine.from_texts(texts)
    assert not engine.skipped, engine.skipped
    return engine


def _candidate_ids(engine: SigmaEngine, event: dict[str, Any]) -> set[str]:
    return {engine.rules[i].info.id[:8] for i in engine.candidates(build_view(event))}


LOGON_TYPE_9 = "selection:\n    EventID: 4624\n    LogonType: 9\ncondition: selection"
FAILED_LOGON = "selection:\n    EventID: 4625\ncondition: selection"
SHARE_ACCESS = r"""
    selection:
        EventID: 5145
        ShareName: '\\\\\*\IPC$'
        RelativeTargetName|endswith: '-stdin'
    condition: selection
"""  # the event's \\*\IPC$, escaped as SigmaHQ writes it
ANY_EVENT_KEYWORD = "keywords:\n    - 'mimikatz'\ncondition: keywords"


def test_an_events_index_holds_only_the_rules_of_its_event_id():
    engine = _engine(LOGON_TYPE_9, FAILED_LOGON, SHARE_ACCESS, ANY_EVENT_KEYWORD)
    # A 4625 is offered the 4625 rule (always, its EventID decides it) and never the 4624 or 5145 ones.
    assert _candidate_ids(engine, security("4625", TargetUserName="bob")) == {"00000001"}
    # The 4624 rule hangs on LogonType once its EventID is known: a type 3 logon does not run it.
    assert _candidate_ids(engine, security("4624", LogonType="3")) == set()
    assert _candidate_ids(engine, security("4624", LogonType="9")) == {"00000000"}
    # An EventID no rule names shares one index with the rules that name none (the keyword rule).
    assert _candidate_ids(engine, security("4688", CommandLine="mimikatz.exe")) == {"00000003"}
    assert _candidate_ids(engine, security("1", CommandLine="x")) == set()
    # Indexes are bounded by the EventIDs the rules name: unnamed ones from the events add none.
    built = len(engine._by_keys)
    for event_id in ("1", "9999", "0x10", "4624x", ""):
        engine.candidates(build_view(security(event_id)))
    assert len(engine._by_keys) == built


def test_event_id_indexes_match_what_every_routed_rule_finds():
    engine = _engine(LOGON_TYPE_9, FAILED_LOGON, SHARE_ACCESS, ANY_EVENT_KEYWORD)
    events = [
        security("4624", LogonType="9"), security("4624", LogonType=9), security("4625"),
        security("5145", ShareName="\\\\*\\IPC$", RelativeTargetName="PSEXESVC-host-1-stdin"),
        security("5145", ShareName="\\\\*\\C$", RelativeTargetName="x-stdin"),
        security("4688", CommandLine="MIMIKATZ privilege::debug"), security("4625", Message="mimikatz"),
    ]  # fmt: skip
    for event in events:
        view = build_view(event)
        indexed = {m.rule_id for m in engine.evaluate_view(view).matches}
        assert indexed == {r.info.id for r in engine.rules_for_routes(view.routes) if r.pred(view)}, event
    assert [bool(engine.match(e)) for e in events] == [True, True, True, True, False, True, True]


def test_given_event_id_drops_decided_guards_and_rules_that_cannot_match():
    eq_4624, eq_4625 = ("eq", "eventid", "4624"), ("eq", "eventid", "4625")
    logon_type = ("eq", "logontype", "9")
    guards = (frozenset({eq_4624}), frozenset({logon_type}))
    assert given(guards, {"eventid": frozenset({"4624"})}) == (frozenset({logon_type}),)
    assert given(guards, {"eventid": frozenset({"4625"})}) is None  # a 4625 cannot be a 4624
    assert given((frozenset({eq_4624, eq_4625}),), {"eventid": frozenset({"4625"})}) == ()  # always
    assert given((frozenset({eq_4624, logon_type}),), {"eventid": frozenset()}) == (frozenset({logon_type}),)


def test_a_guard_prefers_a_long_literal_to_a_common_short_one():
    detection = """
        selection_img:
            Image|endswith: '.exe'
            CommandLine|contains: '--freeze-the-edr'
        selection_hash:
            Hashes|contains: 'IMPHASH=8828F0B906F7844358FB92A899E9520F'
        condition: 1 of selection_*
    """
    engine = _engine(detection, logsource="product: windows\ncategory: process_creation")
    assert _candidate_ids(engine, sysmon(Image="C:\\Windows\\System32\\cmd.exe", CommandLine="cmd /c dir")) == set()
    assert hit(engine, sysmon(Image="C:\\x\\edr.exe", CommandLine="edr.exe --freeze-the-edr 1"))


@pytest.mark.parametrize(
    ("literal", "expected"),
    [("^^", True), ("`", True), ("\u202e", True), ("а", True), ("a", False), (" ", False), ("\\", False), ("", False)],
)
def test_which_literals_the_index_can_look_for(literal: str, expected: bool):
    assert indexable(literal) is expected


def test_rules_of_rare_characters_are_indexed_not_run_on_every_event():
    dosfuscation = "selection:\n    CommandLine|contains:\n        - '^^'\n        - ',;,'\ncondition: selection"
    right_to_left = "selection:\n    CommandLine|contains: '\u202e'\ncondition: selection"
    engine = _engine(dosfuscation, right_to_left, logsource="product: windows\ncategory: process_creation")
    assert not engine._bucket(build_view(sysmon()).routes, "1").always
    assert _candidate_ids(engine, sysmon(CommandLine="cmd /c echo hi")) == set()
    assert hit(engine, sysmon(CommandLine="c^^md /c calc"))
    assert hit(engine, sysmon(CommandLine="notepad \u202etxt.exe"))


def test_each_literal_a_regex_needs_is_a_guard():
    stdin = "selection:\n    CommandLine|re: 'cmd.{0,5}/c.+powershell'\ncondition: selection"
    engine = _engine(stdin, logsource="product: windows\ncategory: process_creation")
    assert {atom for guard in engine.rules[0].guards for _, _, atom in guard} == {"powershell", "cmd", "/c"}
    assert _candidate_ids(engine, sysmon(CommandLine="powershell -c dir")) == set()
    assert _candidate_ids(engine, sysmon(CommandLine="cmd /c dir")) == set()
    assert _candidate_ids(engine, sysmon(CommandLine="cmd /c powershell -c dir")) == {"00000000"}
    assert hit(engine, sysmon(CommandLine="cmd /c powershell -c dir"))
    # guards read the lower-cased text, the regex is case-sensitive: a candidate, not a match
    assert _candidate_ids(engine, sysmon(CommandLine="CMD /c PowerShell")) == {"00000000"}
    assert not hit(engine, sysmon(CommandLine="CMD /c PowerShell"))


def test_an_or_offers_a_second_guard_from_its_childrens_next_best():
    """Any one guard per child of an OR is a guard of the OR: the image union and the command-line union."""
    discovery = (
        "selection_cmd:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: ' /c dir'\n"
        "selection_net:\n    Image|endswith: '\\net.exe'\n    CommandLine|contains: ' user'\n"
        "condition: 1 of selection_*"
    )
    mimikatz = "selection:\n    CommandLine|contains: 'mimikatz'\ncondition: selection"  # the index reads CommandLine
    engine = _engine(discovery, mimikatz, logsource="product: windows\ncategory: process_creation")
    assert len(engine.rules[0].guards) == 2
    cmd, net = "C:\\Windows\\System32\\cmd.exe", "C:\\Windows\\System32\\net.exe"
    assert _candidate_ids(engine, sysmon(Image=cmd, CommandLine="cmd /c echo")) == set()
    assert _candidate_ids(engine, sysmon(Image="C:\\x\\notepad.exe", CommandLine="x /c dir")) == set()
    assert _candidate_ids(engine, sysmon(Image=net, CommandLine="net user")) == {"00000000"}
    assert hit(engine, sysmon(Image=net, CommandLine="net user"))
    # the unions are looser than the rule: a candidate (net.exe, ` /c dir`), not a match
    assert _candidate_ids(engine, sysmon(Image=net, CommandLine="net /c dir")) == {"00000000"}
    assert not hit(engine, sysmon(Image=net, CommandLine="net /c dir"))


def test_a_rule_is_a_candidate_only_when_a_second_guard_also_has_a_hit():
    copy_by_cmd = (
        "selection:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|contains: '/c copy'\ncondition: selection"
    )
    mimikatz = "selection:\n    CommandLine|contains: 'mimikatz'\ncondition: selection"
    any_powershell = "selection:\n    Image|endswith: '\\powershell.exe'\ncondition: selection"
    engine = _engine(copy_by_cmd, mimikatz, any_powershell, logsource="product: windows\ncategory: process_creation")
    cmd = "C:\\Windows\\System32\\cmd.exe"
    assert _candidate_ids(engine, sysmon(Image=cmd, CommandLine="cmd /c dir")) == set()
    assert _candidate_ids(engine, sysmon(Image="C:\\x\\notepad.exe", CommandLine="x /c copy a b")) == set()
    assert _candidate_ids(engine, sysmon(Image=cmd, CommandLine="cmd /c copy a b")) == {"00000000"}
    assert hit(engine, sysmon(Image=cmd, CommandLine="cmd /C COPY a b"))
