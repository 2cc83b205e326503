"""Correlation rules load as the spec says: its examples, its schema tests, references by id and name
across files, and the reasons a correlation is not run."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from detectors.sigma import SigmaEngine, SkipReason
from detectors.sigma.correlation_rules import CorrelationType, Op
from tests.datasets import dataset
from tests.unit.correlation_kit import (
    FAILED,
    FAILED_ID,
    RECON,
    SUCCESS,
    SUCCESS_ID,
    Harness,
    base_rule,
    correlation,
    event,
)

SPEC = ("sigma", "correlation-spec")
MANY_FAILED = "5638f7c0-ac70-491d-8465-2a65075e0d86"  # the base rule id the spec examples count
# Base rules the examples reference but do not contain (the spec shows correlation documents only).
EXAMPLE_BASES = "\n---\n".join(
    [
        base_rule("failed_logon", "4625", MANY_FAILED),
        RECON,
        SUCCESS,
        base_rule("website_access", "5156", "0f000000-0000-4000-8000-000000000001"),
        base_rule("rule_a_id", "5157", "0f000000-0000-4000-8000-000000000002"),
        base_rule("process_creation", "4688", "0f000000-0000-4000-8000-000000000003"),
        base_rule("internal_error", "5158", "0f000000-0000-4000-8000-000000000004"),
        base_rule("new_network_connection", "5159", "0f000000-0000-4000-8000-000000000005"),
        correlation("event_count", ["failed_logon"], group_by=("User",), condition="gte: 3", timespan="1h",
                    rule_id="0f000000-0000-4000-8000-000000000006", name="many_failed_logins"),
    ]
)  # fmt: skip


def spec_docs() -> list[dict]:
    text = dataset(*SPEC, "examples_from_spec.yml").read_text(encoding="utf-8")
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_spec_examples_file_as_it_is():
    """Fragments of the spec: each loads, or is skipped with the reason the spec gives for it."""
    engine = SigmaEngine.from_texts(
        {"examples_from_spec.yml": dataset(*SPEC, "examples_from_spec.yml").read_text(), "bases.yml": EXAMPLE_BASES}
    )
    loaded = {r.title: r for r in engine.correlations.rules}
    assert {"Many failed logins", "Failed login", "Possible Exfiltration to Website",
            "Suspicious average network traffic"} <= set(loaded)  # fmt: skip
    skipped = {(s.title, s.reason) for s in engine.skipped}
    assert ("login brute force", SkipReason.PARSE_ERROR) in skipped  # no type: a fragment showing `rules`
    assert sum(1 for s in engine.skipped if "must have a title" in s.detail) == 2  # title is mandatory
    assert any("identifier must be an UUID" in s.detail for s in engine.skipped)  # `id: —`
    percentile = [s for s in engine.skipped if s.reason is SkipReason.UNSUPPORTED_CORRELATION]
    assert [s.detail for s in percentile] == ["correlation type value_percentile is not evaluated by Vigil"]


def test_the_spec_examples_completed_behave_as_the_spec_says():
    """The same examples with the missing title/id filled in; each fires on its positive sequence only."""
    docs = [d for d in spec_docs() if d["correlation"].get("type") != "value_percentile"]  # not run by Vigil
    for i, doc in enumerate(docs):
        doc.setdefault("title", f"example {i}")
        if doc.get("id") == "—" or doc["correlation"].get("type") is None:  # invalid id; an id used twice
            doc.pop("id")
        if doc["correlation"].get("type") is None:
            doc["correlation"].update(type="event_count", timespan="1h", condition={"gte": 2}, **{"group-by": ["User"]})
    firewall = base_rule("firewall_block", "5152", "0f000000-0000-4000-8000-000000000007")
    h = Harness(yaml.safe_dump_all(docs, allow_unicode=True), EXAMPLE_BASES, firewall)
    kinds = {r.type for r in h.engine.correlations.rules}
    assert kinds == set(CorrelationType)
    fired = lambda alerts: {a.rule.title for a in alerts}  # noqa: E731

    # event_count: gte 100 failed logins per ComputerName in 1 h (and the fragment, gte 2 per User)
    many = [event(i * 30, ComputerName="dc1", User=f"u{i % 2}") for i in range(99)]
    assert "Many failed logins" not in fired(h.feed(*many))
    assert "Many failed logins" in fired(h.feed(event(99 * 30, ComputerName="dc1", User="u1")))

    # value_count: 100 distinct users per ComputerName + WorkstationName in a day
    users = [event(3000 + i, "4625", ComputerName="dc2", WorkstationName="ws", User=f"v{i % 99}") for i in range(110)]
    assert "Failed login" not in fired(h.feed(*users))  # 110 failures, 99 distinct users
    assert "Failed login" in fired(h.feed(event(3200, "4625", ComputerName="dc2", WorkstationName="ws", User="new")))

    # temporal (recon a, b, c in any order within 5 m) and temporal_ordered (3 failures then a success)
    recon = [event(10_000 + i, code, ComputerName="ws3", User="eve") for i, code in enumerate(("5140", "4798"))]
    assert "example 3" not in fired(h.feed(*recon))
    assert "example 3" in fired(h.feed(event(10_010, "4799", ComputerName="ws3", User="eve")))
    success_first = [event(20_000, "4624", User="zed"), *[event(20_001 + i, User="zed") for i in range(3)]]
    assert "example 4" not in fired(h.feed(*success_first))
    assert "example 4" in fired(h.feed(event(20_010, "4624", User="zed")))

    # value_sum: more than 1,000,000 bytes per SourceIP + User in 1 h
    sent = [event(30_000 + i, "5156", SourceIP="10.9.9.9", User="ann", bytes_sent="400000") for i in range(3)]
    assert [t for t in fired(h.feed(*sent)) if "Exfiltration" in t] == ["Possible Exfiltration to Website"]

    # value_avg: average BytesOut above 500 per SourceIP + User in 24 h
    out = [event(40_000 + i, "5157", SourceIP="10.8.8.8", User="bo", BytesOut=n) for i, n in enumerate(("100", "900"))]
    assert "Suspicious average network traffic" not in fired(h.feed(*out))  # average exactly 500
    assert "Suspicious average network traffic" in fired(
        h.feed(event(40_005, "5157", SourceIP="10.8.8.8", User="bo", BytesOut="503"))
    )


@pytest.mark.parametrize("path", sorted(Path(dataset(*SPEC, "tests", "schema", "correlation")).glob("*.yml")),
                         ids=lambda p: p.stem)  # fmt: skip
def test_the_spec_schema_tests_load(path: Path):
    engine = SigmaEngine.from_texts({path.name: path.read_text(encoding="utf-8"), "bases.yml": EXAMPLE_BASES})
    if path.stem == "value_percentile":
        assert [s.reason for s in engine.skipped] == [SkipReason.UNSUPPORTED_CORRELATION]
        return
    assert not engine.skipped, engine.skipped
    [rule] = [r for r in engine.correlations.rules if r.path.endswith(path.name)]
    assert rule.type.value == path.stem.removesuffix("_ecs")
    assert rule.group_by and rule.timespan >= timedelta(minutes=5)


def test_ranges_and_fractional_thresholds_are_read_from_the_document():
    text = correlation("value_sum", [FAILED_ID], condition="field: bytes; gt: 100.5; lte: 200")
    [rule] = SigmaEngine.from_texts({"a.yml": FAILED, "b.yml": text}).correlations.rules
    assert rule.condition.bounds == ((Op.GT, 100.5), (Op.LTE, 200.0))
    assert rule.condition.at_close and str(rule.condition) == "gt 100.5 and lte 200"


def test_references_by_id_and_by_name_across_files():
    by_id = correlation("event_count", [FAILED_ID], condition="gte: 2")
    by_name = correlation(
        "temporal", ["failed_login", "successful_login"], rule_id="c0000000-0000-4000-8000-0000000000b2"
    )
    engine = SigmaEngine.from_texts({"base1.yml": FAILED, "base2.yml": SUCCESS, "c1.yml": by_id, "c2.yml": by_name})
    assert [r.rules for r in engine.correlations.rules] == [(FAILED_ID,), (FAILED_ID, SUCCESS_ID)]
    assert engine.correlations.base_rule_ids == {FAILED_ID, "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"}
    report = engine.report()
    assert (report.loaded, report.correlations, report.skipped) == (2, 2, 0)


def test_a_correlation_is_skipped_with_the_reason_when_it_cannot_run():
    missing = correlation("event_count", ["no_such_rule"], condition="gte: 2")
    built_on = correlation("temporal", ["test event_count", FAILED_ID], rule_id="c0000000-0000-4000-8000-0000000000c2")
    unsupported = correlation("value_median", [FAILED_ID], condition="field: x; gt: 1",
                              rule_id="c0000000-0000-4000-8000-0000000000c3")  # fmt: skip
    engine = SigmaEngine.from_texts({"a.yml": FAILED, "b.yml": missing, "c.yml": built_on, "d.yml": unsupported})
    reasons = {s.id: (s.reason, s.detail) for s in engine.skipped}
    assert reasons["c0000000-0000-4000-8000-000000000001"] == (
        SkipReason.UNRESOLVED_REFERENCE, "rule reference 'no_such_rule' is not a loaded rule id or name")  # fmt: skip
    assert reasons["c0000000-0000-4000-8000-0000000000c2"][0] is SkipReason.UNRESOLVED_REFERENCE
    assert reasons["c0000000-0000-4000-8000-0000000000c3"][0] is SkipReason.UNSUPPORTED_CORRELATION
    assert engine.correlations.rules == ()


def test_a_rule_name_shared_by_two_files_resolves_to_the_one_in_the_same_file():
    other = base_rule("failed_login", "4771", "0e000000-0000-4000-8000-000000000001")
    local = FAILED + "---\n" + correlation("event_count", ["failed_login"], condition="gte: 2")
    engine = SigmaEngine.from_texts({"other.yml": other, "local.yml": local})
    assert engine.correlations.rules[0].rules == (FAILED_ID,)


def test_rule_matches_carry_the_rule_name():
    engine = SigmaEngine.from_texts({"a.yml": FAILED})
    [match] = engine.match(event(0))
    assert match.name == "failed_login"
