"""A mixed real corpus through the real pipeline: file import → Kafka → normaliser → Kafka →
indexer → Elasticsearch. Every line ends up exactly once in `logs-*` or in the dead-letter
index with its reason."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes, publish
from ingest.indexer import Indexer
from ingest.normaliser import Normaliser
from tests.datasets import dataset
from tests.integration.events_support import start_pipeline_at_end

pytestmark = pytest.mark.integration

# (path under ../shared/datasets, format): the formats a source would be configured with.
CORPUS = [
    (("loghub", "OpenSSH", "OpenSSH_2k.log"), "auto"),
    (("loghub", "Linux", "Linux_2k.log"), "auto"),
    (("loghub", "Apache", "Apache_2k.log"), "auto"),
    (("loghub", "Proxifier", "Proxifier_2k.log"), "auto"),
    (("loghub", "HDFS", "HDFS_2k.log"), "auto"),  # no parser family: all dead-lettered
    (("samplelogs", "squid", "access1.log"), "auto"),
    (("samplelogs", "auditd", "test.log"), "auto"),
    (("samplelogs", "iptables", "iptables.log"), "auto"),
    (("samplelogs", "postfix", "postfix.log"), "auto"),
    (("samplelogs", "nginx", "access.log"), "auto"),
    (("samplelogs", "dns_bind", "test-dns.log"), "auto"),
    (("attack", "mdecrevoisier", "TA0006-Credential Access"), "windows"),
]


SOURCES = [f"test-{parts[-1]}" for parts, _ in CORPUS]


def landed(es: Elasticsearch, sources: list[str]) -> tuple[int, int]:
    """(events in logs-*, dead letters) of the given sources, after a refresh."""
    es.indices.refresh(index="logs-*,vigil-deadletter-*")
    events = es.count(index="logs-*", query={"terms": {"vigil.source": sources}})["count"]
    letters = es.count(index="vigil-deadletter-*", query={"terms": {"source": sources}})["count"]
    return events, letters


def _files(parts: tuple[str, ...]) -> list[Path]:
    path = dataset(*parts)
    return sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]


def run_workers(settings: Settings) -> tuple[Normaliser, Indexer]:
    normaliser, indexer = Normaliser(settings), Indexer(settings)
    threads = [
        threading.Thread(target=normaliser.run, kwargs={"idle_exit_s": 8}),
        threading.Thread(target=indexer.run, kwargs={"idle_exit_s": 12}),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return normaliser, indexer


def test_mixed_corpus_lands_exactly_once(settings: Settings) -> None:
    start_pipeline_at_end(settings)
    producer = clients.producer(settings)
    sent = 0
    for parts, fmt in CORPUS:
        for path in _files(parts):
            sent += publish(iter_file_envelopes(path, source=f"test-{parts[-1]}", fmt=fmt), producer)
    producer.close()
    assert sent >= 10_000

    # vigil.raw is shared by the whole session (other tests' records too): count this test's sources only.
    normaliser, _ = run_workers(settings)
    assert normaliser.counts["events"] + normaliser.counts["deadletters"] >= sent

    es = Elasticsearch(settings.es_url)
    events, letters = landed(es, SOURCES)
    assert events + letters == sent
    # HDFS has no parser family: each of its 2,000 lines is dead-lettered with the reason.
    hdfs = es.count(index="vigil-deadletter-*", query={"term": {"source": "test-HDFS_2k.log"}})["count"]
    assert hdfs == 2000
    reasons = es.search(index="vigil-deadletter-*", size=1, query={"term": {"source": "test-HDFS_2k.log"}})
    assert "unrecognised format" in reasons["hits"]["hits"][0]["_source"]["reason"]
    # The OpenSSH brute force is searchable as ECS: 520 failed passwords (grep -c "Failed password").
    failed = es.count(
        index="logs-user-*",
        query={"bool": {"filter": [
            {"term": {"vigil.source": "test-OpenSSH_2k.log"}},
            {"term": {"event.outcome": "failure"}},
            {"match_phrase": {"message": "Failed password"}},
        ]}},
    )["count"]  # fmt: skip
    assert failed == 520

    # Replaying the same files changes nothing: deterministic ids + create-only writes.
    producer = clients.producer(settings)
    for parts, fmt in CORPUS[:2]:
        for path in _files(parts):
            publish(iter_file_envelopes(path, source=f"test-{parts[-1]}", fmt=fmt), producer)
    producer.close()
    run_workers(settings)
    assert sum(landed(es, SOURCES)) == sent
