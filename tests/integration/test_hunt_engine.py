"""Engine hunts through the real stack: the rules the Lucene backend refuses (keyword text, CIDR, field
references, derived fields, the Cisco route) hunted over their log source and decided by the stream's
compiled rule, on real attack, loghub and samplelogs events indexed as the pipeline does.

They must find exactly the events the streaming engine matches, and a stream alert and an engine-hunt
alert for the same events must be one stored alert.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.models.ecs import EcsEvent
from detectors.alert_store import AlertStore
from detectors.alerting import AlertingSettings
from detectors.hunt.convert import convert_rules, field_names, validate
from detectors.hunt.run import Hunter
from detectors.hunt.schedule import HuntCheckpointStore, HuntScheduler, HuntSettings
from detectors.pipeline import alerting_settings
from detectors.sigma import SigmaEngine
from tests.integration.hunt_support import (
    attack_events,
    ecs_events,
    index_events,
    recent_attack_events,
    sources_scope,
    stored,
    stream_and_store,
)

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

INDEX = "logs-system-hunt-engine"
# Cisco IOS messages as a router sends them over syslog (the stream routes them by the %FAC-SEV-MNEMONIC:).
CISCO = ["<189>57: core-sw1: *Mar  1 18:46:11.123: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged command:"
         "clear logging",
         "<189>Mar  1 18:47:02 10.0.0.2 58: *Mar  1 18:47:02.456: %PARSER-5-CFGLOG_LOGGEDCMD: User:admin  logged "
         "command:show running-config"]  # fmt: skip
WMI = ("TA0002-Execution", "T1047-Windows Management Instrumentation")


def stream_matches(engine: SigmaEngine, events: list[EcsEvent], rule_ids: set[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for event in events:
        evaluation = engine.evaluate(event)
        assert not evaluation.errors
        for match in evaluation.matches:
            if match.rule_id in rule_ids:
                out[match.rule_id].add(event.event.id)
    return out


def test_every_engine_hunt_finds_exactly_the_events_the_stream_matches(settings, sigma_rules, tmp_path) -> None:
    loaded, engine = sigma_rules
    es = Elasticsearch(settings.es_url, request_timeout=300)
    (tmp_path / "cisco").mkdir()
    extra = ecs_events("hunt-engine-", tmp_path)
    cisco_file = tmp_path / "cisco" / "ios.log"
    cisco_file.write_text("\n".join(CISCO) + "\n", encoding="utf-8")
    events = [*attack_events("hunt-engine-"), *extra, *_parsed(cisco_file)]
    index_events(es, settings, events, index=INDEX)
    # as `vigil hunt` converts: indexed field names, and a regex Elasticsearch refuses becomes an engine hunt too
    sources = {i.id: r for i, r in loaded.rules}
    conversion = validate(es, convert_rules(loaded.rules, field_names(es, INDEX)), INDEX, sources=sources)
    assert set(conversion.by_reason()) <= {"unsupported-logsource", "unresolved-placeholder"}, conversion.by_reason()
    hunts = {r: q for r, q in conversion.queries.items() if q.evaluation == "engine"}
    assert len(hunts) >= 125, conversion.engine_by_reason()

    stream = stream_matches(engine, events, set(hunts))
    scope, end = sources_scope(events), datetime.now(UTC) + timedelta(days=1)
    found: dict[str, set[str]] = {}
    scanned = 0
    started = time.perf_counter()
    for rule_id, query in hunts.items():
        hunter = Hunter(query, conversion.rules[rule_id], AlertingSettings())
        result = hunter.run(es, datetime(1990, 1, 1, tzinfo=UTC), end, end, by_ingested=False, scope=scope)
        assert result.rule_errors == 0 and result.events == len(hunter.seen)
        found[rule_id] = set(hunter.seen)
        scanned += result.scanned
    elapsed = time.perf_counter() - started
    log.info("engine hunts: %d rules, %d events scanned in %.1f s (%.0f events/s)", len(hunts), scanned, elapsed,
             scanned / elapsed)  # fmt: skip

    fired = {r for r in hunts if stream.get(r) or found[r]}
    wrong = {r: (len(stream.get(r, ())), len(found[r])) for r in fired if stream.get(r, set()) != found[r]}
    assert not wrong, wrong
    # 8 on the attack recordings, 4 keyword rules on the samplelogs variants, 2 Cisco rules
    assert len(fired) >= 14, sorted(conversion.rules[r].title for r in fired)
    kinds = {hunts[r].refused.kind for r in fired if hunts[r].refused}  # type: ignore[union-attr]
    assert {"keyword-text", "cidr", "derived-field", "fieldreference", "cisco-route"} <= kinds
    assert scanned > 20 * sum(len(ids) for ids in found.values())  # the log source is read, the engine decides


def _parsed(path) -> list[EcsEvent]:
    from zoneinfo import ZoneInfo

    from ingest.collectors.file_import import iter_file_envelopes
    from ingest.normaliser import normalise

    out = []
    for envelope in iter_file_envelopes(path, source="hunt-engine-cisco", fmt="auto", timezone="UTC"):
        event = normalise(envelope, ZoneInfo("UTC"))
        assert isinstance(event, EcsEvent), event
        out.append(event)
    return out


def test_a_stream_alert_and_an_engine_hunt_alert_for_the_same_events_are_one_alert(settings, sigma_rules) -> None:
    loaded, engine = sigma_rules
    settings = settings.model_copy(update={"detectors_group": "det-hunt-engine", "alerts_group": "alerts-hunt-engine",
                                           "detector_tick_s": 0.5, "checkpoint_interval_s": 0.0})  # fmt: skip
    # Live traffic: the WMI attack recordings moved to the last minutes, through the stream, indexed.
    events = recent_attack_events("hunt-engine-one-", *WMI)
    es = stream_and_store(settings, engine, events)
    before = stored(es, events)

    # The stream's alerts of rules the Lucene backend refuses: a scheduled pass hunts those by the engine.
    fired = {d["rule"]["id"] for d in before.values()}
    conversion = convert_rules([(i, r) for i, r in loaded.rules if i.id in fired])
    rule_ids = {r for r, q in conversion.queries.items() if q.evaluation == "engine"}
    kinds = {conversion.queries[r].refused.kind for r in rule_ids}  # type: ignore[union-attr]
    assert len(rule_ids) >= 3 and {"cidr", "derived-field"} <= kinds, kinds
    mine = {i: d for i, d in before.items() if d["rule"]["id"] in rule_ids}
    assert {d["origin"] for d in mine.values()} == {"stream"}
    producer = clients.producer(settings)
    scheduler = HuntScheduler(es, producer, conversion, HuntSettings(), alerting_settings(settings),
                              HuntCheckpointStore(settings.data_dir / "hunt"), scope=sources_scope(events))  # fmt: skip
    results = scheduler.run_pass(sorted(rule_ids))
    producer.close()
    assert {r.evaluation for r in results} == {"engine"}
    assert {a.id for r in results for a in r.alerts} == set(mine)  # the stream's ids, computed again
    assert sum(r.new_events for r in results) == sum(d["event_count"] for d in mine.values())
    assert sum(r.scanned for r in results) > sum(r.events for r in results)
    AlertStore(settings).run(idle_exit_s=6)  # the same group: it reads the hunt's messages

    after = stored(es, events)
    assert set(after) == set(before)  # one alert per finding, not two
    for alert_id in mine:
        assert after[alert_id]["event_count"] == mine[alert_id]["event_count"] and after[alert_id]["origin"] == "stream"
        assert sorted(after[alert_id]["event_ids"]) == sorted(mine[alert_id]["event_ids"])


API_RULES = ("d21374ff-f574-44a7-9998-4a8c8bf33d7d",  # WmiPrvSE Spawned A Process (derived field on 4688)
             "1f21ec3f-810d-4b0e-8045-322202e22b4b",  # Network Connection Initiated By PowerShell Process (cidr)
             "d99b79d2-0a6f-4f46-ad8b-260b6e17f982")  # Security Eventlog Cleared (Lucene)  # fmt: skip


def test_the_hunt_api_lists_and_runs_engine_hunts(settings, sigma_rules, tmp_path) -> None:
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.permissions import Role
    from api.tokens import TokenStore

    loaded, engine = sigma_rules
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for info, _ in loaded.rules:
        if info.id in API_RULES:
            shutil.copy(info.path, rules_dir / f"{info.id}.yml")
    at = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)  # a range no other test indexes
    original = attack_events("hunt-engine-api-", *WMI)
    events = attack_events("hunt-engine-api-", *WMI, shift=at - original[0].timestamp)
    es = Elasticsearch(settings.es_url, request_timeout=120)
    index_events(es, settings, events)
    expected = stream_matches(engine, events, {API_RULES[0]})[API_RULES[0]]
    assert expected

    api_settings = settings.model_copy(update={"sigma_rule_dirs": [rules_dir]})
    store = TokenStore(api_settings.tokens_path())
    tokens = {role: store.create(f"hunt-{role.value}", role)[1] for role in Role}
    with TestClient(create_app(api_settings)) as client:

        def call(role: Role, method: str, path: str, **kw: object):
            return client.request(method, path, headers={"Authorization": f"Bearer {tokens[role]}"}, **kw)

        listed = call(Role.AUDITOR, "GET", "/hunts/rules").json()
        assert (listed["lucene"], listed["engine"], listed["not_hunted"]) == (1, 2, 0)
        assert listed["engine_by_reason"] == {"derived-field": 1, "cidr": 1}
        last = max(e.timestamp for e in events)  # the recordings span several days
        body = {"rule_id": API_RULES[0], "from": (at - timedelta(hours=1)).isoformat(),
                "to": (last + timedelta(hours=1)).isoformat(), "dry_run": True}  # fmt: skip
        assert call(Role.AUDITOR, "POST", "/hunts", json=body).status_code == 403
        ran = call(Role.OFFICER, "POST", "/hunts", json=body)
        assert ran.status_code == 202, ran.text
        job_id, deadline = ran.json()["id"], time.monotonic() + 120
        while (result := call(Role.OFFICER, "GET", f"/hunts/jobs/{job_id}").json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, result
            time.sleep(0.1)
        assert result["status"] == "succeeded", result
        assert result["evaluation"] == "engine" and result["hits"] == len(expected) and result["dry_run"]
        assert result["progress"]["scanned"] > result["hits"] and len(result["alerts"]) >= 1
        missing = call(Role.OFFICER, "POST", "/hunts", json={**body, "rule_id": "no-such-rule"})
        assert missing.status_code == 404 and "no such rule" in missing.json()["detail"]
        backwards = call(Role.OFFICER, "POST", "/hunts", json={**body, "to": body["from"]})
        assert backwards.status_code == 422
