"""Scheduled hunts through the real stack: the same events seen by the stream worker and by a hunt are
ONE alert in `vigil-alerts` (same id, triage untouched), and a late event (old @timestamp, fresh
ingestion) is found by the next scheduled pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.names import ALERTS_INDEX
from detectors.alert_store import AlertStore
from detectors.hunt.convert import convert_rules, field_names
from detectors.hunt.run import Hunter
from detectors.hunt.schedule import HuntCheckpointStore, HuntScheduler, HuntSettings
from detectors.pipeline import alerting_settings
from tests.integration.hunt_support import (
    attack_events,
    index_events,
    recent_attack_events,
    sources_scope,
    stored,
    stream_and_store,
)

pytestmark = pytest.mark.integration

FOLDER = ("TA0005-Defense Evasion", "T1070.001-Clear Windows event logs")
TRIAGE = {"status": "investigating", "assignee": "officer-li",
          "history": [{"at": "2026-03-02T08:00:00Z", "by": "officer-li", "status": "investigating",
                       "comment": "who cleared the logs?"}]}  # fmt: skip


def test_a_stream_alert_and_a_hunt_alert_for_the_same_events_are_one_alert(settings, sigma_rules) -> None:
    loaded, engine = sigma_rules
    settings = settings.model_copy(update={"detectors_group": "det-hunt-one", "alerts_group": "alerts-hunt-one",
                                           "detector_tick_s": 0.5, "checkpoint_interval_s": 0.0})  # fmt: skip
    # Live traffic: the attack events moved to the last minutes, in time order, through the stream, indexed.
    events = recent_attack_events("hunt-one-", *FOLDER)
    es = stream_and_store(settings, engine, events)
    before = stored(es, events)
    assert len(before) >= 2 and {d["origin"] for d in before.values()} == {"stream"}
    triaged = max(before, key=lambda i: before[i]["event_count"])
    assert before[triaged]["event_count"] > 50  # a burst merged into one alert by the suppression window
    es.update(index=ALERTS_INDEX, id=triaged, doc=TRIAGE, refresh=True)

    # A scheduled pass of the rules that fired, over the default lookback (interval 5 + overlap 2 min).
    rule_ids = {d["rule"]["id"] for d in before.values()}
    conversion = convert_rules([(i, r) for i, r in loaded.rules if i.id in rule_ids], field_names(es))
    assert set(conversion.queries) == rule_ids
    producer = clients.producer(settings)
    scheduler = HuntScheduler(es, producer, conversion, HuntSettings(), alerting_settings(settings),
                              HuntCheckpointStore(settings.data_dir / "hunt"), scope=sources_scope(events))  # fmt: skip
    results = scheduler.run_pass()
    assert {a.id for r in results for a in r.alerts} == set(before)  # the stream's ids, computed again
    assert sum(r.new_events for r in results) == sum(d["event_count"] for d in before.values())
    AlertStore(settings).run(idle_exit_s=6)  # the same group: it reads the hunt's messages

    after = stored(es, events)
    assert set(after) == set(before)  # one alert per finding, not two
    for alert_id, doc in after.items():
        assert doc["event_count"] == before[alert_id]["event_count"] and doc["origin"] == "stream"
        assert sorted(doc["event_ids"]) == sorted(before[alert_id]["event_ids"])
    assert {k: after[triaged][k] for k in TRIAGE} == TRIAGE

    # The next pass re-reads the overlap: nothing is counted twice, nothing new is sent.
    again = scheduler.run_pass()
    producer.close()
    assert sum(r.new_events for r in again) == 0 and not [a for r in again for a in r.alerts]


def test_a_late_event_is_found_by_the_next_scheduled_pass(settings, sigma_rules) -> None:
    loaded, _ = sigma_rules
    es = Elasticsearch(settings.es_url, request_timeout=120)
    clients.ensure_topics(settings)
    # One real "security log cleared" event that reaches Elasticsearch three days after it happened.
    original = [e for e in attack_events("hunt-late-", *FOLDER) if e.winlog and e.winlog.event_id == "1102"][:1]
    assert original
    late = [original[0].model_copy(update={"timestamp": datetime.now(UTC) - timedelta(days=3)})]
    rule_id = "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"  # Security Eventlog Cleared (Security 1102)
    index_events(es, settings, attack_events("hunt-late-warmup-", *FOLDER)[:1])  # the index and its fields exist
    conversion = convert_rules([(i, r) for i, r in loaded.rules if i.id == rule_id], field_names(es))
    clock = FakeClock(datetime.now(UTC))
    producer = clients.producer(settings)
    scheduler = HuntScheduler(es, producer, conversion, HuntSettings(), alerting_settings(settings),
                              HuntCheckpointStore(settings.data_dir / "hunt"), clock=clock,
                              scope=sources_scope(late))  # fmt: skip

    assert scheduler.run_pass()[0].events == 0  # on schedule, nothing yet
    index_events(es, settings, late)  # arrives now, with its old @timestamp
    clock.advance(timedelta(minutes=5))
    (found,) = scheduler.run_pass()
    assert found.new_events == 1 and len(found.alerts) == 1
    assert found.alerts[0].first_seen == late[0].timestamp and found.alerts[0].origin == "hunt"
    # An event-time-only schedule would have missed it: its @timestamp window was searched days ago.
    hunter = Hunter(conversion.queries[rule_id], conversion.rules[rule_id], alerting_settings(settings))
    assert hunter.run(es, found.start, found.end, clock(), by_ingested=False, scope=sources_scope(late)).events == 0
    # The pass after re-reads the overlap and does not count it again.
    clock.advance(timedelta(minutes=1))
    (again,) = scheduler.run_pass()
    producer.close()
    assert again.events == 1 and again.new_events == 0 and not again.alerts


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta
