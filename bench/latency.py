"""Event → alert latency through the real stack (issue 3 §6): p50 / p99 at a steady event rate.

    python3 bench/latency.py [--eps 2000] [--seconds 30] [--triggers-per-s 4] [--warmup-s 0] [--hog N] [--rules DIR ...]

Starts its own ephemeral Kafka + Elasticsearch (stack/local.py), then the real worker processes:
`vigil workers --role detectors` (the partition lane, every configured Sigma rule), `--role
detectors-global` and `--role alerts` (the alert store). It produces straight to `vigil.events`:
benign background (loghub Apache and Proxifier lines, normalised once, sent again with fresh ids and
times) mixed with a known trigger (a real Windows 1102 "audit log cleared" event) a few times a second,
each trigger under its own user so it opens a new alert instead of merging into the last one.

Latency per trigger = when its alert is searchable in `vigil-alerts` minus when it was produced; the
time it first appears on `vigil.alerts` is measured too (the detection part alone). Both clocks are
this process's. The last line printed is `{"eps": …, "p50_s": …, "p99_s": …}` (vigil-alerts).

`--hog N` measures a second window on the same warm stack with N busy-loop processes running (the
other tenants of a shared machine, made reproducible): the last line then also has `hog_p50_s` and
`hog_p99_s`. Each window prints the CPU seconds per 1,000 events of each detection lane, which is
steadier than wall time on a shared VM.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from elasticsearch import ApiError, Elasticsearch, TransportError  # noqa: E402
from kafka import KafkaConsumer  # noqa: E402

from core import clients  # noqa: E402
from core.models.ecs import EcsEvent  # noqa: E402
from core.names import ALERTS_INDEX, Topic  # noqa: E402
from core.settings import Settings  # noqa: E402
from ingest.collectors.file_import import iter_file_envelopes  # noqa: E402
from ingest.normaliser import normalise  # noqa: E402
from stack.local import LocalStack, StackConfig  # noqa: E402

DATASETS = REPO.parent / "shared" / "datasets"
TRIGGER = DATASETS / "attack" / "mdecrevoisier" / "TA0005-Defense Evasion" / "T1070.001-Clear Windows event logs"
BACKGROUND = [DATASETS / "loghub" / "Apache" / "Apache_2k.log", DATASETS / "loghub" / "Proxifier" / "Proxifier_2k.log"]
WAIT_S = 30.0  # after the last event: an alert not visible by then counts as this late (a lower bound)


def load(path: Path, fmt: str) -> list[EcsEvent]:
    out = []
    for envelope in iter_file_envelopes(path, source=f"bench-{path.stem}", fmt=fmt, timezone="UTC"):
        event = normalise(envelope, ZoneInfo("UTC"))
        if isinstance(event, EcsEvent):
            out.append(event)
    return out


def fresh(event: EcsEvent, event_id: str, user: str | None = None) -> tuple[bytes, bytes]:
    """The event again, as if it happened now, under a new id (and user): key and value for Kafka."""
    update: dict[str, object] = {
        "timestamp": datetime.now(UTC),
        "event": event.event.model_copy(update={"id": event_id}),
    }
    if user is not None and event.user is not None:
        update["user"] = event.user.model_copy(update={"name": user})
        update["vigil"] = event.vigil.model_copy(update={"entity": f"user:{user}"})
    copy = event.model_copy(update=update)
    return (copy.vigil.entity or "").encode(), copy.model_dump_json(by_alias=True, exclude_none=True).encode()


class Watcher:
    """When each trigger's alert shows up: on `vigil.alerts` (a consumer) and in `vigil-alerts` (a poll)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.produced: dict[str, float] = {}  # trigger event id → produce time
        self.on_topic: dict[str, float] = {}
        self.visible: dict[str, float] = {}
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def start(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._topic, daemon=True), threading.Thread(target=self._store, daemon=True)]
        for thread in threads:
            thread.start()
        return threads

    def _topic(self) -> None:
        # From the start of this run's own topic: an alert raised before the group joined still counts.
        consumer = KafkaConsumer(Topic.ALERTS.value, bootstrap_servers=self.settings.kafka_bootstrap,
                                 group_id=f"bench-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest")  # fmt: skip
        while not self.stop.is_set():
            for records in consumer.poll(timeout_ms=100).values():
                now = time.time()
                for record in records:
                    for event_id in json.loads(record.value).get("event_ids", []):
                        with self.lock:
                            self.on_topic.setdefault(event_id, now)
        consumer.close()

    def _store(self) -> None:
        """Polls every 100 ms (a visible time is late by up to that), and only for alerts already on
        `vigil.alerts` (none is searchable before): a search every 50 ms cost Elasticsearch ~0.24 of a
        core at load 9, taken from the stack being measured."""
        es = Elasticsearch(self.settings.es_url)
        while not self.stop.is_set():
            with self.lock:
                pending = [i for i in self.on_topic if i in self.produced and i not in self.visible]
            if pending:
                try:
                    query = {"terms": {"event_ids": pending}}
                    hits = es.search(index=ALERTS_INDEX, size=len(pending), query=query, source_includes=["event_ids"],
                                     ignore_unavailable=True)["hits"]["hits"]  # fmt: skip
                except (ApiError, TransportError):  # the index is being created (503 until its shard is up)
                    time.sleep(0.2)
                    continue
                now = time.time()
                with self.lock:
                    for hit in hits:
                        for event_id in hit["_source"]["event_ids"]:
                            self.visible.setdefault(event_id, now)
            time.sleep(0.1)


def _stat(path: Path) -> tuple[int, float] | None:
    """(parent pid, CPU seconds user + system) from a /proc `stat` file; None once the process exited."""
    try:
        fields = path.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _process_tree() -> tuple[dict[int, list[int]], dict[int, float]]:
    """Every process's children and CPU seconds so far (Linux /proc)."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(entry / "stat")) is not None:
            children.setdefault(found[0], []).append(int(entry.name))
            used[int(entry.name)] = found[1]
    return children, used


def _descendants(children: dict[int, list[int]], pid: int) -> list[int]:
    return [pid, *(d for child in children.get(pid, []) for d in _descendants(children, child))]


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) so far of each named process and its descendants: the Elasticsearch and
    Kafka launchers run the server JVM as a child."""
    children, used = _process_tree()
    return {name: sum(used.get(p, 0.0) for p in _descendants(children, pid)) for name, pid in roots.items()}


def jvm_threads(root: int) -> dict[str, float]:
    """CPU seconds so far of a JVM's threads (the process `root` and its descendants) by kind: the JIT
    compilers and the garbage collector warm up a fresh server, the rest is the server's own work."""
    children, _used = _process_tree()
    out = {"jit": 0.0, "gc": 0.0, "work": 0.0}
    for pid in _descendants(children, root):
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text().strip()
            except OSError:
                continue
            if (found := _stat(task / "stat")) is not None:
                kind = "jit" if "Compiler" in name else "gc" if name.startswith(("GC ", "G1 ")) else "work"
                out[kind] += found[1]
    return out


def alert_writes(es_url: str) -> dict[str, int]:
    """How `vigil-alerts` was written so far (primary shard counters): alerts indexed, bulk requests,
    refreshes (asked for or scheduled) and realtime gets: what Elasticsearch's CPU per alert is made of."""
    primaries = Elasticsearch(es_url).indices.stats(index=ALERTS_INDEX, metric="indexing,bulk,refresh,get")
    shard = primaries["_all"]["primaries"]
    return {
        "indexed": shard["indexing"]["index_total"],
        "bulks": shard["bulk"]["total_operations"],
        "refreshes": shard["refresh"]["external_total"],
        "gets": shard["get"]["total"],
    }


def pool_tasks(es_url: str) -> dict[str, int]:
    """Tasks completed so far per Elasticsearch thread pool (what the node was asked to do)."""
    nodes = Elasticsearch(es_url).nodes.stats(metric="thread_pool")["nodes"]
    return {name: pool["completed"] for node in nodes.values() for name, pool in node["thread_pool"].items()}


def start_workers(
    settings: Settings, data_dir: Path, rules: list[str], partition_workers: int
) -> dict[str, subprocess.Popen[bytes]]:
    env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIL_ES_URL": settings.es_url,
           "VIGIL_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO),
           # Every trigger is a new alert of one rule: past the default cap (100 per hour) they would merge
           # into one flood meta-alert, emitted on the tick, which is not the latency being measured.
           "VIGIL_ALERT_RATE_CAP": "1000000"}  # fmt: skip
    if rules:
        env["VIGIL_SIGMA_RULE_DIRS"] = json.dumps(rules)
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    roles = [*(["detectors"] * partition_workers), "detectors-global", "alerts"]
    return {
        f"{role}-{i}": subprocess.Popen(
            [sys.executable, "-m", "core.cli", "workers", "--role", role],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(logs / f"{role}-{i}.log").open("wb"),
        )  # fmt: skip
        for i, role in enumerate(roles)
    }


def wait_ready(watcher: Watcher, producer: object, trigger: EcsEvent, timeout: float = 600) -> None:
    """One trigger through the whole chain: every worker is up (rules compiled, groups joined)."""
    event_id = f"bench-warmup-{uuid.uuid4().hex}"
    key, value = fresh(trigger, event_id, "bench-warmup")
    with watcher.lock:
        watcher.produced[event_id] = time.time()
    producer.send(Topic.EVENTS.value, key=key, value=value)  # type: ignore[attr-defined]
    producer.flush()  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while event_id not in watcher.visible:
        if time.monotonic() > deadline:
            raise SystemExit("the workers did not raise the warm-up alert in time (see the worker logs)")
        time.sleep(0.2)
    with watcher.lock:
        del watcher.produced[event_id]


def offer(
    producer: object,
    watcher: Watcher,
    trigger: EcsEvent,
    background: list[tuple[bytes, bytes]],
    eps: int,
    seconds: float,
    triggers_per_s: float,
    tag: str,
    timed: bool = True,
) -> tuple[int, float]:
    """`eps` events a second for `seconds`, a trigger every 1/triggers_per_s s under a new user (ids and
    users carry `tag`); `timed` triggers are watched. Returns how many were sent and when sending started."""
    sent, started, every = 0, time.monotonic(), max(1, round(eps / triggers_per_s))
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * eps)
        while sent < due:
            if sent % every == 0:
                event_id = f"bench-{tag}trigger-{sent}"
                key, value = fresh(trigger, event_id, f"bench-{tag}user-{sent}")
                if timed:
                    with watcher.lock:
                        watcher.produced[event_id] = time.time()
            else:
                key, value = background[sent % len(background)]
            producer.send(Topic.EVENTS.value, key=key, value=value)  # type: ignore[attr-defined]
            sent += 1
        time.sleep(0.005)
    return sent, started


def start_hogs(count: int) -> list[subprocess.Popen[bytes]]:
    """`count` busy loops: competing tenants, each wanting a whole core for as long as it runs."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        proc.terminate()
    for proc in processes:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def run(
    eps: int,
    seconds: float,
    triggers_per_s: float,
    rules: list[str],
    partition_workers: int,
    warmup_s: float = 0.0,
    hog: int = 0,
) -> dict[str, float]:
    """The measured window; with `hog`, a second one on the same warm stack with `hog` busy loops running."""
    # Serialised once: re-dumping every background event would cap this producer below the target rate.
    events = [e for path in BACKGROUND for e in load(path, "auto")]
    background = [fresh(e, f"bench-bg-{i}") for i, e in enumerate(events)]
    trigger = next(e for p in sorted(TRIGGER.glob("*1102*.jsonl")) for e in load(p, "windows"))
    data_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-latency-"))
    stack = LocalStack(StackConfig.ephemeral(data_dir / "stack"))
    print("starting the stack...", file=sys.stderr)
    stack.up()
    workers: dict[str, subprocess.Popen[bytes]] = {}
    hogs: list[subprocess.Popen[bytes]] = []
    try:
        settings = Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url)
        clients.ensure_topics(settings)
        workers = start_workers(settings, data_dir, rules, partition_workers)
        watcher = Watcher(settings)
        threads = watcher.start()
        producer = clients.producer(settings, linger_ms=5)
        print("waiting for the workers (rules compile)...", file=sys.stderr)
        wait_ready(watcher, producer, trigger)
        if warmup_s:
            print(f"warming up: {eps} events/s for {warmup_s:.0f} s, not measured...", file=sys.stderr)
            offer(producer, watcher, trigger, background, eps, warmup_s, triggers_per_s, "warmup-", timed=False)
        roots = {**{name: proc.pid for name, proc in stack.processes.items()}, **{n: p.pid for n, p in workers.items()}}
        window = Window(settings, stack, roots, producer, watcher, trigger, background)
        result = window.measure(eps, seconds, triggers_per_s, "")
        if hog:
            hogs = start_hogs(hog)
            time.sleep(2)  # the scheduler spreads them first
            loaded = window.measure(eps, seconds, triggers_per_s, f"hog{hog}-", hog)
            result |= {"hog": hog, "hog_p50_s": loaded["p50_s"], "hog_p99_s": loaded["p99_s"]}
        watcher.stop.set()
        for thread in threads:
            thread.join(timeout=5)
        producer.close()
    finally:
        stop(hogs)
        stop(list(workers.values()))
        stack.down()
        shutil.rmtree(data_dir, ignore_errors=True)
    return result


class Window:
    """One measured window on the running stack: latency per trigger and what each process spent."""

    def __init__(
        self,
        settings: Settings,
        stack: LocalStack,
        roots: dict[str, int],
        producer: object,
        watcher: Watcher,
        trigger: EcsEvent,
        background: list[tuple[bytes, bytes]],
    ) -> None:
        self.settings, self.stack, self.roots, self.producer = settings, stack, roots, producer
        self.watcher, self.trigger, self.background = watcher, trigger, background

    def measure(self, eps: int, seconds: float, triggers_per_s: float, tag: str, hog: int = 0) -> dict[str, float]:
        settings, watcher = self.settings, self.watcher
        with watcher.lock:
            watcher.produced = {}  # this window's triggers only
        print(f"producing {eps} events/s for {seconds:.0f} s" + (f", {hog} busy loops running" if hog else "") + "...",
              file=sys.stderr)  # fmt: skip
        cpu_before, own_before, load_before = cpu_seconds(self.roots), time.process_time(), os.getloadavg()[0]
        writes_before = alert_writes(settings.es_url)
        jvms = {name: self.stack.processes[name].pid for name in ("elasticsearch", "kafka")}
        jvm_before = {name: jvm_threads(pid) for name, pid in jvms.items()}
        pools_before = pool_tasks(settings.es_url)
        sent, started = offer(self.producer, watcher, self.trigger, self.background, eps, seconds, triggers_per_s, tag)
        achieved = sent / (time.monotonic() - started)  # the offered rate (the flush below is not sending)
        self.producer.flush()  # type: ignore[attr-defined]
        deadline = time.monotonic() + WAIT_S
        # By id, not by count: `visible` also holds the warm-up alert, so counting ended this wait with the
        # last trigger still on its way (then counted as late as the give-up: less than WAIT_S).
        while any(i not in watcher.visible for i in watcher.produced) and time.monotonic() < deadline:
            time.sleep(0.2)
        given_up = time.time()
        cpu = {name: used - cpu_before[name] for name, used in cpu_seconds(self.roots).items()}
        cpu["bench"] = time.process_time() - own_before
        writes = {name: count - writes_before[name] for name, count in alert_writes(settings.es_url).items()}
        jvm = {name: {k: v - jvm_before[name][k] for k, v in jvm_threads(pid).items()} for name, pid in jvms.items()}
        pools = {name: n - pools_before.get(name, 0) for name, n in pool_tasks(settings.es_url).items()}
        print("Elasticsearch thread-pool tasks:", {k: v for k, v in pools.items() if v}, file=sys.stderr)
        wall, load_after = time.monotonic() - started, os.getloadavg()[0]
        with watcher.lock:
            produced = dict(watcher.produced)
        store = sorted(watcher.visible.get(i, given_up) - t for i, t in produced.items())
        topic = sorted(watcher.on_topic.get(i, given_up) - t for i, t in produced.items())
        unseen = [i for i in produced if i not in watcher.visible]
        if unseen:
            late = [i for i in unseen if i in watcher.on_topic][:5]
            print(f"not visible: {unseen[:5]}; of them on vigil.alerts: {late}", file=sys.stderr)
        print(f"{len(produced)} triggers at {achieved:.0f} events/s; {len(unseen)} alerts not visible "
              f"{WAIT_S:.0f} s after the last event (counted as that late); vigil-alerts: p50 {pct(store, 50):.3f} s, "
              f"p99 {pct(store, 99):.3f} s; on vigil.alerts: p50 {pct(topic, 50):.3f} s, p99 {pct(topic, 99):.3f} s",
              file=sys.stderr)  # fmt: skip
        spent = ", ".join(f"{name} {used:.1f}" for name, used in cpu.items())
        per_alert = 1000 * cpu["elasticsearch"] / max(1, writes["indexed"])
        print(
            f"vigil-alerts: {writes['indexed']} alert writes in {writes['bulks']} bulk requests, {writes['refreshes']} "
            f"refreshes, {writes['gets']} gets; Elasticsearch CPU {per_alert:.0f} ms per alert write",
            file=sys.stderr,
        )
        for name, kinds in jvm.items():
            threads = ", ".join(f"{kind} {used:.1f} s" for kind, used in kinds.items())
            print(f"{name} threads: {threads}", file=sys.stderr)
        print(f"CPU seconds in the {wall:.0f} s from the first event (load average {load_before:.1f} → "
              f"{load_after:.1f}): {spent}", file=sys.stderr)  # fmt: skip
        lanes = [name for name in self.roots if name.startswith("detectors")]
        per_k = ", ".join(f"{name} {1000 * cpu[name] / sent:.2f}" for name in lanes)
        print(f"CPU seconds per 1,000 events: {per_k}", file=sys.stderr)
        return {"eps": round(achieved, 1), "p50_s": round(pct(store, 50), 3), "p99_s": round(pct(store, 99), 3)}


def pct(values: list[float], q: int) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eps", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--triggers-per-s", type=float, default=4)
    parser.add_argument("--partition-workers", type=int, default=1, help="`--role detectors` processes (≤ 3)")
    parser.add_argument("--rules", action="append", default=[], help="Sigma rule dirs (default: the full set)")
    warmup = "first offer the same load this long, not measured (the JVMs' JIT compilers warm up)"
    parser.add_argument("--warmup-s", type=float, default=0.0, help=warmup)
    hog = "then measure again with N busy-loop processes competing for the cores (started after the first window)"
    parser.add_argument("--hog", type=int, default=0, metavar="N", help=hog)
    args = parser.parse_args()
    print(json.dumps(run(args.eps, args.seconds, args.triggers_per_s, args.rules, args.partition_workers,
                         args.warmup_s, args.hog)))  # fmt: skip


if __name__ == "__main__":
    main()
