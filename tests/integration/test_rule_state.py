"""Rule enable/disable through the real stack: the rules API writes `vigil-rule-state`, a running stream
worker re-reads it within `rule_state_refresh_s` and stops (then resumes) the rule's alerts, stores the
rules summary the patrol record shows, and `vigil rules list` reports the rule as disabled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from elasticsearch import ApiError, Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core import clients
from core.models.ecs import EcsEvent
from core.models.rules import RulesSummary
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import AlertStore
from detectors.sigma import SigmaEngine
from detectors.stream import StreamWorker
from reports.patrol import read_rules_summary
from tests.datasets import dataset
from tests.integration.events_support import produce_events, start_group_at_end
from tests.integration.hunt_support import attack_events

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FOLDER = ("TA0005-Defense Evasion", "T1070.001-Clear Windows event logs")
SECURITY_LOG_CLEARED = "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"  # 1102; the System log's 104 rule stays on
SYSTEM_LOG_CLEARED = "a62b37e0-45d3-48d9-a517-90c1a1b0186b"


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture
def rule_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={
        "detectors_group": "det-rule-state", "alerts_group": "alerts-rule-state", "rule_state_refresh_s": 1.0,
        "sigma_rule_dirs": [dataset("sigma", "rules", "windows", "builtin")], "detector_tick_s": 0.5,
        "checkpoint_interval_s": 0.0,
    })  # fmt: skip


@pytest.fixture
def admin(rule_settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    token = TokenStore(rule_settings.tokens_path()).create("rule-state-admin", Role.ADMIN)[1]
    with TestClient(create_app(rule_settings)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def alerted_rules(es: Elasticsearch, events: list[EcsEvent]) -> set[str]:
    if not es.indices.exists(index=ALERTS_INDEX):  # the store creates it with its first alert
        return set()
    es.indices.refresh(index=ALERTS_INDEX)
    hits = es.search(index=ALERTS_INDEX, size=1000, query={"terms": {"event_ids": [e.event.id for e in events]}})
    return {h["_source"]["rule"]["id"] for h in hits["hits"]["hits"]}


def summary_of(es: Elasticsearch) -> RulesSummary | None:
    """The stored rules summary; None also while `vigil-reports`, just created by the worker, has no shard yet."""
    try:
        return read_rules_summary(es)
    except ApiError as exc:
        if exc.meta.status == 503:
            return None
        raise


def rules_list(settings: Settings) -> dict:
    env = {**os.environ, "VIGIL_ES_URL": settings.es_url, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "core.cli", "rules", "list", "--json", "--rules",
                           str(settings.sigma_rule_dirs[0])], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=True)  # fmt: skip
    return json.loads(done.stdout)


def test_disabling_a_rule_through_the_api_stops_its_alerts_in_a_running_worker_and_enabling_brings_them_back(
    rule_settings: Settings, admin: tuple[TestClient, dict[str, str]]
) -> None:
    settings = rule_settings
    client, headers = admin
    es = Elasticsearch(settings.es_url)
    off = client.post(f"/rules/{SECURITY_LOG_CLEARED}/disable", headers=headers, json={"reason": "test: noisy"})
    assert off.status_code == 200 and off.json()["enabled"] is False

    clients.ensure_topics(settings)
    start_group_at_end(settings, settings.detectors_group, Topic.EVENTS.value)
    start_group_at_end(settings, settings.alerts_group, Topic.ALERTS.value)
    worker = StreamWorker(settings, SigmaEngine.from_paths(settings.sigma_rule_dirs))
    store = AlertStore(settings)
    threads = [threading.Thread(target=worker.run), threading.Thread(target=store.run)]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: (s := summary_of(es)) is not None and s.disabled == [SECURITY_LOG_CLEARED],
                 "the worker to read the rule state and store the rules summary")  # fmt: skip
        summary = summary_of(es)
        assert summary is not None and worker.switch.disabled == {SECURITY_LOG_CLEARED}
        assert summary.loaded == len(worker.engine.rules) and summary.skipped == len(worker.engine.skipped)
        assert summary.skipped_by_reason == worker.engine.report().skipped_by_reason
        listed = rules_list(settings)
        assert [d["id"] for d in listed["disabled"]] == [SECURITY_LOG_CLEARED]
        assert listed["disabled"][0]["reason"] == "test: noisy"

        # Re-timed: alerts of their own (the session's other tests stored alerts for these events' times,
        # whose 100 stored event ids would not take these in).
        while_off = attack_events("rule-state-off-", *FOLDER, shift=timedelta(days=400))
        produce_events(settings, while_off)
        wait_for(lambda: SYSTEM_LOG_CLEARED in alerted_rules(es, while_off), "the 104 alert (rule still on)")
        assert worker.metrics["sigma_disabled"] > 0
        assert SECURITY_LOG_CLEARED not in alerted_rules(es, while_off)

        on = client.post(f"/rules/{SECURITY_LOG_CLEARED}/enable", headers=headers)
        assert on.status_code == 200 and on.json()["enabled"] is True
        wait_for(lambda: not worker.switch.disabled, "the worker to see the rule enabled", timeout_s=10)
        wait_for(lambda: (s := summary_of(es)) is not None and not s.disabled, "the summary to follow")
        while_on = attack_events("rule-state-on-", *FOLDER, shift=timedelta(days=401))
        produce_events(settings, while_on)
        wait_for(lambda: alerted_rules(es, while_on) >= {SECURITY_LOG_CLEARED, SYSTEM_LOG_CLEARED}, "both alerts")
        assert SECURITY_LOG_CLEARED not in alerted_rules(es, while_off)  # nothing raised late for the off time
    finally:
        client.post(f"/rules/{SECURITY_LOG_CLEARED}/enable", headers=headers)  # the session shares the index
        worker.stop_event.set()
        store.stop_event.set()
        for thread in threads:
            thread.join(timeout=60)
    assert rules_list(settings)["disabled"] == []
