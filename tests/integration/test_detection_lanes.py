"""Both detection lanes on the real stack: loghub OpenSSH (brute force, password spraying) and real
Windows log-clearing events → `vigil.events` → the partition lane (Sigma + entity-keyed detectors) and
the global lane (per-IP detectors) → `vigil.alerts` → alert store → `vigil-alerts`.

Exactly once: every brute-force / spray key the replay of the same events raises is stored as ONE
alert, and every Sigma alert is stored once with the replay's id and counts (the global lane raises
no single-event alert). The global lane runs as `vigil workers --role detectors-global`, is killed -9
mid-run and restarted: it continues from its lane checkpoint (no event evaluated twice, windows and
cooldowns kept, so no second alert for a key).

The events are re-timed into the last minutes, in file order, 50 ms apart: the stream's windows expire
by the wall clock (live data), and re-timing keeps an old file's bursts inside them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from elasticsearch import Elasticsearch

from core.models.alert import Alert, DetectorKind
from core.models.ecs import EcsEvent
from core.models.entity import Inventory
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import AlertStore
from detectors.checkpoint import CheckpointStore
from detectors.registry import DetectionPlan, Lane, build_plan
from detectors.replay import replay
from detectors.sigma import SigmaEngine
from detectors.stream import StreamWorker
from detectors.stream_global import GlobalStreamWorker
from ingest.collectors.file_import import iter_file_envelopes
from ingest.normaliser import normalise
from tests.datasets import dataset
from tests.integration.events_support import produce_events, topic_end_offsets

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLEARED = ("attack", "mdecrevoisier", "TA0005-Defense Evasion", "T1070.001-Clear Windows event logs")
BRUTE_FORCE = {"vigil-policy-brute-force", "vigil-policy-password-spray", "vigil-policy-brute-force-success"}


def rule_dirs() -> list[Path]:
    return [dataset("sigma", "rules", "windows", "builtin")]


@pytest.fixture(scope="module")
def policy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Brute force decides behind a 3 s watermark (default 2 min): the lanes here idle out after 8 s,
    and the re-timed events span less than the default, so it would decide only on a 2-minute clock."""
    path = tmp_path_factory.mktemp("lanes-policy") / "policy.yml"
    path.write_text("brute_force:\n  lateness: PT3S\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plan(policy_file: Path) -> DetectionPlan:
    return build_plan(Settings(sigma_rule_dirs=rule_dirs(), policy_file=policy_file),
                      SigmaEngine.from_paths(rule_dirs()), inventory=Inventory())  # fmt: skip


@pytest.fixture(scope="module")
def events() -> list[EcsEvent]:
    files = [(dataset("loghub", "OpenSSH", "OpenSSH_2k.log"), "auto")]
    files += [(p, "windows") for p in sorted(dataset(*CLEARED).glob("*.jsonl"))]
    out: list[EcsEvent] = []
    for path, fmt in files:
        for envelope in iter_file_envelopes(path, source=f"lanes-{path.name}", fmt=fmt, timezone="UTC"):
            event = normalise(envelope, ZoneInfo("UTC"))
            assert isinstance(event, EcsEvent), event
            out.append(event)
    start = datetime.now(UTC) - timedelta(seconds=0.05 * len(out) + 30)
    return [e.model_copy(update={"timestamp": start + timedelta(seconds=0.05 * i)}) for i, e in enumerate(out)]


@pytest.fixture(scope="module")
def expected(plan: DetectionPlan, events: list[EcsEvent]) -> dict[str, Alert]:
    alerts = replay(((Path("x"), e) for e in events), plan.replay_pipeline()).alerts
    assert {a.rule.id for a in alerts} & BRUTE_FORCE and any(a.rule.kind is DetectorKind.SIGMA for a in alerts)
    return {a.id: a for a in alerts if a.event_ids}


def lane_settings(settings: Settings, inventory: Path, policy: Path) -> Settings:
    return settings.model_copy(update={
        "detectors_group": "lanes-part", "detectors_global_group": "lanes-global", "alerts_group": "lanes-store",
        "sigma_rule_dirs": rule_dirs(), "detector_tick_s": 0.5, "checkpoint_interval_s": 0.0,
        "inventory_file": inventory, "policy_file": policy,
    })  # fmt: skip


def kill_global_lane_mid_run(settings: Settings, total: int) -> dict[int, int]:
    """`vigil workers --role detectors-global`, one event per batch, killed -9 once it checkpointed a
    part of the topic; the offsets its lane checkpoint holds."""
    env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIL_ES_URL": settings.es_url,
           "VIGIL_DATA_DIR": str(settings.data_dir), "VIGIL_DETECTORS_GLOBAL_GROUP": settings.detectors_global_group,
           "VIGIL_SIGMA_RULE_DIRS": json.dumps([str(d) for d in rule_dirs()]), "VIGIL_BATCH_SIZE": "20",
           "VIGIL_CHECKPOINT_INTERVAL_S": "0", "VIGIL_INVENTORY_FILE": str(settings.inventory_file),
           "VIGIL_POLICY_FILE": str(settings.policy_file), "PYTHONPATH": str(REPO)}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "workers", "--role", "detectors-global"], cwd=REPO,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    store = CheckpointStore(settings.checkpoint_dir(), settings.detectors_global_group)
    deadline = time.monotonic() + 240
    done = 0
    while done < total // 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
        saved = store.load_lane(Topic.EVENTS.value) if store.lane_path(Topic.EVENTS.value).exists() else None
        done = sum(saved.offsets.values()) if saved else 0
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    saved = store.load_lane(Topic.EVENTS.value)
    assert saved is not None, err.decode()[-3000:]
    return saved.offsets


def stored(es: Elasticsearch, events: list[EcsEvent]) -> dict[str, dict]:
    es.indices.refresh(index=ALERTS_INDEX)
    ids = [e.event.id for e in events]
    hits = es.search(index=ALERTS_INDEX, size=1000, query={"terms": {"event_ids": ids}})["hits"]["hits"]
    return {h["_id"]: h["_source"] for h in hits}


def test_both_lanes_store_each_alert_once_across_a_kill_of_the_global_lane(
    settings: Settings,
    plan: DetectionPlan,
    events: list[EcsEvent],
    expected: dict[str, Alert],
    tmp_path: Path,
    policy_file: Path,
) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("users: []\n", encoding="utf-8")
    settings = lane_settings(settings, inventory, policy_file)
    assert plan.lane_engine(Lane.GLOBAL).rules == []  # no correlation here: the global lane evaluates no rule
    produce_events(settings, events)
    total = topic_end_offsets(settings)

    partition = StreamWorker(settings, plan.lane_engine(Lane.PARTITION), partial(plan.detectors, Lane.PARTITION))
    partition_thread = threading.Thread(target=partition.run, kwargs={"idle_exit_s": 8})
    partition_thread.start()
    resumed_at = kill_global_lane_mid_run(settings, sum(total.values()))
    assert 0 < sum(resumed_at.values()) < sum(total.values())  # killed mid-run

    restarted = GlobalStreamWorker(settings, plan.lane_engine(Lane.GLOBAL), partial(plan.detectors, Lane.GLOBAL))
    restarted.run(idle_exit_s=8)
    partition_thread.join(timeout=300)
    # It continued exactly at its checkpoint: every event evaluated once by one of the two runs.
    assert restarted.metrics["partitions_restored"] > 0
    assert restarted.metrics["events"] == sum(total.values()) - sum(resumed_at.values())
    assert partition.metrics["events"] == sum(total.values()) and partition.metrics["rule_errors"] == 0

    AlertStore(settings).run(idle_exit_s=6)
    docs = stored(Elasticsearch(settings.es_url), events)

    # Policy alerts of the global lane: ONE stored alert per key, every key one the replay raises too.
    # Not necessarily all of them: the lane reads the partitions at their own pace, so an attacker's
    # events (spread over users, so over partitions) arrive further out of order than the 3 s watermark,
    # and events behind it are judged out of order (a success "consumes" earlier failures).
    keys = Counter((d["rule"]["id"], d["dedup_key"]) for d in docs.values() if d["rule"]["id"] in BRUTE_FORCE)
    want = {(a.rule.id, a.dedup_key) for a in expected.values() if a.rule.id in BRUTE_FORCE}
    assert keys and max(keys.values()) == 1, keys
    assert set(keys) <= want and len(keys) >= len(want) - 2, (sorted(want - set(keys)), sorted(set(keys) - want))
    assert {rule for rule, _ in keys} >= {"vigil-policy-brute-force", "vigil-policy-password-spray"}
    assert all(d["origin"] == "stream" for d in docs.values())

    # Sigma alerts of the partition lane: the replay's, with the same ids and counts, once each.
    sigma = {i: a for i, a in expected.items() if a.rule.kind is DetectorKind.SIGMA}
    stored_sigma = {i: d for i, d in docs.items() if d["rule"]["kind"] == "sigma"}
    assert sigma and set(stored_sigma) == set(sigma)
    for alert_id, alert in sigma.items():
        assert (stored_sigma[alert_id]["event_count"], stored_sigma[alert_id]["event_ids"]) == (
            alert.event_count, alert.event_ids)  # fmt: skip
