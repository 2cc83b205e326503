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

from core.models.ecs import EcsEvent
from core.names import LOGS_PATTERN
from detectors.hunt.convert import Conversion, convert_rules
from detectors.hunt.fields import FieldNames
from detectors.sigma import SigmaEngine
from detectors.sigma.loader import load_rules, load_texts
from tests.integration.hunt_support import attack_events, index_events, rule_paths, sources_scope

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


def field_names(es: Elasticsearch) -> FieldNames:
    return FieldNames.of(list(es.field_caps(index=LOGS_PATTERN, fields="winlog.event_data.*")["fields"]))


def es_hits(es: Elasticsearch, conversion: Conversion, rule_ids: list[str], scope: dict) -> dict[str, set[str]]:
    """rule id → ids of the indexed events its query hits (one search at a time: the test node has 1 GB)."""
    out: dict[str, set[str]] = {}
    for rule_id in rule_ids:
        query = {"bool": {"filter": [conversion.queries[rule_id].query(), scope]}}
        hits = es.search(index=INDEX, query=query, size=10_000, source=False)["hits"]["hits"]
        out[rule_id] = {h["_id"] for h in hits}
    return out


def stream_matches(engine: SigmaEngine, events: list[EcsEvent]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for event in events:
        evaluation = engine.evaluate(event)
        assert not evaluation.errors
        for match in evaluation.matches:
            out[match.rule_id].add(event.event.id)
    return out


def test_every_converted_rule_hits_exactly_the_events_the_stream_matches(indexed) -> None:
    es, events = indexed
    loaded = load_rules(rule_paths())  # the full SigmaHQ set, parsed once for both engines
    engine = SigmaEngine.from_loaded(loaded)
    conversion = convert_rules(loaded.rules, field_names(es))
    assert len(conversion.queries) > 2500, conversion.by_reason()
    assert set(conversion.by_reason()) <= {"unsupported-logsource", "non-windows", "derived-field", "cidr",
                                           "fieldreference", "regex", "backend"}  # fmt: skip

    stream = stream_matches(engine, events)
    hunt = es_hits(es, conversion, sources_scope(events))
    compared = [r for r in conversion.queries if stream.get(r) or hunt.get(r)]
    wrong = {r: (len(stream.get(r, ())), len(hunt[r]), conversion.queries[r].lucene[:300])
             for r in compared if stream.get(r, set()) != hunt[r]}  # fmt: skip
    assert not wrong, wrong
    assert len(compared) >= 40  # rules that fire on these events, each compared event by event
    assert sum(len(hunt[r]) for r in compared) > 1000
