"""Engine hunts: which rules the stream's engine evaluates over their log source instead of Lucene, what
their query selects, and that the one-rule engine decides on each hit as the stream does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detectors.alerting import AlertingSettings
from detectors.hunt.convert import Conversion, HuntQuery, convert_rules, engine_logsource_filter
from detectors.hunt.run import Hunter
from detectors.sigma import SigmaEngine
from detectors.sigma.errors import SigmaEngineError
from detectors.sigma.loader import LoadedRules, load_rules, load_texts
from detectors.sigma.view import build_view
from tests.datasets import dataset

RULE_ID = "22222222-2222-2222-2222-222222222222"
SYSMON = "Microsoft-Windows-Sysmon/Operational"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def rule(detection: str, logsource: str) -> str:
    return f"title: t\nid: {RULE_ID}\nlevel: high\nlogsource:\n    {logsource}\ndetection:\n{detection}"


def convert(detection: str, logsource: str) -> Conversion:
    return convert_rules(load_texts({"r.yml": rule(detection, logsource)}).rules)


CIDR = convert("    sel:\n        DestinationIp|cidr: '10.0.0.0/8'\n    condition: sel",
               "category: network_connection\n    product: windows")  # fmt: skip
KEYWORDS = convert("    keywords:\n        - 'mimikatz'\n    condition: keywords", "product: linux")


def sysmon3(destination: str, record: int) -> dict[str, Any]:
    return {"@timestamp": (T0 + timedelta(seconds=record)).isoformat(), "event": {"id": f"e{record}"},
            "vigil": {"category": "system", "source": "unit", "parser": "windows"}, "host": {"name": "ws1"},
            "winlog": {"channel": SYSMON, "event_id": "3", "record_id": record,
                       "event_data": {"DestinationIp": destination, "Image": "C:\\x.exe"}}}  # fmt: skip


def test_a_rule_the_backend_refuses_is_an_engine_hunt_whose_query_is_its_log_source_only() -> None:
    (query,) = CIDR.queries.values()
    assert query.evaluation == "engine" and query.lucene == "" and not CIDR.skipped
    assert query.refused is not None and query.refused.kind == "cidr" and "SigmaCIDRExpression" in query.refused.reason
    assert query.query() == {"bool": {"filter": [{"term": {"winlog.channel.ci": SYSMON.lower()}},
                                                 {"term": {"winlog.event_id": "3"}}]}}  # fmt: skip
    assert CIDR.count("engine") == 1 and CIDR.count("lucene") == 0 and CIDR.engine_by_reason() == {"cidr": 1}


def test_the_engine_decides_each_hit_as_the_stream_does() -> None:
    (query,) = CIDR.queries.values()
    stream = SigmaEngine.from_texts({"r.yml": rule("    sel:\n        DestinationIp|cidr: '10.0.0.0/8'\n"
                                                   "    condition: sel", "category: network_connection\n"
                                                   "    product: windows")})  # fmt: skip
    for event in (sysmon3("10.1.2.3", 1), sysmon3("192.168.1.1", 2), sysmon3("10.255.0.1", 3)):
        verdict = query.evaluate(build_view(event))
        assert verdict is not None and not verdict.errors
        assert [m.rule_id for m in verdict.matches] == [m.rule_id for m in stream.match(event)]
    assert query.evaluate(build_view(sysmon3("10.0.0.1", 4)))
    # a hit the filter over-selects (another route) is dropped by the engine's routing, as in the stream
    other = {**sysmon3("10.0.0.1", 5), "winlog": {**sysmon3("10.0.0.1", 5)["winlog"], "event_id": "1"}}
    verdict = query.evaluate(build_view(other))
    assert verdict is not None and verdict.matches == []


def test_a_lucene_query_defers_to_elasticsearch_and_an_engine_query_without_its_rule_refuses() -> None:
    lucene = convert("    sel:\n        Image|endswith: '\\\\x.exe'\n    condition: sel", "category: process_creation\n"
                     "    product: windows")  # fmt: skip
    (query,) = lucene.queries.values()
    assert query.evaluation == "lucene" and query.evaluate(build_view(sysmon3("10.0.0.1", 1))) is None
    (engine,) = CIDR.queries.values()
    copied = HuntQuery.model_validate(engine.model_dump())  # the compiled rule does not travel as data
    with pytest.raises(SigmaEngineError, match="no compiled rule"):
        copied.evaluate(build_view(sysmon3("10.0.0.1", 1)))


def test_linux_and_cisco_engine_hunts_select_every_event_the_stream_may_route_to_them() -> None:
    (keywords,) = KEYWORDS.queries.values()
    assert keywords.refused is not None and keywords.refused.kind == "keyword-text"
    # Linux rules also see Sysmon for Linux events (Windows-shaped), which the Lucene hunts leave out
    linux = engine_logsource_filter(["linux:*"])["bool"]["should"]
    assert {"term": {"winlog.channel.ci": "linux-sysmon/operational"}} in linux and len(linux) == 2
    sysmon_only = engine_logsource_filter(["linux:cat:network_connection"])
    assert sysmon_only == {"bool": {"filter": [{"term": {"winlog.channel.ci": "linux-sysmon/operational"}},
                                              {"term": {"winlog.event_id": "3"}}]}}  # fmt: skip
    # the Cisco route is a pattern in the message text: every non-Windows event is read
    assert engine_logsource_filter(["cisco:*"]) == {"bool": {"must_not": [{"exists": {"field": "winlog.channel"}}]}}


def test_rules_the_stream_does_not_run_either_are_not_hunted() -> None:
    unsupported = convert("    sel:\n        a: b\n    condition: sel", "category: dns_query\n    product: macos")
    assert not unsupported.queries and unsupported.by_reason() == {"unsupported-logsource": 1}
    placeholder = convert("    sel:\n        TargetUser|expand: '%admins%'\n        Foo|cidr: '10.0.0.0/8'\n"
                          "    condition: sel", "category: process_creation\n    product: windows")  # fmt: skip
    (skip,) = placeholder.skipped
    assert not placeholder.queries and skip.kind == "unresolved-placeholder" and "cidr" in skip.reason.lower()


class FakeEs:
    """`iter_hits`'s three calls over fixed documents (one page)."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self.docs = docs

    def open_point_in_time(self, **_: Any) -> dict[str, str]:
        return {"id": "pit"}

    def search(self, **_: Any) -> dict[str, Any]:
        return {"hits": {"hits": [{"_id": f"d{i}", "_source": d} for i, d in enumerate(self.docs)]}}

    def close_point_in_time(self, **_: Any) -> None:
        return None


def test_an_engine_hunt_alerts_on_the_matching_hits_only_and_reports_what_it_scanned() -> None:
    (query,) = CIDR.queries.values()
    docs = [sysmon3("10.0.0.1", 1), sysmon3("8.8.8.8", 2), sysmon3("10.9.9.9", 3)]
    seen: list[tuple[int, int]] = []
    hunter = Hunter(query, CIDR.rules[RULE_ID], AlertingSettings())
    result = hunter.run(FakeEs(docs), T0, T0 + timedelta(hours=1), T0 + timedelta(hours=2),  # type: ignore[arg-type]
                        by_ingested=False, progress=lambda s, m: seen.append((s, m)))  # fmt: skip
    assert (result.evaluation, result.scanned, result.events, result.new_events) == ("engine", 3, 2, 2)
    (alert,) = result.alerts
    assert sorted(alert.event_ids) == ["e1", "e3"] and seen[-1] == (3, 2)


@pytest.fixture(scope="module")
def full_conversion() -> tuple[LoadedRules, Conversion]:
    loaded = load_rules([dataset("sigma", d) for d in ("rules", "rules-threat-hunting", "rules-emerging-threats")])
    return loaded, convert_rules(loaded.rules)


def test_every_sigmahq_rule_the_stream_runs_is_hunted_and_only_unsupported_log_sources_are_not(
    full_conversion: tuple[LoadedRules, Conversion],
) -> None:
    loaded, conversion = full_conversion
    assert conversion.count("lucene") > 3000 and conversion.count("engine") >= 125
    assert set(conversion.engine_by_reason()) <= {"keyword-text", "derived-field", "cidr", "cisco-route",
                                                  "linux-sysmon-only", "regex", "fieldreference", "typed-field",
                                                  "backend", "compare"}  # fmt: skip
    assert conversion.by_reason()["unsupported-logsource"] > 400
    assert set(conversion.by_reason()) <= {"unsupported-logsource", "unresolved-placeholder"}
    # the skipped ones are exactly rules the stream's engine skips too
    skipped = {s.rule_id for s in conversion.skipped}
    stream = SigmaEngine.from_loaded(LoadedRules(rules=[(i, r) for i, r in loaded.rules if i.id in skipped]))
    assert not stream.rules and len(stream.skipped) == len(skipped)
