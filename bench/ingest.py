"""Ingest benchmark: raw Elasticsearch bulk vs Vigil's pipeline vs kafka-python produce, in one run.

    python3 bench/ingest.py [--events N] [--normalisers K] [--indexers K] [--partitions P]

Starts its own Kafka + Elasticsearch on free ports (stack.local), and tears them down at the end.
The N events are the real lines of loghub `*_2k.log` and samplelogs `*/*.log` (read in place),
repeated as if N/16k hosts had sent the same files (one source id per copy, so every record id is
distinct). Three rates, measured side by side on the same machine:

(c) kafka-python produce: the N envelopes (serialised beforehand) sent with Vigil's producer settings
    to a topic nobody consumes, and flushed.
(a) raw ES bulk: the very documents the pipeline indexes (normalised in this process beforehand,
    already JSON), bulk-created from this one process in batches of the pipeline's batch size, into
    fresh indices of the same templates and the same daily layout (names with a `rawbench` infix).
(b) pipeline: normaliser and indexer running as real worker processes (`core.cli workers --role`,
    started and warmed up once, so start-up and the group join are not timed). Each slice of
    envelopes is produced to `vigil.raw` while the workers are frozen (SIGSTOP), then the workers
    are resumed and timed until Elasticsearch has indexed every one of them.

(a) and (b) alternate in `--rounds` slices of N/rounds events: the machine is shared, and load that
comes and goes then weighs on both sides alike. Each rate is its events over its summed time.
The daily indices both write are created before anything is timed: the loghub lines span 150 days,
and creating 150 indices mid-run would measure cluster-state updates, not ingest.
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

PRODUCE_TOPIC = "bench.produce"


def measure_produce(settings: Settings, messages: list[tuple[bytes, bytes]], meter: CpuMeter) -> Rate:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics([NewTopic(PRODUCE_TOPIC, settings.kafka_partitions, 1)])
    admin.close()
    producer = clients.producer(settings)
    send = producer.send
    with progress() as bar:
        task = bar.add_task("(c) kafka-python produce", total=len(messages), note="")
        meter.start()
        started = time.perf_counter()
        for i, (key, value) in enumerate(messages, 1):
            send(PRODUCE_TOPIC, key=key, value=value)
            if i % 5000 == 0:
                bar.update(task, completed=i)
        producer.flush()
        seconds = time.perf_counter() - started
        cpu = meter.stop()
        bar.update(task, completed=len(messages))
    producer.close()
    return Rate(len(messages), seconds, cpu)


# --- (a) raw ES bulk ------------------------------------------------------------------------------------------


def bulk_bodies(docs: Sequence[Doc], batch_size: int) -> list[list[bytes]]:
    """Ready NDJSON lines per bulk request: the action line and the document, both already bytes."""
    bodies = []
    for batch in chunks(docs, batch_size):
        lines: list[bytes] = []
        for doc in batch:
            lines.append(json.dumps({"create": {"_index": raw_index(doc.index), "_id": doc.id}}).encode())
            lines.append(doc.body)
        bodies.append(lines)
    return bodies


def raw_bulk(es: Elasticsearch, bodies: list[list[bytes]], advance: Callable[[int], None]) -> float:
    """Seconds to bulk-create the bodies one request after the other."""
    started = time.perf_counter()
    for body in bodies:
        response = es.bulk(operations=body, refresh=False)
        if response.get("errors"):
            failed = next(i for i in response["items"] if i["create"].get("status", 500) >= 300)
            raise SystemExit(f"raw bulk rejected a document: {failed}")
        advance(len(body) // 2)
    return time.perf_counter() - started


# --- (b) the pipeline -------------------------------------------------------------------------------------------

PIPELINE_PATTERN = f"logs-*,vigil-deadletter-*,-*-{RAW_INFIX}-*"
PAUSE_SESSION_MS = 60_000


def worker_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    return dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        VIGIL_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        VIGIL_ES_URL=settings.es_url,
        VIGIL_KAFKA_PARTITIONS=str(settings.kafka_partitions),
        VIGIL_BATCH_SIZE=str(settings.batch_size),
        VIGIL_DATA_DIR=str(data_dir),
        # Longer than one paused round (see Pipeline.pause), so a frozen worker keeps its partitions.
        VIGIL_KAFKA_SESSION_TIMEOUT_MS=str(PAUSE_SESSION_MS),
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
            os.killpg(proc.pid, signal.SIGCONT)  # a paused worker would not see the SIGINT
            os.killpg(proc.pid, signal.SIGINT)  # a graceful stop: the workers finish their batch
    deadline = time.monotonic() + 30
    for proc in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(max(0.1, deadline - time.monotonic()))
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Pipeline:
    """Running workers and what it takes to feed them and watch Elasticsearch."""

    es: Elasticsearch
    producer: Any
    procs: dict[str, subprocess.Popen[bytes]]
    logs: Path
    timeout: float

    def produce(self, messages: Sequence[tuple[bytes, bytes]]) -> None:
        for key, value in messages:
            self.producer.send(Topic.RAW.value, key=key, value=value)
        self.producer.flush()

    def pause(self) -> None:
        """Freeze the workers (SIGSTOP) so they neither consume nor take CPU; the session timeout
        given to them outlasts a pause, so they stay in their groups."""
        for proc in self.procs.values():
            os.killpg(proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        for proc in self.procs.values():
            os.killpg(proc.pid, signal.SIGCONT)

    def feed(self, messages: Sequence[tuple[bytes, bytes]], advance: Callable[[int], None]) -> float:
        """Seconds from resuming the workers until Elasticsearch indexed all the (produced) messages."""
        target = indexed_total(self.es, PIPELINE_PATTERN) + len(messages)
        started = time.perf_counter()
        self.resume()
        done = 0
        while done < len(messages):
            time.sleep(0.2)
            now = indexed_total(self.es, PIPELINE_PATTERN) - (target - len(messages))
            advance(now - done)
            done = now
            self._check(started)
        return time.perf_counter() - started

    def _check(self, started: float) -> None:
        crashed = [name for name, proc in self.procs.items() if proc.poll() is not None]
        if crashed:
            raise SystemExit(f"worker(s) {crashed} exited early; see {self.logs}")
        if time.perf_counter() - started > self.timeout:
            raise SystemExit(f"the pipeline stalled for {self.timeout:.0f}s; see {self.logs}")


def warm_up(pipeline: Pipeline, messages: Sequence[tuple[bytes, bytes]]) -> float:
    """Start-up, group joins and first batches, outside the timing: seconds until the warm-up landed."""
    with progress() as bar:
        task = bar.add_task("(b) warming the workers up", total=len(messages), note="")
        pipeline.produce(messages)
        return pipeline.feed(messages, lambda n: bar.advance(task, n))


# --- the rounds ---------------------------------------------------------------------------------------------------


@dataclass
class Totals:
    raw_s: float = 0.0
    pipe_s: float = 0.0
    raw_cpu: dict[str, float] | None = None
    pipe_cpu: dict[str, float] | None = None


def alternate(
    pipeline: Pipeline, messages: list[tuple[bytes, bytes]], docs: list[Doc], args: argparse.Namespace,
    meter: CpuMeter,
) -> Totals:  # fmt: skip
    """(a) then (b) on each slice of the events, summing each side's time and CPU."""
    totals = Totals(raw_cpu={}, pipe_cpu={})
    size = -(-len(docs) // args.rounds)
    with progress() as bar:
        raw_task = bar.add_task("(a) raw ES bulk, one process", total=len(docs), note="")
        pipe_task = bar.add_task("(b) pipeline, vigil.raw → ES", total=len(docs), note="")
        for start in range(0, len(docs), size):
            pipeline.pause()
            pipeline.produce(messages[start : start + size])
            bodies = bulk_bodies(docs[start : start + size], args.batch)
            meter.start()
            totals.raw_s += raw_bulk(pipeline.es, bodies, lambda n: bar.advance(raw_task, n))
            _add(totals.raw_cpu, meter.stop())
            bar.update(raw_task, note=f"{bar.tasks[raw_task].completed / totals.raw_s:,.0f}/s")
            meter.start()
            totals.pipe_s += pipeline.feed(messages[start : start + size], lambda n: bar.advance(pipe_task, n))
            _add(totals.pipe_cpu, meter.stop())
            bar.update(pipe_task, note=f"{bar.tasks[pipe_task].completed / totals.pipe_s:,.0f}/s")
    return totals


def _add(into: dict[str, float] | None, more: dict[str, float]) -> None:
    assert into is not None
    for name, seconds in more.items():
        into[name] = into.get(name, 0.0) + seconds


def _server_groups(stack: LocalStack) -> dict[str, int]:
    return {name: proc.pid for name, proc in stack.processes.items()}


# --- main -------------------------------------------------------------------------------------------------------

WARM_UP = 5000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="events per measurement (default 100k)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating (a)/(b) slices (default 4)")
    parser.add_argument("--normalisers", type=int, default=2, help="normaliser worker processes (default 2)")
    parser.add_argument("--indexers", type=int, default=1, help="indexer worker processes (default 1)")
    parser.add_argument("--partitions", type=int, default=3, help="partitions per topic (default 3)")
    parser.add_argument("--batch-size", type=int, default=None, help="VIGIL_BATCH_SIZE (default: the setting's)")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up when the pipeline stalls this long")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, work: Path) -> dict[str, float]:
    config = StackConfig.ephemeral(work / "stack")
    config.partitions = args.partitions
    stack = LocalStack(config)
    with console.status("starting Kafka + Elasticsearch on free ports..."):
        stack.up()
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        overrides: dict[str, Any] = {"kafka_partitions": args.partitions}
        if args.batch_size:
            overrides["batch_size"] = args.batch_size
        settings = Settings(kafka_bootstrap=config.kafka_bootstrap, es_url=config.es_url, data_dir=work, **overrides)
        args.batch = settings.batch_size
        es = Elasticsearch(settings.es_url, request_timeout=120)
        clients.ensure_topics(settings)
        install_templates(es, settings)
        messages, docs = prepare(WARM_UP + args.events, settings)
        warm, messages, docs = messages[:WARM_UP], messages[WARM_UP:], docs[WARM_UP:]
        letters = sum(1 for d in docs if d.index.startswith("vigil-deadletter"))
        indices = {d.index for d in docs}
        console.print(f"{len(docs):,} events ({letters:,} of them dead letters), {len(indices)} daily indices, "
                      f"batch size {settings.batch_size}")  # fmt: skip
        servers = _server_groups(stack)
        produce = measure_produce(settings, messages, CpuMeter(servers))
        with console.status(f"creating {2 * len(indices)} daily indices..."):
            create_indices(es, indices | {raw_index(name) for name in indices})
        logs = work / "worker-logs"
        logs.mkdir()
        procs = start_workers(worker_env(settings, work), args.normalisers, args.indexers, logs)
        pipeline = Pipeline(es, clients.producer(settings), procs, logs, args.timeout)
        startup = warm_up(pipeline, warm)
        totals = alternate(pipeline, messages, docs, args, CpuMeter(servers | {n: p.pid for n, p in procs.items()}))
        pipeline.producer.close()
        es.indices.refresh(index=PIPELINE_PATTERN)
        landed = int(es.count(index=PIPELINE_PATTERN)["count"]) - WARM_UP
    finally:
        stop_workers(procs)
        with console.status("stopping the stack..."):
            stack.down()
    return report(args, produce, totals, startup, landed)


def report(args: argparse.Namespace, produce: Rate, totals: Totals, startup: float, landed: int) -> dict[str, float]:
    raw = Rate(args.events, totals.raw_s, totals.raw_cpu or {})
    pipe = Rate(args.events, totals.pipe_s, totals.pipe_cpu or {})
    ratio = pipe.eps / raw.eps if raw.eps else 0.0
    print(f"events: {args.events:,} in {args.rounds} alternating rounds; workers: {args.normalisers} normaliser(s), "
          f"{args.indexers} indexer(s); {args.partitions} partitions; batch size {args.batch}")  # fmt: skip
    print(f"(c) kafka-python produce:   {produce.eps:10,.0f} events/s  ({produce.seconds:.1f} s; "
          f"CPU per 1k events: {produce.cpu_per_1k()})")  # fmt: skip
    print(f"(a) raw ES bulk, 1 process: {raw.eps:10,.0f} events/s  ({raw.seconds:.1f} s; "
          f"CPU per 1k events: {raw.cpu_per_1k()})")  # fmt: skip
    print(f"(b) pipeline, sustained:    {pipe.eps:10,.0f} events/s  ({pipe.seconds:.1f} s; "
          f"CPU per 1k events: {pipe.cpu_per_1k()})")  # fmt: skip
    print(f"    worker start-up + warm-up ({WARM_UP:,} events, not timed): {startup:.1f} s; "
          f"landed {landed:,}/{args.events:,}")  # fmt: skip
    print(f"ratio (b)/(a): {ratio:.2f}")
    if landed != args.events:
        print(f"WARNING: Elasticsearch holds {landed} pipeline documents, expected {args.events}")
    return {
        "raw_es_bulk_eps": round(raw.eps, 1),
        "pipeline_eps": round(pipe.eps, 1),
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
