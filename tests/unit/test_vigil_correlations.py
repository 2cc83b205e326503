"""Vigil's Sigma correlation rules (detectors/rules/vigil/correlation) on the real attack recordings of
../shared/datasets/attack/mdecrevoisier: each fires on the attack it was written for, with the group
and count a recount of the file gives, not one event below its threshold, in any arrival order within
the allowance, and never on the other 10,000 recorded events; their base rules raise nothing alone,
neither in the stream nor in the hunts over Elasticsearch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.models.alert import Alert
from core.models.ecs import EcsEvent
from core.models.entity import Inventory
from core.settings import Settings
from detectors.coverage import folder_technique, technique_matches
from detectors.hunt.convert import convert_loaded
from detectors.registry import build_plan
from detectors.replay import read_events, replay
from detectors.sigma import SigmaEngine
from detectors.sigma.loader import load_rules, load_texts
from detectors.sigma.view import build_view, norm_field
from tests.datasets import dataset

CORRELATIONS = Path(__file__).resolve().parents[2] / "detectors" / "rules" / "vigil" / "correlation"


@dataclass(frozen=True)
class Case:
    file: str  # under attack/mdecrevoisier
    rule_id: str
    group_field: str  # the Sigma field the rule groups by
    group: str  # its value in the alert
    counted: str | None  # value_count: the field whose distinct values are counted; event_count: None
    threshold: int
    span: timedelta
    alerts: int  # groups that reach the threshold in the file
    keep: Callable[[EcsEvent], bool]  # the events the base rule matches, as a plain filter


def field(event: EcsEvent, name: str) -> str | None:
    value = build_view(event).get(norm_field(name))
    return None if value is None else str(value)


def code(*codes: str) -> Callable[[EcsEvent], bool]:
    return lambda e: e.event.code in codes


DISCOVERY = "TA0007-Discovery/"
CASES = [
    Case("TA0001-Initial access/T1078-Valid accounts/ID1149-RDP success logins to multiple hosts.jsonl",
         "3324ee3b-623d-438e-a1fb-c04a6f770528", "Param3", "10.23.123.11", "Computer",
         threshold=5, span=timedelta(minutes=15), alerts=1, keep=code("1149")),
    Case(DISCOVERY + "T1046-Network Service Scanning/ID131-RDP brutforce (no user info).jsonl",
         "b714d643-0144-459c-9d2e-4bbd9f9f3bf0", "Computer", "mssql01.offsec.lan", None,
         threshold=10, span=timedelta(minutes=1), alerts=11, keep=code("131")),
    Case(DISCOVERY + "T1087-Account discovery/ID4769-Kerberos TGS host enumeration (Bloodhound).jsonl",
         "b0870829-7c74-4414-9cf2-0cc66261da49", "TargetUserName", "admmig@OFFSEC.LAN", "ServiceName",
         threshold=10, span=timedelta(minutes=1), alerts=1,
         keep=lambda e: e.event.code == "4769" and field(e, "ServiceName") != "krbtgt"),
    Case(DISCOVERY + "T1069-Permission Groups Discovery/ID4662-Domain group enumeration CME.jsonl",
         "1188bf3b-b9e8-4efa-bb2c-39821f2025c9", "SubjectUserName", "admmig", "ObjectName",
         threshold=20, span=timedelta(minutes=1), alerts=1, keep=code("4662")),
    Case(DISCOVERY + "T1069-Permission Groups Discovery/ID4799-4624-Local admin group enumerated by SharpHound.jsonl",
         "92c1db7e-2d1d-497e-aa01-342c86429122", "SubjectUserName", "admmig", "Computer",
         threshold=5, span=timedelta(minutes=5), alerts=1, keep=code("4799")),
    Case(DISCOVERY + "T1135.xxx-Network Share Discovery/ID5140-5145-Bloodhound-SharpHound enumeration via SMB.jsonl",
         "2b1edea5-e11e-4645-807c-b0cc411a2635", "SubjectUserName", "admmig", "Computer",
         threshold=5, span=timedelta(minutes=10), alerts=1,
         keep=lambda e: e.event.code == "5145" and field(e, "RelativeTargetName") in ("samr", "lsarpc", "srvsvc")
         and (field(e, "ShareName") or "").endswith("IPC$")),
]  # fmt: skip
IDS = [Path(c.file).stem[:40] for c in CASES]
ZONE = ZoneInfo("UTC")


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.from_paths([CORRELATIONS])


def events_of(case: Case) -> list[EcsEvent]:
    path = dataset("attack", "mdecrevoisier", case.file)
    return [e for _, e in read_events([path], "auto", ZONE) if isinstance(e, EcsEvent)]


def run(engine: SigmaEngine, events: Iterable[EcsEvent]) -> list[Alert]:
    pipeline = build_plan(Settings(), engine, inventory=Inventory()).replay_pipeline()
    ours = {r.id for r in engine.correlations.rules}
    alerts = replay(((Path("x"), e) for e in events), pipeline).alerts
    return [a for a in alerts if a.rule.id in ours]


def test_every_rule_loads_and_the_base_rules_stay_silent(engine: SigmaEngine) -> None:
    report = engine.report()
    assert (report.loaded, report.correlations, report.skipped) == (6, 6, 0)
    assert {c.rule_id for c in CASES} == {r.id for r in engine.correlations.rules}
    assert all(engine.correlations.suppresses(r.info.id) for r in engine.rules)  # generate: false
    assert all(any(t.startswith("attack.t") for t in r.tags) for r in engine.correlations.rules)


def recount(case: Case, events: list[EcsEvent]) -> tuple[EcsEvent, EcsEvent]:
    """The first and the completing event of the first window `[t - span, t]` that holds, by a plain sweep."""
    mine = sorted((e for e in events if case.keep(e) and field(e, case.group_field) == case.group),
                  key=lambda e: e.timestamp)  # fmt: skip
    for k, last in enumerate(mine):
        window = [e for e in mine[: k + 1] if e.timestamp >= last.timestamp - case.span]
        counted = len(window) if case.counted is None else len({(field(e, case.counted) or "").lower() for e in window})
        if counted >= case.threshold:
            return window[0], last
    raise AssertionError("the recount finds no window that holds")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fires_on_the_attack_it_was_written_for(engine: SigmaEngine, case: Case) -> None:
    events = sorted(events_of(case), key=lambda e: e.timestamp)  # as a live source delivers them
    alerts = run(engine, events)
    assert len(alerts) == case.alerts and all(a.rule.id == case.rule_id for a in alerts)
    alert = next(a for a in alerts if a.context[f"group.{case.group_field}"] == case.group)
    technique = folder_technique(Path(case.file))
    assert technique is not None and any(technique_matches(t, technique) for t in alert.attack)
    first, last = recount(case, events)
    assert (alert.first_seen, alert.last_seen) == (first.timestamp, last.timestamp)
    if case.counted is None:
        assert alert.event_count == case.threshold
    else:
        assert alert.context["value"] == case.threshold


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_below_the_threshold_is_silent(engine: SigmaEngine, case: Case) -> None:
    events = [e for e in events_of(case) if case.keep(e)]
    if case.counted is None:  # one host's connections, but one short
        mine = [e for e in events if field(e, case.group_field) == case.group]
        below = sorted(mine, key=lambda e: e.timestamp)[: case.threshold - 1]
    else:  # every event of the first threshold - 1 distinct values
        distinct = sorted({(field(e, case.counted) or "").lower() for e in events})[: case.threshold - 1]
        below = [e for e in events if (field(e, case.counted) or "").lower() in distinct]
    assert below and run(engine, below) == []
    assert run(engine, events) != []  # and the same events with the rest do fire


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_arrival_order_does_not_change_what_is_found(engine: SigmaEngine, case: Case) -> None:
    """The recordings span seconds to minutes, inside the 5-minute allowance: in file order or reversed,
    nothing is late and the same groups alert (conditions are decided at each event, so the window that
    first holds, and with it the alert's first event, depends on the order)."""
    ordered = sorted(events_of(case), key=lambda e: e.timestamp)
    found = {(a.rule.id, a.context[f"group.{case.group_field}"]) for a in run(engine, ordered)}
    for order in (events_of(case), list(reversed(ordered))):
        alerts = run(engine, order)
        assert {(a.rule.id, a.context[f"group.{case.group_field}"]) for a in alerts} == found
        assert all(a.event_count >= case.threshold for a in alerts)


def test_silent_on_every_other_recorded_attack(engine: SigmaEngine) -> None:
    root = dataset("attack", "mdecrevoisier")
    targets = {c.file for c in CASES}
    others = [p for p in sorted(root.rglob("*.jsonl")) if str(p.relative_to(root)) not in targets]
    events = [e for _, e in read_events(others, "auto", ZONE) if isinstance(e, EcsEvent)]
    assert len(others) >= 270 and len(events) >= 9_000
    assert run(engine, sorted(events, key=lambda e: e.timestamp)) == []


def test_hunts_leave_the_base_rules_to_the_stream() -> None:
    """A hunt of a base rule would raise an alert for every RDP logon or service ticket: not hunted."""
    conversion = convert_loaded(load_rules([CORRELATIONS]), None)
    assert conversion.queries == {}
    assert {s.kind for s in conversion.skipped} == {"correlation-input"} and len(conversion.skipped) == 6


def test_a_base_rule_with_a_generating_correlation_is_still_hunted() -> None:
    text = (CORRELATIONS / "rdp_connection_burst.yml").read_text(encoding="utf-8")
    loud = text.replace("    type: event_count", "    generate: true\n    type: event_count")
    conversion = convert_loaded(load_texts({"rdp_connection_burst.yml": loud}), None)
    assert list(conversion.queries) == ["e4c25551-f854-4d20-b222-e1a6963e862b"] and conversion.skipped == []
