"""Faults through the real pipeline: garbage input and an Elasticsearch outage lose nothing."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes, publish
from ingest.indexer import Indexer
from ingest.normaliser import Normaliser
from stack.local import LocalStack
from tests.datasets import dataset
from tests.integration.events_support import start_pipeline_at_end
from tests.integration.test_pipeline_e2e import landed, run_workers

pytestmark = pytest.mark.integration


def garbage_lines(count: int, seed: int = 7) -> list[bytes]:
    """Random bytes, invalid UTF-8, oversized lines and near-misses of real formats."""
    rng = random.Random(seed)
    near_misses = [b"Nov 99 25:61:00 host", b"<999>1 not-a-date", b"type=SYSCALL msg=audit(",
                   b'{"Event": [1, 2', b"[Mon Foo 00] [x]", b"1.2.3.4 - - [bad] \"GET"]  # fmt: skip
    lines = []
    for i in range(count):
        kind = i % 4
        if i % 50 == 49:
            line = b"Z" * rng.randrange(70_000, 120_000)
        elif kind == 0:
            line = bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 200)))
        elif kind == 1:
            line = b"\xc3\x28\xa0\xa1 " + rng.randbytes(40)
        elif kind == 2:
            line = rng.randbytes(rng.randrange(1, 300))
        else:
            line = rng.choice(near_misses) + rng.randbytes(8)
        lines.append(line.replace(b"\n", b" ").replace(b"\r", b" "))
    return lines


def test_garbage_is_dead_lettered_and_good_lines_still_flow(settings: Settings, tmp_path: Path) -> None:
    good = dataset("loghub", "OpenSSH", "OpenSSH_2k.log").read_bytes().splitlines()
    bad = garbage_lines(10_000)
    mixed: list[bytes] = []
    for i, line in enumerate(bad):
        mixed.append(line)
        if i % 5 == 0 and good:
            mixed.append(good.pop())
    mixed.extend(good)
    path = tmp_path / "mixed.log"
    path.write_bytes(b"\n".join(mixed) + b"\n")
    start_pipeline_at_end(settings)
    producer = clients.producer(settings)
    sent = publish(iter_file_envelopes(path, source="fault-garbage", max_line_bytes=settings.max_line_bytes), producer)
    producer.close()
    blank = sum(1 for line in mixed if not line.strip())
    assert sent == len(mixed) - blank

    run_workers(settings)
    events, letters = landed(Elasticsearch(settings.es_url), ["fault-garbage"])
    assert events == 2000  # every OpenSSH line, none lost among the garbage
    assert letters == sent - 2000


def test_elasticsearch_outage_loses_nothing(settings: Settings, stack: LocalStack, tmp_path: Path) -> None:
    source = "fault-es-outage"
    corpus = dataset("loghub", "Linux", "Linux_2k.log")
    start_pipeline_at_end(settings)
    producer = clients.producer(settings)
    sent = publish(iter_file_envelopes(corpus, source=source), producer)
    producer.close()

    normaliser, indexer = Normaliser(settings), Indexer(settings)
    threads = [threading.Thread(target=normaliser.run, kwargs={"idle_exit_s": 20}),
               threading.Thread(target=indexer.run, kwargs={"idle_exit_s": 20})]  # fmt: skip
    for thread in threads:
        thread.start()
    time.sleep(3)  # workers are mid-run
    stack.stop("elasticsearch")
    producer = clients.producer(settings)
    # More input while Elasticsearch is down: the same lines under a second source id.
    sent += publish(iter_file_envelopes(corpus, source=f"{source}-2"), producer)
    producer.close()
    time.sleep(8)
    stack.start("elasticsearch")
    for thread in threads:
        thread.join(timeout=600)
    events, letters = landed(Elasticsearch(settings.es_url), [source, f"{source}-2"])
    assert events + letters == sent == 4000
    assert indexer.retries > 0  # it really met the outage
