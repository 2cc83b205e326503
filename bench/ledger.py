"""Ledger benchmark: the indexer's write step with and without the integrity ledger, side by side.

    python3 bench/ledger.py [--events N] [--batch-size B] [--partitions P]

Starts its own stack (stack.local; only Elasticsearch is used) on free ports and tears it down at the
end. The documents are the real loghub `*_2k.log` lines, normalised in this process beforehand (as
the normaliser would: JSON bytes with index and id), repeated with one source id per copy so every
id is distinct; 2N are prepared, N for each side, each with a partition (`p0`..`p{P-1}`, by the
hash of its Kafka key, as the producer spreads entities).

(a) without: `ingest.indexer.bulk_create` per batch — what the indexer does between poll and commit.
(b) with: the same plus `ledger_docs` + `LedgerWriter.record` (digest every document, one bulk of
    ledger entries per batch) — what the indexer does with `VIGIL_LEDGER=true` (the default).
The two alternate per batch (the machine is shared: load that comes and goes weighs on both), into
the same daily indices (created beforehand). Each rate is its documents over its summed time. The
last line is one JSON object with both rates, the ratio (b)/(a), the CPU the ledger adds per 1,000
documents in this process, the share of (b)'s time spent writing the ledger entries (their bulk
request), and the ledger's size beside the logs'.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

from _common import dataset, self_cpu_seconds  # first: puts the worktree on sys.path
from elasticsearch import Elasticsearch

from core.index_templates import install_templates
from core.ledger_store import LedgerWriter
from core.models.ecs import EcsEvent
from core.names import LEDGER_INDEX
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import Doc, bulk_actions, bulk_create, ledger_docs
from ingest.normaliser import encode_result, normalise
from stack.local import LocalStack, StackConfig

RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)


def prepare(count: int, settings: Settings, partitions: int) -> list[tuple[Doc, str]]:
    """`count` parsed documents (dead letters skipped) with their partition's chain."""
    files = sorted(dataset("loghub").glob("*/*_2k.log"))
    docs: list[tuple[Doc, str]] = []
    copy = 0
    while len(docs) < count:
        for path in files:
            for envelope in iter_file_envelopes(path, source=f"lb-{copy:04d}-{path.stem}", received_at=RECEIVED):
                result = normalise(envelope, settings.zone)
                if not isinstance(result, EcsEvent):
                    continue
                topic, key, value, headers = encode_result(result)
                docs.append((bulk_actions(topic, value, headers), f"p{zlib.crc32(key) % partitions}"))
                if len(docs) == count:
                    return docs
        copy += 1
    return docs


def create_indices(es: Elasticsearch, docs: list[tuple[Doc, str]]) -> None:
    for name in sorted({doc[0] for doc, _ in docs}):
        if not es.indices.exists(index=name):
            es.indices.create(index=name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=40_000, help="documents per side")
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--partitions", type=int, default=3)
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-ledger-"))
    local = LocalStack(StackConfig.ephemeral(data_dir))
    local.up()
    try:
        settings = Settings(es_url=local.config.es_url, kafka_bootstrap=local.config.kafka_bootstrap)
        # A loaded shared machine can take longer than the indexer's 30 s for a bulk over many daily indices.
        es = Elasticsearch(settings.es_url, request_timeout=300)
        install_templates(es, settings)
        docs = prepare(2 * args.events, settings, args.partitions)
        create_indices(es, docs)
        writer = LedgerWriter(es, "bench")
        batches = [docs[i : i + args.batch_size] for i in range(0, len(docs), args.batch_size)]
        plain_s = ledger_s = ledger_cpu = record_s = 0.0
        plain_n = ledger_n = entries = 0
        for number, batch in enumerate(batches):
            bodies = [doc for doc, _ in batch]
            started = time.perf_counter()
            result = bulk_create(es, bodies)
            if number % 2 == 0:
                plain_s += time.perf_counter() - started
                plain_n += len(batch)
                continue
            cpu = self_cpu_seconds()
            recorded = ledger_docs(es, bodies, [chain for _, chain in batch], result)
            writing = time.perf_counter()
            entries += writer.record(recorded)
            record_s += time.perf_counter() - writing
            ledger_cpu += self_cpu_seconds() - cpu
            ledger_s += time.perf_counter() - started
            ledger_n += len(batch)
        es.indices.refresh(index=f"logs-*,{LEDGER_INDEX}")
        sizes = es.cat.indices(index=f"logs-*,{LEDGER_INDEX}", format="json", bytes="b", h="index,store.size")
        ledger_bytes = sum(int(r["store.size"]) for r in sizes if r["index"] == LEDGER_INDEX)
        logs_bytes = sum(int(r["store.size"]) for r in sizes if r["index"] != LEDGER_INDEX)
        without, with_ledger = plain_n / plain_s, ledger_n / ledger_s
        print(f"(a) indexer write step without the ledger: {without:,.0f} docs/s ({plain_n} docs)")
        print(f"(b) indexer write step with the ledger:    {with_ledger:,.0f} docs/s ({ledger_n} docs, "
              f"{entries} ledger entries, {ledger_n / max(entries, 1):.0f} docs per entry)")  # fmt: skip
        print(f"ratio (b)/(a): {with_ledger / without:.2f}; ledger CPU in the indexer: "
              f"{1000 * ledger_cpu / ledger_n * 1000:.0f} ms per 1,000 docs; ledger store "
              f"{ledger_bytes / max(logs_bytes, 1):.1%} of the logs'")  # fmt: skip
        print(json.dumps({"without_ledger_eps": round(without), "with_ledger_eps": round(with_ledger),
                          "ratio": round(with_ledger / without, 3), "ledger_entries": entries,
                          "ledger_cpu_ms_per_1k": round(1e6 * ledger_cpu / ledger_n, 1),
                          "ledger_write_share": round(record_s / ledger_s, 3),
                          "ledger_store_ratio": round(ledger_bytes / max(logs_bytes, 1), 3)}))  # fmt: skip
    finally:
        local.down()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
