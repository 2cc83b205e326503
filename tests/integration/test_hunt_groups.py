"""The scheduler's engine hunts grouped by log-source filter, through the real stack: one walk per filter
raises exactly the alerts (ids, counts, content) of one walk per rule, on the 10,015 real attack events.

It also measures the engine-hunt pass both ways on the same data in one run (logged: run with
`-o log_cli=true --log-cli-level=INFO` to see the numbers).
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from core import clients
from detectors.hunt.convert import convert_rules, field_names, validate
from detectors.hunt.group import engine_groups
from detectors.hunt.run import Hunter, HuntResult
from detectors.hunt.schedule import HuntCheckpointStore, HuntScheduler, HuntSettings, pass_window
from detectors.pipeline import alerting_settings
from tests.integration.hunt_support import attack_events, index_events, sources_scope

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

INDEX = "logs-system-hunt-groups"


class CountingEs(Elasticsearch):
    """The real client, noting the query of every walk's first page (one per `iter_hits` walk)."""

    walks: list[dict[str, Any]]

    def search(self, **kwargs: Any) -> Any:  # type: ignore[override]
        if kwargs.get("pit") is not None and kwargs.get("search_after") is None:
            self.walks.append(kwargs["query"])
        return super().search(**kwargs)


def _alerts(result: HuntResult) -> list[dict[str, Any]]:
    return sorted((a.model_dump(mode="json") for a in result.alerts), key=lambda a: a["id"])


def test_grouped_engine_hunts_raise_the_alerts_of_per_rule_scans_reading_each_log_source_once(
    settings, sigma_rules, tmp_path
) -> None:
    loaded, _ = sigma_rules
    es = CountingEs(settings.es_url, request_timeout=300)
    es.walks = []
    events = attack_events("hunt-groups-")
    index_events(es, settings, events, index=INDEX)  # event.ingested now: inside a scheduled pass's window
    sources = {i.id: r for i, r in loaded.rules}
    conversion = validate(es, convert_rules(loaded.rules, field_names(es, INDEX)), INDEX, sources=sources)
    engine_ids = sorted(r for r, q in conversion.queries.items() if q.evaluation == "engine")
    groups = engine_groups(conversion, engine_ids)
    assert len(engine_ids) >= 125 and len(groups) < len(engine_ids) / 3
    sysmon_3 = {"bool": {"filter": [{"term": {"winlog.channel.ci": "microsoft-windows-sysmon/operational"}},
                                    {"term": {"winlog.event_id": "3"}}]}}  # fmt: skip
    assert len(next(g for g in groups if g.logsource == sysmon_3).rule_ids) >= 16  # the CIDR rules share it

    now, scope, hunt = datetime.now(UTC), sources_scope(events), HuntSettings(lookback=timedelta(hours=1))
    start, end = pass_window(now, None, hunt)
    alerting = alerting_settings(settings)

    # Before: one walk per rule, as the scheduler did.
    started = time.perf_counter()
    per_rule = {r: Hunter(conversion.queries[r], conversion.rules[r], alerting).run(
                    es, start, end, now, by_ingested=True, scope=scope, page_size=hunt.page_size)
                for r in engine_ids}  # fmt: skip
    before_s, before_walks = time.perf_counter() - started, len(es.walks)
    before_scanned = sum(r.scanned for r in per_rule.values())

    # After: the scheduler's pass over the same rules and window.
    clients.ensure_topics(settings)
    producer = clients.producer(settings)
    scheduler = HuntScheduler(es, producer, conversion, hunt, alerting, HuntCheckpointStore(tmp_path / "hunt"),
                              clock=lambda: now, scope=scope)  # fmt: skip
    es.walks.clear()
    started = time.perf_counter()
    results = scheduler.run_pass(engine_ids)
    after_s = time.perf_counter() - started
    producer.close()
    log.info("engine-hunt pass, %d rules in %d log-source groups: per rule %d walks, %d events scanned, %.1f s; "
             "grouped %d walks, %d events scanned, %.1f s", len(engine_ids), len(groups), before_walks,
             before_scanned, before_s, len(es.walks), scheduler.metrics["scanned"], after_s)  # fmt: skip

    grouped = {r.rule_id: r for r in results}
    assert set(grouped) == set(engine_ids) and before_walks == len(engine_ids)
    for rule_id in engine_ids:
        one, many = per_rule[rule_id], grouped[rule_id]
        assert (many.events, many.new_events, many.rule_errors) == (one.events, one.new_events, one.rule_errors)
        assert _alerts(many) == _alerts(one), rule_id
    fired = {r for r in engine_ids if grouped[r].alerts}
    assert len(fired) >= 8, sorted(conversion.rules[r].title for r in fired)  # as the per-rule engine hunts
    # each log-source filter walked once
    walked = [json.dumps(w["bool"]["filter"][1], sort_keys=True) for w in es.walks]
    assert sorted(walked) == sorted(json.dumps(g.logsource, sort_keys=True) for g in groups)
    assert scheduler.metrics["scans"] == len(groups) and scheduler.metrics["scanned"] < before_scanned
    assert all(scheduler.store.load(r) is not None for r in engine_ids)  # every rule's window checkpointed
