"""Ingest benchmark: raw Elasticsearch bulk vs Vigil's pipeline vs kafka-python produce, in one run.

    python3 bench/ingest.py [--events N] [--normalisers K] [--indexers K] [--partitions P]

Starts its own Kafka + Elasticsearch on free ports (stack.local), and tears them down at the end.
The N events are the real lines of loghub `*_2k.log` and samplelogs `*/*.log` (read in place),
repeated as if N/16k hosts had sent the same files (one source id per copy, so every record id is
distinct). Three rates, measured side by side on the same machine:

(c) kafka-python produce: the N envelopes (serialised beforehand) sent to `vigil.raw` and flushed.
(a) raw ES bulk: the very documents the pipeline indexes (normalised in this process beforehand,
    already JSON), bulk-created from this one process in batches of the pipeline's batch size, into
    fresh indices of the same templates and the same daily layout (names with a `rawbench` infix).
(b) pipeline: normaliser and indexer started as real worker processes (`core.cli workers --role`),
    timed until Elasticsearch has indexed all N. The sustained rate runs from the first indexed
    document to the last (start-up and the group join are reported apart).

The daily indices both (a) and (b) write are created before each is timed: the loghub lines span
150 days, and creating 150 indices mid-run would measure cluster-state updates, not ingest.
The last line printed is one JSON object with the three rates and the ratio (b)/(a).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import ROOT, CpuMeter, dataset  # first: puts the worktree on sys.path
from elasticsearch import Elasticsearch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core import clients
from core.index_templates import install_templates
from core.models.envelope import RawEnvelope
from core.names import Topic
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import bulk_actions
from ingest.normaliser import encode_result, normalise
from stack.local import LocalStack, StackConfig

console = Console(stderr=True)  # progress on stderr; results (and the JSON last line) on stdout
RECEIVED = datetime(2026, 12, 1, tzinfo=UTC)  # fixed: the same run builds the same ids
RAW_INFIX = "rawbench"


@dataclass(frozen=True)
class Doc:
    index: str
    id: str
    body: bytes  # the JSON the indexer sends for it


@dataclass
class Rate:
    events: int
    seconds: float
    cpu: dict[str, float]

    @property
    def eps(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def cpu_per_1k(self) -> str:
        return ", ".join(f"{name} {1000 * s / self.events * 1000:.0f} ms" for name, s in sorted(self.cpu.items()))


# --- corpus ---------------------------------------------------------------------------------------------


def corpus_files() -> list[Path]:
    return [*sorted(dataset("loghub").glob("*/*_2k.log")), *sorted(dataset("samplelogs").glob("*/*.log"))]


def envelopes(count: int) -> Iterator[RawEnvelope]:
    """`count` envelopes: the corpus files read in order, again and again, one source id per copy."""
    files = corpus_files()
    copy = 0
    made = 0
    while True:
        for path in files:
            for envelope in iter_file_envelopes(path, source=f"bench-{copy:04d}-{path.stem}", received_at=RECEIVED):
                yield envelope
                made += 1
                if made == count:
                    return
        copy += 1


# --- helpers ----------------------------------------------------------------------------------------------


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"), console=console,
    )  # fmt: skip


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def raw_index(name: str) -> str:
    """`logs-user-2015.07.29` → `logs-user-rawbench-2015.07.29`: same template, separate indices."""
    head, day = name.rsplit("-", 1)
    return f"{head}-{RAW_INFIX}-{day}"


def create_indices(es: Elasticsearch, names: set[str]) -> None:
    # One cluster-state update each; a few in flight at once keeps this step short.
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda name: es.indices.create(index=name, wait_for_active_shards="1"), sorted(names)))


def delete_indices(es: Elasticsearch, names: set[str]) -> None:
    # The stack refuses wildcard deletes (action.destructive_requires_name): name every index.
    for batch in chunks(sorted(names), 50):
        es.indices.delete(index=",".join(batch))


def indexed_total(es: Elasticsearch, pattern: str) -> int:
    """Documents indexed so far (primaries' indexing counter: exact without waiting for a refresh)."""
    stats = es.indices.stats(index=pattern, metric="indexing")
    return int(stats["_all"]["primaries"].get("indexing", {}).get("index_total", 0))


# --- preparation --------------------------------------------------------------------------------------------


def prepare(count: int, settings: Settings) -> tuple[list[tuple[bytes, bytes]], list[Doc]]:
    """The Kafka messages for `vigil.raw`, and the documents the pipeline will index for them."""
    messages: list[tuple[bytes, bytes]] = []
    docs: list[Doc] = []
    with progress() as bar:
        task = bar.add_task("preparing envelopes + documents", total=count, note="")
        for envelope in envelopes(count):
            messages.append((envelope.source.encode(), envelope.model_dump_json().encode()))
            topic, _, value, headers = encode_result(normalise(envelope, settings.zone))
            index, doc_id, body = bulk_actions(topic, value, headers)
            docs.append(Doc(index, doc_id, body if isinstance(body, bytes) else json.dumps(body).encode()))
            if len(docs) % 1000 == 0:
                bar.advance(task, 1000)
        bar.update(task, completed=count)
    return messages, docs


# --- (c) kafka-python produce -------------------------------------------------------------------------------


def measure_produce(settings: Settings, messages: list[tuple[bytes, bytes]], meter: CpuMeter) -> Rate:
    producer = clients.producer(settings)
    send = producer.send
    with progress() as bar:
        task = bar.add_task("(c) kafka-python produce", total=len(messages), note="")
        meter.start()
        started = time.perf_counter()
        for i, (key, value) in enumerate(messages, 1):
            send(Topic.RAW.value, key=key, value=value)
            if i % 5000 == 0:
                bar.update(task, completed=i)
        producer.flush()
        seconds = time.perf_counter() - started
        cpu = meter.stop()
        bar.update(task, completed=len(messages))
    producer.close()
    return Rate(len(messages), seconds, cpu)


# --- (a) raw ES bulk ------------------------------------------------------------------------------------------


def bulk_bodies(docs: list[Doc], batch_size: int, rename: Callable[[str], str]) -> list[list[bytes]]:
    """Ready NDJSON lines per bulk request: the action line and the document, both already bytes."""
    bodies = []
    for batch in chunks(docs, batch_size):
        lines: list[bytes] = []
        for doc in batch:
            action = {"create": {"_index": rename(doc.index), "_id": doc.id}}
            lines.append(json.dumps(action).encode())
            lines.append(doc.body)
        bodies.append(lines)
    return bodies


def measure_raw_bulk(es: Elasticsearch, docs: list[Doc], batch_size: int, meter: CpuMeter) -> Rate:
    indices = {raw_index(d.index) for d in docs}
    create_indices(es, indices)
    bodies = bulk_bodies(docs, batch_size, raw_index)
    with progress() as bar:
        task = bar.add_task("(a) raw ES bulk, one process", total=len(docs), note=f"{len(indices)} indices")
        meter.start()
        started = time.perf_counter()
        for body in bodies:
            response = es.bulk(operations=body, refresh=False)
            if response.get("errors"):
                failed = next(i for i in response["items"] if i["create"].get("status", 500) >= 300)
                raise SystemExit(f"raw bulk rejected a document: {failed}")
            bar.advance(task, len(body) // 2)
        seconds = time.perf_counter() - started
        cpu = meter.stop()
    delete_indices(es, indices)
    return Rate(len(docs), seconds, cpu)


# --- (b) the pipeline -------------------------------------------------------------------------------------------


def worker_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        VIGIL_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        VIGIL_ES_URL=settings.es_url,
        VIGIL_KAFKA_PARTITIONS=str(settings.kafka_partitions),
        VIGIL_BATCH_SIZE=str(settings.batch_size),
        VIGIL_DATA_DIR=str(data_dir),
    )


def start_workers(
    env: dict[str, str], normalisers: int, indexers: int, logs: Path
) -> dict[str, subprocess.Popen[bytes]]:
    """The real workers, one process each, as production runs them (`vigil workers --role ...`)."""
    procs = {}
    for role, count in (("normaliser", normalisers), ("indexer", indexers)):
        for i in range(count):
            name = f"{role}-{i}"
            out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "core.cli", "workers", "--role", role],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
    return procs


def stop_workers(procs: dict[str, subprocess.Popen[bytes]]) -> None:
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # a graceful stop: the workers finish their batch
    deadline = time.monotonic() + 30
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def normalised_total(admin: Any, group: str) -> int:
    """Offsets the normaliser group has committed on vigil.raw (what it has finished, flushed)."""
    try:
        offsets = admin.list_group_offsets(group).get(group, {})
    except Exception:  # noqa: BLE001 - the group may not exist yet
        return 0
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == Topic.RAW.value and meta.offset > 0)


@dataclass
class PipelineRun:
    rate: Rate  # sustained: first indexed document to the last
    startup_s: float  # worker launch to the first indexed document
    wall_s: float  # worker launch to the last indexed document
    normaliser_done_s: float  # worker launch to all of vigil.raw normalised
    landed: int


def measure_pipeline(
    es: Elasticsearch, settings: Settings, docs: list[Doc], args: argparse.Namespace, stack: LocalStack, work: Path
) -> PipelineRun:
    from kafka import KafkaAdminClient

    count = len(docs)
    indices = {d.index for d in docs}
    create_indices(es, indices)
    pattern = "logs-*,vigil-deadletter-*"
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    logs = work / "worker-logs"
    logs.mkdir(exist_ok=True)
    procs = start_workers(worker_env(settings, work), args.normalisers, args.indexers, logs)
    meter = CpuMeter(_server_groups(stack) | {name: p.pid for name, p in procs.items()})
    meter.start()
    launched = time.perf_counter()
    first: tuple[float, int] | None = None
    normalised_at = 0.0
    cpu: dict[str, float] = {}
    try:
        with progress() as bar:
            norm_task = bar.add_task("(b) pipeline: normalised", total=count, note="")
            index_task = bar.add_task("(b) pipeline: indexed", total=count, note="")
            while True:
                time.sleep(0.25)
                now = time.perf_counter()
                done = indexed_total(es, pattern)
                normalised = normalised_total(admin, settings.normaliser_group)
                if normalised >= count and not normalised_at:
                    normalised_at = now
                if done and first is None:
                    first = (now, done)
                bar.update(norm_task, completed=min(normalised, count))
                bar.update(index_task, completed=min(done, count), note=f"{done / (now - launched):,.0f}/s")
                if done >= count:
                    break
                crashed = [name for name, p in procs.items() if p.poll() is not None]
                if crashed:
                    raise SystemExit(f"worker(s) {crashed} exited early; see {logs}")
                if now - launched > args.timeout:
                    raise SystemExit(f"pipeline did not index {count} events in {args.timeout:.0f}s; see {logs}")
            finished = time.perf_counter()
            cpu = meter.stop()  # before the workers exit: their CPU vanishes with them
    finally:
        stop_workers(procs)
        admin.close()
    es.indices.refresh(index=pattern)
    landed = int(es.count(index=pattern)["count"])
    assert first is not None
    sustained = Rate(count - first[1], finished - first[0], cpu)
    return PipelineRun(sustained, first[0] - launched, finished - launched, normalised_at - launched, landed)


def _server_groups(stack: LocalStack) -> dict[str, int]:
    return {name: proc.pid for name, proc in stack.processes.items()}


# --- main -------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events per measurement (default 100k)")
    parser.add_argument("--normalisers", type=int, default=1, help="normaliser worker processes")
    parser.add_argument("--indexers", type=int, default=1, help="indexer worker processes")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic")
    parser.add_argument("--batch-size", type=int, default=None, help="VIGIL_BATCH_SIZE (default: the setting's)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on the pipeline after this long")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> dict[str, float]:
    config = StackConfig.ephemeral(work / "stack")
    config.partitions = args.partitions
    stack = LocalStack(config)
    with console.status("starting Kafka + Elasticsearch on free ports..."):
        stack.up()
    try:
        overrides: dict[str, Any] = {"kafka_partitions": args.partitions}
        if args.batch_size:
            overrides["batch_size"] = args.batch_size
        settings = Settings(kafka_bootstrap=config.kafka_bootstrap, es_url=config.es_url, data_dir=work, **overrides)
        es = Elasticsearch(settings.es_url, request_timeout=120)
        clients.ensure_topics(settings)
        install_templates(es, settings)
        messages, docs = prepare(args.events, settings)
        letters = sum(1 for d in docs if d.index.startswith("vigil-deadletter"))
        console.print(f"{len(docs):,} events ({letters:,} of them dead letters), "
                      f"{len({d.index for d in docs})} daily indices, batch size {settings.batch_size}")  # fmt: skip
        servers = _server_groups(stack)
        produce = measure_produce(settings, messages, CpuMeter(servers))
        raw = measure_raw_bulk(es, docs, settings.batch_size, CpuMeter(servers))
        pipe = measure_pipeline(es, settings, docs, args, stack, work)
    finally:
        with console.status("stopping the stack..."):
            stack.down()
    return report(args, produce, raw, pipe)


def report(args: argparse.Namespace, produce: Rate, raw: Rate, pipe: PipelineRun) -> dict[str, float]:
    ratio = pipe.rate.eps / raw.eps if raw.eps else 0.0
    print(f"events: {args.events:,}; workers: {args.normalisers} normaliser(s), {args.indexers} indexer(s); "
          f"{args.partitions} partitions")  # fmt: skip
    print(f"(c) kafka-python produce:   {produce.eps:10,.0f} events/s  ({produce.seconds:.1f} s; "
          f"CPU per 1k events: {produce.cpu_per_1k()})")  # fmt: skip
    print(f"(a) raw ES bulk, 1 process: {raw.eps:10,.0f} events/s  ({raw.seconds:.1f} s; "
          f"CPU per 1k events: {raw.cpu_per_1k()})")  # fmt: skip
    print(f"(b) pipeline, sustained:    {pipe.rate.eps:10,.0f} events/s  ({pipe.rate.seconds:.1f} s from the first "
          f"indexed document; CPU per 1k events: {pipe.rate.cpu_per_1k()})")  # fmt: skip
    print(f"    start-up {pipe.startup_s:.1f} s; with it {args.events / pipe.wall_s:,.0f} events/s; "
          f"vigil.raw fully normalised after {pipe.normaliser_done_s:.1f} s; "
          f"landed {pipe.landed:,}/{args.events:,}")  # fmt: skip
    print(f"ratio (b)/(a): {ratio:.2f}")
    if pipe.landed != args.events:
        print(f"WARNING: Elasticsearch holds {pipe.landed} documents, expected {args.events}")
    return {
        "raw_es_bulk_eps": round(raw.eps, 1),
        "pipeline_eps": round(pipe.rate.eps, 1),
        "kafka_produce_eps": round(produce.eps, 1),
        "ratio": round(ratio, 3),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="vigil-bench-ingest-"))
    # SIGTERM (a stopped job) must still tear the servers down: turn it into an exception.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
