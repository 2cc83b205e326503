"""Sigma → Elasticsearch conversion checked against the streaming engine on real attack events.

Every mdecrevoisier Windows attack event is normalised and indexed like the pipeline does; then every
converted rule of the full SigmaHQ set runs as an Elasticsearch query over them, and the events it
hits must be exactly the events the streaming engine matches for that rule. This is where a field
mapping slip (`commandline` vs `CommandLine`), a case-sensitivity mistake (`WHOAMI.EXE` vs a rule's
`whoami.exe`) or a regex translation error would show.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from elasticsearch import Elasticsearch

from core.index_templates import LONG_KEYWORD
from core.models.ecs import EcsEvent
from detectors.hunt.convert import Conversion, convert_rules, field_names, validate
from detectors.sigma import SigmaEngine
from tests.integration.hunt_support import attack_events, ecs_events, index_events, sources_scope

pytestmark = pytest.mark.integration
INDEX = "logs-system-hunt-conversion"


@pytest.fixture(scope="module")
def indexed(stack, settings_module) -> tuple[Elasticsearch, list[EcsEvent]]:
    es = Elasticsearch(stack.config.es_url, request_timeout=300)
    events = attack_events("hunt-conv-")
    index_events(es, settings_module, events, index=INDEX)
    return es, events


@pytest.fixture(scope="module")
def settings_module(stack, tmp_path_factory):
    from core.settings import Settings

    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url,
                    data_dir=tmp_path_factory.mktemp("hunt-conv"))  # fmt: skip


def es_hits(es: Elasticsearch, conversion: Conversion, rule_ids: list[str], scope: dict) -> dict[str, set[str]]:
    """rule id → ids of the indexed events its query hits (one search at a time: the test node has 1 GB)."""
    out: dict[str, set[str]] = {}
    for rule_id in rule_ids:
        query = {"bool": {"filter": [conversion.queries[rule_id].query(), scope]}}
        hits = es.search(index=INDEX, query=query, size=10_000, source=False)["hits"]["hits"]
        out[rule_id] = {h["_id"] for h in hits}
    return out


def reasons(conversion: Conversion) -> set[str]:
    """Why rules are not Lucene queries: not hunted, or hunted by the engine (`test_hunt_engine.py`)."""
    return set(conversion.by_reason()) | set(conversion.engine_by_reason())


def lucene_only(conversion: Conversion) -> Conversion:
    queries = {r: q for r, q in conversion.queries.items() if q.evaluation == "lucene"}
    return Conversion(queries, {r: conversion.rules[r] for r in queries}, conversion.skipped)


def stream_matches(engine: SigmaEngine, events: list[EcsEvent]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for event in events:
        evaluation = engine.evaluate(event)
        assert not evaluation.errors
        for match in evaluation.matches:
            out[match.rule_id].add(event.event.id)
    return out


def test_every_converted_rule_hits_exactly_the_events_the_stream_matches(indexed, sigma_rules) -> None:
    es, events = indexed
    loaded, engine = sigma_rules  # the full SigmaHQ set, parsed once for both
    conversion = validate(es, convert_rules(loaded.rules, field_names(es, INDEX)), INDEX)
    scope = sources_scope(events)
    assert len(conversion.queries) > 2500, conversion.by_reason()
    assert reasons(conversion) <= {"unsupported-logsource", "derived-field", "cidr", "fieldreference",
                                   "regex", "backend", "es-refused", "keyword-text", "cisco-route",
                                   "unresolved-placeholder", "linux-sysmon-only", "typed-field"}  # fmt: skip
    conversion = lucene_only(conversion)

    # Values longer than the index keeps searchable (8,191 characters: long SDDL, long script blocks) are
    # a known limit of the hunt: those events are compared apart, and must stay rare.
    long_values = {
        e.event.id
        for e in events
        if any(len(str(v)) > LONG_KEYWORD["ignore_above"] for v in (e.winlog.event_data if e.winlog else {}).values())
    }
    assert len(long_values) < 0.01 * len(events)
    stream = {r: ids - long_values for r, ids in stream_matches(engine, events).items()}
    hunt = {r: ids - long_values for r, ids in es_hits(es, conversion, list(conversion.queries), scope).items()}
    compared = [r for r in conversion.queries if stream.get(r) or hunt.get(r)]
    wrong = {r: (len(stream.get(r, ())), len(hunt[r]), conversion.queries[r].lucene[:300])
             for r in compared if stream.get(r, set()) != hunt[r]}  # fmt: skip
    assert not wrong, wrong
    assert len(compared) >= 150  # rules that fire on these events, each compared event by event
    assert sum(len(hunt[r]) for r in compared) > 1500


# --- Linux, web server, proxy, DNS, firewall ----------------------------------------------------------

ECS_INDEX = "logs-system-hunt-conversion-ecs"


@pytest.fixture(scope="module")
def ecs_indexed(stack, settings_module) -> tuple[Elasticsearch, list[EcsEvent]]:
    events = ecs_events("hunt-ecs-", settings_module.data_dir)
    es = Elasticsearch(stack.config.es_url, request_timeout=300)
    index_events(es, settings_module, events, index=ECS_INDEX)
    return es, events


def test_linux_and_web_rules_hit_exactly_the_events_the_stream_matches(ecs_indexed, sigma_rules) -> None:
    """Every converted non-Windows rule (Linux, web server, proxy, DNS, firewall: the stream's own field
    mapping and routing, `detectors/hunt/ecs_fields.py`) over every real non-Windows event Vigil parses."""
    from detectors.hunt.ecs_fields import is_ecs_route
    from detectors.sigma.logsources import route_rule

    es, events = ecs_indexed
    loaded, engine = sigma_rules
    routes = {i.id: route_rule(i.logsource) for i, _ in loaded.rules}
    rules = [(i, r) for i, r in loaded.rules
             if routes[i.id].unsupported is None and all(is_ecs_route(k) for k in routes[i.id].keys)]  # fmt: skip
    conversion = validate(es, convert_rules(rules), ECS_INDEX)
    assert len(rules) > 400 and len(conversion.queries) > 330, conversion.by_reason()
    assert reasons(conversion) <= {"keyword-text", "cisco-route", "linux-sysmon-only", "derived-field",
                                   "regex", "cidr", "typed-field"}  # fmt: skip
    conversion = lucene_only(conversion)
    scope = sources_scope(events)
    stream = stream_matches(engine, events)
    hunt: dict[str, set[str]] = {}
    for rule_id, query in conversion.queries.items():
        found = es.search(
            index=ECS_INDEX, query={"bool": {"filter": [query.query(), scope]}}, size=10_000, source=False
        )
        hunt[rule_id] = {h["_id"] for h in found["hits"]["hits"]}
    compared = [r for r in conversion.queries if stream.get(r) or hunt[r]]
    wrong = {r: (len(stream.get(r, ())), len(hunt[r]), conversion.queries[r].lucene[:300])
             for r in compared if stream.get(r, set()) != hunt[r]}  # fmt: skip
    assert not wrong, wrong
    assert len(compared) >= 19, compared  # 23 rules fire here, 4 of them keyword searches (engine hunts)
