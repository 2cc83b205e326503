"""kill -9 the normaliser and then the indexer at random points of a 50k-event run, restart them:
Elasticsearch ends with exactly the input count, no duplicates (each worker is a real process)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes, publish
from tests.datasets import dataset
from tests.integration.events_support import start_pipeline_at_end
from tests.integration.test_pipeline_e2e import landed

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FILES = [("loghub", "OpenSSH", "OpenSSH_2k.log"), ("loghub", "Linux", "Linux_2k.log"),
         ("loghub", "Apache", "Apache_2k.log"), ("loghub", "Proxifier", "Proxifier_2k.log"),
         ("loghub", "Zookeeper", "Zookeeper_2k.log")]  # fmt: skip


def _worker(settings: Settings, role: str, idle_exit: float | None = None) -> subprocess.Popen[bytes]:
    env = dict(os.environ, VIGIL_KAFKA_BOOTSTRAP=settings.kafka_bootstrap, VIGIL_ES_URL=settings.es_url,
               VIGIL_NORMALISER_GROUP=settings.normaliser_group, VIGIL_INDEXER_GROUP=settings.indexer_group,
               VIGIL_KAFKA_SESSION_TIMEOUT_MS="10000", VIGIL_BATCH_SIZE="500")  # fmt: skip
    cmd = [sys.executable, "-m", "core.cli", "workers", "--role", role]
    if idle_exit is not None:
        cmd += ["--idle-exit", str(idle_exit)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_kill_9_mid_run_loses_and_duplicates_nothing(settings: Settings) -> None:
    rng = random.Random(2026)
    start_pipeline_at_end(settings)
    producer = clients.producer(settings)
    sources = []
    for copy in range(5):
        for parts in FILES:
            source = f"crash-{copy}-{parts[-1]}"
            sources.append(source)
            publish(iter_file_envelopes(dataset(*parts), source=source), producer)
    producer.close()
    sent = 50_000

    for role in ("normaliser", "indexer"):
        other = _worker(settings, "indexer" if role == "normaliser" else "normaliser")
        for _ in range(2):
            victim = _worker(settings, role)
            time.sleep(rng.uniform(12, 20))  # group join + some batches done
            victim.send_signal(signal.SIGKILL)
            victim.wait()
        other.send_signal(signal.SIGKILL)
        other.wait()

    finisher = _worker(settings, "all", idle_exit=15)
    assert finisher.wait(timeout=900) == 0
    events, letters = landed(Elasticsearch(settings.es_url), sources)
    assert events + letters == sent
    # Zookeeper has no parser family: its 5 x 2,000 lines are the dead letters, once each.
    assert letters == 10_000
