"""`vigil demo`: the whole pipeline on real public logs, through every collector, end to end.

Starts the local stack, then in this process the collectors (syslog over TCP, the file tailer), the
HTTP API (`POST /ingest`), the normaliser, the indexer, both detection lanes and the alert store, and
feeds them the shared datasets: syslog-style loghub files over TCP, sample logs by tailing them in
place, the remaining loghub files over HTTP, the Windows attack recordings by file import. It waits
until every record is indexed (or dead-lettered) and every event has been through detection, prints
what arrived and what was detected, then keeps the API serving (`--once` exits after the summary).

Each run gets its own source names and data dir (`var/demo/<run>`), so counts are exact even on a
stack that already holds earlier runs.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.settings import Settings, get_settings

console = Console()
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SYSLOG_FILES = ("OpenSSH/OpenSSH_2k.log", "Linux/Linux_2k.log")
HTTP_FILES = ("Apache/Apache_2k.log", "Proxifier/Proxifier_2k.log", "HDFS/HDFS_2k.log", "Zookeeper/Zookeeper_2k.log")


class _Worker:
    """One pipeline stage on a thread; `stop` ends it between batches (it flushes and commits first)."""

    def __init__(self, name: str, run: Callable[[], object], stop_event: threading.Event) -> None:
        self.name, self.stop_event = name, stop_event
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._guarded, args=(run,), name=name, daemon=True)

    def _guarded(self, run: Callable[[], object]) -> None:
        try:
            run()
        except BaseException as exc:  # noqa: BLE001 - reported by the demo, which then stops
            self.error = exc

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join(timeout=60)


def demo(
    once: Annotated[bool, typer.Option("--once", help="exit after the summary")] = False,
    data_dir: Annotated[Path, typer.Option(help="the local stack's data dir")] = Path("var/stack"),
    timeout: Annotated[float, typer.Option(help="seconds to wait for the pipeline to drain")] = 900.0,
) -> None:
    """Start the stack, feed real logs through syslog, file tailing, HTTP and file import, detect, summarise."""
    from core.cli import local_stack

    if not DATASETS.is_dir():
        raise typer.BadParameter(f"sample data not found at {DATASETS} (expected ../shared/datasets)")
    with console.status("starting Kafka and Elasticsearch (the first run downloads them from Maven Central)..."):
        local_stack(data_dir).up()  # type: ignore[attr-defined]
    started = datetime.now(UTC)
    run = started.strftime("%Y%m%d%H%M%S")
    settings = _demo_settings(get_settings(), run)
    workers, api_url, token = _start(settings, run)
    try:
        sent = _feed(settings, run, api_url, token)
        _drain(settings, run, sent, workers, timeout)
        _summary(settings, run, sent)
        if once:
            return
        console.print(
            f"\nAPI: {api_url}/docs  console: {api_url}/console (log in with the token)  token (admin): {token}"
            f"\nsyslog: tcp/udp {settings.syslog_host}:"
            f"{settings.syslog_tcp_port}.  Ctrl-C stops the workers; `vigil stack down` the servers."
        )
        while not any(w.error for w in workers):
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        for worker in reversed(workers):
            worker.stop()


def _demo_settings(base: Settings, run: str) -> Settings:
    data_dir = base.data_dir / "demo" / run
    data_dir.mkdir(parents=True, exist_ok=True)
    sources = {
        "syslog": [{"peer": "127.0.0.1", "source": f"demo-{run}-syslog", "format": "syslog"}],
        "files": [
            {"path": str(path), "source": f"demo-{run}-{path.parent.name}-{path.stem}"}
            for path in sorted((DATASETS / "samplelogs").glob("*/*.log"))
        ],
    }
    sources_file = data_dir / "sources.yml"
    sources_file.write_text(yaml.safe_dump(sources))
    return base.model_copy(update={"data_dir": data_dir, "sources_file": sources_file, "tokens_file": None})


def _start(settings: Settings, run: str) -> tuple[list[_Worker], str, str]:
    import uvicorn

    from api.app import create_app
    from api.permissions import Role
    from api.tokens import TokenStore
    from core.cli_detect import lane_worker
    from core.clients import es_client
    from detectors.alert_store import AlertStore
    from detectors.registry import Lane, build_plan
    from detectors.stream import build_engine
    from ingest.collectors.runner import Collectors
    from ingest.collectors.sources import load_sources
    from ingest.indexer import Indexer
    from ingest.normaliser import Normaliser

    _, token = TokenStore(settings.tokens_path()).create(f"demo-{run}", Role.ADMIN)
    with console.status("loading and compiling the SigmaHQ rules..."):
        plan = build_plan(settings, build_engine(settings), es=es_client(settings))
    collectors = Collectors(settings, load_sources(settings.sources_file))
    normaliser, indexer, store = Normaliser(settings), Indexer(settings), AlertStore(settings)
    partition_lane, global_lane = lane_worker(settings, plan, Lane.PARTITION), lane_worker(settings, plan, Lane.GLOBAL)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="warning")
    )
    api_stop = threading.Event()

    def stop_api() -> None:
        api_stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_api, daemon=True).start()
    workers = [
        _Worker("alert-store", store.run, store.stop_event),
        _Worker("detectors", partition_lane.run, partition_lane.stop_event),
        _Worker("detectors-global", global_lane.run, global_lane.stop_event),
        _Worker("indexer", indexer.run, indexer.stop_event),
        _Worker("normaliser", normaliser.run, normaliser.stop_event),
        _Worker("collectors", collectors.run, collectors.stop_event),
        _Worker("api", server.run, api_stop),
    ]
    for worker in workers:
        worker.thread.start()
    while not (collectors.ready.is_set() and server.started):
        if failed := [w for w in workers if w.error]:
            raise typer.Exit(_fail(failed[0]))
        time.sleep(0.2)
    return workers, f"http://{settings.api_host}:{settings.api_port}", token


def _fail(worker: _Worker) -> int:
    console.print(f"[red]{worker.name} failed:[/] {worker.error}")
    return 1


def _feed(settings: Settings, run: str, api_url: str, token: str) -> dict[str, int]:
    """Send every dataset through its collector; returns records sent per path."""
    import httpx

    from core import clients
    from ingest.collectors.file_import import iter_file_envelopes, publish

    sent = {"syslog-tcp": 0, "http": 0, "file-import": 0}
    windows = sorted((DATASETS / "attack" / "mdecrevoisier").rglob("*.json*"))
    with _progress() as progress:
        task = progress.add_task("syslog over TCP", total=len(SYSLOG_FILES))
        with socket.create_connection((settings.syslog_host, settings.syslog_tcp_port)) as conn:
            for name in SYSLOG_FILES:
                lines = [ln for ln in (DATASETS / "loghub" / name).read_bytes().split(b"\n") if ln.strip()]
                conn.sendall(b"".join(ln + b"\n" for ln in lines))
                sent["syslog-tcp"] += len(lines)
                progress.advance(task)
        task = progress.add_task("HTTP POST /ingest", total=len(HTTP_FILES))
        with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
            for name in HTTP_FILES:
                path = DATASETS / "loghub" / name
                answer = http.post(
                    "/ingest",
                    params={"source": f"demo-{run}-{path.stem}"},
                    content=path.read_bytes(),
                    headers={"Content-Type": "application/x-ndjson"},
                )
                answer.raise_for_status()
                body = answer.json()
                sent["http"] += body["accepted"] + body["deadlettered"]
                progress.advance(task)
        task = progress.add_task("Windows exports (file import)", total=len(windows))
        producer = clients.producer(settings)
        for path in windows:
            envelopes = iter_file_envelopes(path, source=f"demo-{run}-windows", fmt="windows")
            sent["file-import"] += publish(envelopes, producer)
            progress.advance(task)
        producer.close()
    tailed = [Path(f.path) for f in _sources(settings)]
    # The tailer sends complete lines only: a last line without its newline waits for the writer.
    sent["file-tail"] = sum(1 for path in tailed for line in path.read_bytes().split(b"\n")[:-1] if line.strip())
    return sent


def _sources(settings: Settings) -> list[Any]:
    from ingest.collectors.sources import load_sources

    return list(load_sources(settings.sources_file).files)


def _drain(settings: Settings, run: str, sent: dict[str, int], workers: list[_Worker], timeout: float) -> None:
    """Wait until every record is in ES (event or dead letter) and detection has no lag."""
    from api.health import kafka_health
    from core import clients

    es = clients.es_client(settings)
    total = sum(sent.values())
    deadline = time.monotonic() + timeout
    with _progress() as progress:
        task = progress.add_task("indexed or dead-lettered", total=total)
        while (done := _stored(es, run)) < total:
            progress.update(task, completed=max(done, 0))
            _check(workers, deadline)
            time.sleep(2)
        progress.update(task, completed=total)
    with console.status("detection: waiting for the detectors and the alert store to catch up..."):
        groups = {settings.detectors_group, settings.detectors_global_group, settings.alerts_group}
        while True:
            _, lags = kafka_health(settings)
            if {g.group for g in lags if g.started and g.lag == 0} >= groups:
                break
            _check(workers, deadline)
            time.sleep(1)
        time.sleep(2 * settings.detector_tick_s)  # merged alerts go out on the next tick
    es.indices.refresh(index="vigil-alerts", ignore_unavailable=True)


def _check(workers: list[_Worker], deadline: float) -> None:
    if failed := [w for w in workers if w.error]:
        raise typer.Exit(_fail(failed[0]))
    if time.monotonic() > deadline:
        console.print("[red]the pipeline did not drain in time[/]")
        raise typer.Exit(1)


def _stored(es: Any, run: str) -> int:
    """Records of this run in ES; -1 while a busy node does not answer in time (the demo just waits)."""
    from elasticsearch import TransportError

    try:
        return _count_stored(es, run)
    except TransportError:
        return -1


def _count_stored(es: Any, run: str) -> int:
    es.indices.refresh(index="logs-*,vigil-deadletter-*", ignore_unavailable=True)
    prefix = f"demo-{run}-"
    logs = es.count(index="logs-*", query={"prefix": {"vigil.source": prefix}}, ignore_unavailable=True)
    letters = es.count(index="vigil-deadletter-*", query={"prefix": {"source": prefix}}, ignore_unavailable=True)
    return int(logs["count"]) + int(letters["count"])


def _summary(settings: Settings, run: str, sent: dict[str, int]) -> None:
    from core import clients

    es = clients.es_client(settings)
    mine = {"prefix": {"vigil.source": f"demo-{run}-"}}
    console.print(f"sent per collector: {json.dumps(sent)}")
    by = es.search(
        index="logs-*",
        size=0,
        query=mine,
        aggs={
            "c": {
                "terms": {"field": "vigil.category"},
                "aggs": {"d": {"terms": {"field": "event.dataset", "size": 50}}},
            }
        },
    )["aggregations"]
    table = Table("category", "dataset", "events", title="indexed events")
    for bucket in by["c"]["buckets"]:
        for ds in bucket["d"]["buckets"]:
            table.add_row(bucket["key"], ds["key"], str(ds["doc_count"]))
    console.print(table)
    # `reason` is full text: group by source and show one reason of each.
    letters = es.search(
        index="vigil-deadletter-*",
        size=0,
        query={"prefix": {"source": f"demo-{run}-"}},
        aggs={"s": {"terms": {"field": "source", "size": 10},
                    "aggs": {"one": {"top_hits": {"size": 1, "_source": ["reason"]}}}}},
    )  # fmt: skip
    console.print(f"dead letters (kept with their reason): {letters['hits']['total']['value']}")
    for bucket in letters["aggregations"]["s"]["buckets"]:
        reason = bucket["one"]["hits"]["hits"][0]["_source"]["reason"]
        console.print(f"  {bucket['doc_count']:>6} from {bucket['key']}: {reason[:90]}")
    failed = es.count(
        index="logs-*",
        query={
            "bool": {
                "filter": [mine, {"term": {"event.outcome": "failure"}}, {"term": {"event.category": "authentication"}}]
            }
        },
    )
    console.print(f"search 'failed authentications': {failed['count']} hits")
    # Alert ids depend on rule, entity and first event time, not on the source name: a second demo run
    # merges into the first run's alerts, so this shows the whole store.
    alerts = es.search(
        index="vigil-alerts",
        size=0,
        query={"match_all": {}},
        ignore_unavailable=True,
        aggs={"s": {"terms": {"field": "severity"}}, "r": {"terms": {"field": "rule.title", "size": 10}}},
    )
    severities = ", ".join(f"{b['key']} {b['doc_count']}" for b in alerts["aggregations"]["s"]["buckets"])
    console.print(f"alerts in vigil-alerts: {alerts['hits']['total']['value']} ({severities or 'none'})")
    for bucket in alerts["aggregations"]["r"]["buckets"]:
        console.print(f"  {bucket['doc_count']:>6} × {bucket['key'][:100]}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    )
