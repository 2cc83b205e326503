"""`vigil rules …`, `vigil detect …` and the detection worker roles. Heavy imports stay inside the
commands so `vigil --help` stays fast."""

from __future__ import annotations

import json
import logging
import signal
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from detectors.registry import DetectionPlan, Lane
    from detectors.sigma.engine import SigmaEngine
    from detectors.stream import StreamWorker

rules_app = typer.Typer(help="Sigma rules: what loaded, what was skipped and why, regression runs.")
detect_app = typer.Typer(help="Detection without the pipeline (forensic replay of log files).")
stderr = Console(stderr=True)

RuleDirs = Annotated[
    list[Path] | None, typer.Option("--rules", exists=True, help="rule dirs (repeat); default: VIGIL_SIGMA_RULE_DIRS")
]


def _engine(settings: Settings, rule_dirs: list[Path] | None) -> SigmaEngine:
    from detectors.stream import build_engine

    dirs = rule_dirs or settings.sigma_rule_dirs
    if not dirs:
        raise typer.BadParameter("no rule directories: pass --rules or set VIGIL_SIGMA_RULE_DIRS", param_hint="--rules")
    with stderr.status(f"loading Sigma rules from {', '.join(str(d) for d in dirs)}..."):
        return build_engine(settings.model_copy(update={"sigma_rule_dirs": list(dirs)}))


@rules_app.command("list")
def rules_list(
    skipped: Annotated[bool, typer.Option("--skipped", help="list every skipped rule with its reason")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    rule_dirs: RuleDirs = None,
) -> None:
    """Rules loaded and skipped per rule directory, with the reasons, and those disabled (`vigil-rule-state`)."""
    settings = get_settings()
    engine = _engine(settings, rule_dirs)
    report = engine.report()
    disabled = _disabled_rules(settings, engine)
    skips = [
        {"rule_dir": s.rule_dir, "id": s.id, "title": s.title, "reason": s.reason.value, "detail": s.detail,
         "path": s.path}
        for s in engine.skipped
    ]  # fmt: skip
    if as_json:
        out = {**report.model_dump(), "disabled": disabled}
        if skipped:
            out["skipped_rules"] = skips
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console = Console()
    table = Table("rule dir", "files", "rules", "loaded", "skipped", "skipped by reason")
    for name, counts in report.dirs.items():
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(counts.skipped_by_reason.items()))
        table.add_row(name, str(counts.files), str(counts.rules), str(counts.loaded), str(counts.skipped), reasons)
    console.print(table)
    console.print(f"{report.loaded} rules loaded, {report.skipped} skipped")
    if disabled is None:
        stderr.print("[yellow]rule state unknown: Elasticsearch (vigil-rule-state) is not reachable[/]")
    else:
        console.print(
            f"{len(disabled)} disabled" + (": " + ", ".join(str(d["id"]) for d in disabled) if disabled else "")
        )
    if skipped:
        detail = Table("rule dir", "id", "title", "reason", "detail")
        for s in skips:
            detail.add_row(s["rule_dir"], s["id"], s["title"], s["reason"], s["detail"][:120])
        console.print(detail)


def _disabled_rules(settings: Settings, engine: SigmaEngine) -> list[dict[str, str | None]] | None:
    """The loaded rules switched off through the API; None when the state cannot be read."""
    from elasticsearch import ApiError, Elasticsearch, TransportError

    from detectors.rule_state import read_rule_states

    try:
        states = read_rule_states(Elasticsearch(settings.es_url, request_timeout=5, max_retries=0))
    except (ApiError, TransportError):
        return None
    titles = {r.info.id: r.info.title for r in engine.rules} | {c.id: c.title for c in engine.correlations.rules}
    return [{"id": rule_id, "title": titles[rule_id], "changed_by": state.changed_by, "reason": state.reason}
            for rule_id, state in sorted(states.items()) if not state.enabled and rule_id in titles]  # fmt: skip


@rules_app.command("regress")
def rules_regress(
    root: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="a SigmaHQ regression_data folder")],
    rule_dirs: RuleDirs = None,
    mode: Annotated[
        str,
        typer.Option(
            help="sigmahq: the rule fires iff expected (upstream's runner); exact: it fires exactly match_count times"
        ),
    ] = "sigmahq",  # fmt: skip
) -> None:
    """Run a regression folder against the rules; print the JSON summary; exit 1 on any failure."""
    from detectors.sigma.regression import run_regression

    if mode not in {"sigmahq", "exact"}:
        raise typer.BadParameter("mode must be sigmahq or exact", param_hint="--mode")
    engine = _engine(get_settings(), rule_dirs)
    summary = run_regression(root, [], engine=engine, mode=mode)  # type: ignore[arg-type]
    typer.echo(summary.model_dump_json(include={"total", "passed", "failed", "results"}))
    if summary.rule_errors:
        stderr.print(f"[red]rules raised during the run:[/] {summary.rule_errors}")
    if summary.failed or summary.rule_errors:
        raise typer.Exit(1)


@detect_app.command("replay")
def detect_replay(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="log files or folders (.evtx, JSON exports, text)")],
    fmt: Annotated[str, typer.Option("--format", help="parser family, or 'auto' to detect from content")] = "auto",
    timezone: Annotated[str | None, typer.Option(help="zone of timestamps without one")] = None,
    rule_dirs: RuleDirs = None,
) -> None:
    """Run every detector over log files without Kafka or Elasticsearch; one alert per line (JSON)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from detectors.registry import build_plan
    from detectors.replay import alert_line, log_files, read_events, replay
    from ingest.parsers.registry import FORMATS

    if fmt not in FORMATS:
        raise typer.BadParameter(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}", param_hint="--format")
    settings = get_settings()
    _quiet_logs()
    engine = _engine(settings, rule_dirs)
    pipeline = build_plan(settings, engine).replay_pipeline()  # no ES: the inventory file or none
    files = log_files(paths)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed} records"),
               TimeElapsedColumn())  # fmt: skip
    with Progress(*columns, console=stderr, transient=True) as progress:
        task = progress.add_task(f"replaying {len(files)} file(s)", total=None)
        current: list[Path] = []

        def advance(path: Path) -> None:
            if not current or current[0] != path:
                current[:] = [path]
                progress.update(task, description=path.name)
            progress.advance(task)

        items = read_events(paths, fmt, settings.zone, timezone=timezone, max_line_bytes=settings.max_line_bytes)
        result = replay(items, pipeline, advance)
    for alert in result.alerts:
        typer.echo(json.dumps(alert_line(alert), ensure_ascii=False))
    stderr.print(
        f"{len(files)} file(s), {result.events} events, {result.deadletters} unparsed records, "
        f"{len(result.alerts)} alerts"
    )
    for reason, count in sorted(result.deadletter_reasons.items(), key=lambda kv: -kv[1])[:5]:
        stderr.print(f"  unparsed: {count} × {reason}")
    if result.rule_errors:
        stderr.print(f"[red]rules raised during the replay:[/] {result.rule_errors}")


def run_detection_role(role: str, idle_exit: float | None) -> dict[str, int]:
    """`vigil workers --role detectors|detectors-global|alerts`: a stream detection lane or the alert
    store. Run at least one `detectors` and exactly one `detectors-global` (see detectors/registry.py)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _quiet_logs()
    settings = get_settings()
    worker: object
    if role == "alerts":
        from detectors.alert_store import AlertStore

        store = AlertStore(settings)
        worker, metrics = store, store.metrics
    else:
        from core.clients import es_client
        from detectors.registry import Lane, build_plan
        from detectors.stream import build_engine

        plan = build_plan(settings, build_engine(settings), es=es_client(settings))
        stream = lane_worker(settings, plan, Lane.GLOBAL if role == "detectors-global" else Lane.PARTITION)
        worker, metrics = stream, stream.metrics
    # SIGTERM / Ctrl-C end the loop between batches: the worker flushes, checkpoints and commits first.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: worker.stop_event.set())  # type: ignore[attr-defined]
    worker.run(idle_exit_s=idle_exit)  # type: ignore[attr-defined]
    return dict(metrics)


def lane_worker(settings: Settings, plan: DetectionPlan, lane: Lane) -> StreamWorker:
    """The stream worker of one detection lane (the global lane reads every partition itself)."""
    from detectors.registry import Lane
    from detectors.stream import StreamWorker
    from detectors.stream_global import GlobalStreamWorker

    engine = plan.lane_engine(lane)
    detectors = [d.name for d in plan.detectors(lane)]
    logging.getLogger(__name__).info("%s lane: %d Sigma rules, detectors %s", lane, len(engine.rules), detectors)
    factory = partial(plan.detectors, lane)
    worker_class = GlobalStreamWorker if lane is Lane.GLOBAL else StreamWorker
    return worker_class(settings, engine, factory)


def _quiet_logs() -> None:
    # The clients log every request and rebalance at INFO; a person wants Vigil's own messages.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
