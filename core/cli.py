"""The `vigil` command line. Subcommands import their packages lazily so `vigil --help` is fast."""

from __future__ import annotations

import json
import logging
import threading
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.cli_api import serve, token_app, user_app
from core.cli_collect import app as collect_app
from core.cli_demo import demo
from core.cli_detect import detect_app, rules_app, run_detection_role
from core.cli_hunt import hunt_app
from core.cli_playbooks import register as register_playbooks
from core.cli_playbooks import run_playbooks_role
from core.cli_report import register as register_report
from core.cli_retention import register as register_retention
from core.cli_verify import register as register_verify
from core.settings import get_settings

app = typer.Typer(help="Vigil: security log collection, retention, detection and response.", no_args_is_help=True)
stack_app = typer.Typer(help="The local Kafka + Elasticsearch stack (development, tests, demo).")
ingest_app = typer.Typer(help="Feed logs into the pipeline.")
app.add_typer(stack_app, name="stack")
app.add_typer(ingest_app, name="ingest")
app.add_typer(collect_app)  # `vigil collect`
app.command("demo")(demo)
register_retention(app)
register_report(app)
register_verify(app)
app.add_typer(token_app, name="token")
app.command("api")(serve)
app.add_typer(rules_app, name="rules")
app.add_typer(detect_app, name="detect")
app.add_typer(hunt_app, name="hunt")
register_playbooks(app)
app.add_typer(user_app, name="user")
console = Console()

STACK_DIR = Path("var/stack")
WORKER_ROLES = (
    "all",
    "normaliser",
    "indexer",
    "collectors",
    "detectors",
    "detectors-global",
    "alerts",
    "scheduler",
    "playbooks",
)


def local_stack(data_dir: Path) -> object:
    from stack.local import LocalStack, StackConfig

    settings = get_settings()
    kafka_port = int(settings.kafka_bootstrap.rsplit(":", 1)[1])
    es_port = int(settings.es_url.rsplit(":", 1)[1].split("/")[0])
    config = StackConfig(data_dir=data_dir.resolve(), kafka_port=kafka_port, kafka_controller_port=kafka_port + 1,
                         es_port=es_port, es_transport_port=es_port + 100)  # fmt: skip
    return LocalStack(config)


@stack_app.command("fetch")
def stack_fetch() -> None:
    """Download Kafka and Elasticsearch from Maven Central (cached after the first run)."""
    from stack.local import fetch

    with console.status("fetching Kafka and Elasticsearch from Maven Central..."):
        fetch()
    console.print("[green]stack artifacts ready[/]")


@stack_app.command("up")
def stack_up(data_dir: Path = STACK_DIR) -> None:
    """Start Kafka and Elasticsearch on 127.0.0.1 and wait until both are healthy."""
    local = local_stack(data_dir)
    with console.status("starting Kafka and Elasticsearch..."):
        local.up()  # type: ignore[attr-defined]
    console.print_json(json.dumps(local.status()))  # type: ignore[attr-defined]


@stack_app.command("down")
def stack_down(data_dir: Path = STACK_DIR) -> None:
    """Stop the local servers (data stays in the data dir)."""
    local_stack(data_dir).down()  # type: ignore[attr-defined]
    console.print("stack stopped")


@stack_app.command("status")
def stack_status(data_dir: Path = STACK_DIR) -> None:
    console.print_json(json.dumps(local_stack(data_dir).status()))  # type: ignore[attr-defined]


@ingest_app.command("file")
def ingest_file(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="log files (.evtx and Windows JSON too)")],
    fmt: Annotated[str, typer.Option("--format", help="parser family or 'auto'")] = "auto",
    source: Annotated[str | None, typer.Option(help="source id; default: the file name")] = None,
    timezone: Annotated[str | None, typer.Option(help="zone of timestamps without one")] = None,
) -> None:
    """Import files into `vigil.raw`, one record per line (or per Windows event)."""
    from core import clients
    from ingest.collectors.file_import import iter_file_envelopes, publish
    from ingest.parsers.registry import FORMATS

    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", param_hint="--format")
    settings = get_settings()
    clients.ensure_topics(settings)
    producer = clients.producer(settings)
    total = 0
    with _progress() as progress:
        for path in paths:
            task = progress.add_task(path.name, total=None)
            envelopes = iter_file_envelopes(path, source=source or path.name, fmt=fmt, timezone=timezone,
                                            max_line_bytes=settings.max_line_bytes)  # fmt: skip
            total += publish(envelopes, producer, partial(progress.advance, task))
    producer.close()
    console.print(f"sent {total} records to vigil.raw")


@app.command("workers")
def workers(
    idle_exit: Annotated[float | None, typer.Option(help="exit after this many idle seconds")] = None,
    role: Annotated[
        str,
        typer.Option(help="all (normaliser + indexer) or one role: " + ", ".join(WORKER_ROLES[1:])),
    ] = "all",
) -> None:
    """Run pipeline workers until interrupted (each role scales on its own)."""
    if role not in WORKER_ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(WORKER_ROLES)}", param_hint="--role")
    if role == "scheduler":
        from core.cli_report import run_scheduler

        run_scheduler()
        return
    if role == "collectors":
        from core.cli_collect import run_collectors

        console.print_json(json.dumps(run_collectors(idle_exit)))
        return
    if role == "playbooks":
        console.print_json(json.dumps(run_playbooks_role(idle_exit)))
        return
    if role in {"detectors", "detectors-global", "alerts"}:
        console.print_json(json.dumps(run_detection_role(role, idle_exit)))
        return
    console.print_json(json.dumps(_run_workers(idle_exit, role)))


def _run_workers(idle_exit: float | None, role: str = "all") -> dict[str, int]:
    from ingest.indexer import Indexer
    from ingest.normaliser import Normaliser

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The clients log every request and rebalance at INFO; a person wants Vigil's own messages.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    settings = get_settings()
    normaliser, indexer = Normaliser(settings), Indexer(settings)
    threads = []
    if role in {"all", "normaliser"}:
        threads.append(threading.Thread(target=normaliser.run, kwargs={"idle_exit_s": idle_exit}, name="normaliser"))
    if role in {"all", "indexer"}:
        indexer_idle = None if idle_exit is None else idle_exit + 4
        threads.append(threading.Thread(target=indexer.run, kwargs={"idle_exit_s": indexer_idle}, name="indexer"))
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except KeyboardInterrupt:
        normaliser.stop_event.set()
        indexer.stop_event.set()
        for thread in threads:
            thread.join()
    return {**normaliser.counts, "indexed": indexer.indexed}


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console)  # fmt: skip


def main() -> None:
    """The `vigil` entry point: a store that cannot be reached is one line on stderr and exit 3, not a traceback."""
    try:
        app()
    except Exception as exc:
        if (where := _unreachable(exc)) is None:
            raise
        settings = get_settings()
        address = settings.es_url if where == "Elasticsearch" else settings.kafka_bootstrap
        Console(stderr=True).print(f"[red]vigil: cannot reach {where} at {address}[/] ({type(exc).__name__}: {exc}); "
                                   "set VIGIL_ES_URL / VIGIL_KAFKA_BOOTSTRAP, or start the local stack with "
                                   "`vigil stack up`")  # fmt: skip
        raise SystemExit(3) from None


def _unreachable(exc: Exception) -> str | None:
    # Imported here: `vigil --help` must not pay for the clients.
    from elastic_transport import ConnectionError as EsConnectionError
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    if isinstance(exc, EsConnectionError):
        return "Elasticsearch"
    # kafka-python 3 raises KafkaTimeoutError("Unable to bootstrap from …") when no broker answers.
    return "Kafka" if isinstance(exc, KafkaConnectionError | KafkaTimeoutError) else None


if __name__ == "__main__":
    main()
