"""`vigil hunt …`: Sigma rules as Elasticsearch queries, on demand over any past range or on a schedule.
Heavy imports stay inside the commands so `vigil --help` stays fast."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.status import Status
from rich.table import Table
from typer.core import TyperGroup

from core.settings import Settings, get_settings

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch
    from typer._click import Command, Context  # typer 0.29 vendors click: its group API takes these

    from detectors.hunt.convert import Conversion

class _RunByDefault(TyperGroup):
    """`vigil hunt RULE --from … --to …` is `vigil hunt run RULE …`: the form the operators' runbooks use."""

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple[str | None, Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().resolve_command(ctx, args)


hunt_app = typer.Typer(cls=_RunByDefault,
                       help="Hunts: Sigma rules as Elasticsearch queries over logs-* (on demand or scheduled). "
                            "`vigil hunt RULE --from … --to …` is short for `vigil hunt run RULE …`.")  # fmt: skip
stderr = Console(stderr=True)

RuleDirs = Annotated[
    list[Path] | None, typer.Option("--rules", exists=True, help="rule dirs (repeat); default: VIGIL_SIGMA_RULE_DIRS")
]


def _es(settings: Settings) -> Elasticsearch:
    from core import clients

    return clients.es_client(settings)


def _conversion(settings: Settings, rule_dirs: list[Path] | None, es: Elasticsearch | None,
                rule_ids: set[str] | None = None) -> Conversion:  # fmt: skip
    from detectors.hunt.convert import load_conversion

    dirs = rule_dirs or settings.sigma_rule_dirs
    if not dirs:
        raise typer.BadParameter("no rule directories: pass --rules or set VIGIL_SIGMA_RULE_DIRS", param_hint="--rules")
    with stderr.status("loading and converting Sigma rules..."):
        return load_conversion(dirs, es, rule_ids)[0]


def _time(value: str, settings: Settings, name: str) -> datetime:
    """ISO 8601; a time without an offset is in the configured zone (VIGIL_TIMEZONE), said on stderr."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.zone)
        stderr.print(f"{name} {value} has no offset: read as {settings.timezone}")
    return parsed.astimezone(UTC)


def _progress(status: Status, label: str) -> Callable[[int, int], None]:
    """A long scan (an engine hunt reads the rule's whole log source) updates its status line per page."""

    def show(scanned: int, matched: int) -> None:
        status.update(f"{label}: {scanned:,} events scanned, {matched:,} matched")

    return show


@hunt_app.command("rules")
def hunt_rules(
    skipped: Annotated[
        bool, typer.Option("--skipped", help="list every rule not converted to Lucene, with the reason")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="no Elasticsearch: field names as rules spell them")
    ] = False,
    rule_dirs: RuleDirs = None,
) -> None:
    """How many rules convert to Elasticsearch queries, how many the stream's engine evaluates over
    their log source instead (with the reason the backend refused them), and why the others are not hunted."""
    settings = get_settings()
    conversion = _conversion(settings, rule_dirs, None if offline else _es(settings))
    skips = [s.model_dump() for s in conversion.skipped]
    engine = [q.refused.model_dump() for q in conversion.queries.values() if q.refused is not None]
    if as_json:
        out: dict[str, object] = {"converted": conversion.count("lucene"), "engine": conversion.count("engine"),
                                  "engine_by_reason": conversion.engine_by_reason(), "not_converted": len(skips),
                                  "not_converted_by_reason": conversion.by_reason()}  # fmt: skip
        if skipped:
            out["engine_rules"] = engine
            out["not_converted_rules"] = skips
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    console = Console()
    console.print(f"{conversion.count('lucene')} rules converted, {len(engine)} evaluated by the engine over their "
                  f"log source, {len(skips)} not hunted")  # fmt: skip
    for title, counts in (("engine (refused by the backend)", conversion.engine_by_reason()),
                          ("not hunted", conversion.by_reason())):  # fmt: skip
        console.print(f" {title}:")
        for reason, count in counts.items():
            console.print(f"  {reason}: {count}")
    if skipped:
        table = Table("id", "title", "hunt", "kind", "reason")
        for hunted, rows in (("engine", engine), ("none", skips)):
            for s in rows:
                table.add_row(s["rule_id"], s["title"], hunted, s["kind"], s["reason"][:140])
        console.print(table)


@hunt_app.command("run")
def hunt_run(
    rule: Annotated[str, typer.Argument(help="a rule id from the rule dirs, or a rule file")],
    start: Annotated[str, typer.Option("--from", help="ISO 8601 start (inclusive)")],
    end: Annotated[str, typer.Option("--to", help="ISO 8601 end (exclusive)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print, do not send alerts to vigil.alerts")] = False,
    rule_dirs: RuleDirs = None,
) -> None:
    """Retro-hunt one rule over a past range; prints the match count, then one alert per line (JSON)."""
    from core import clients
    from detectors.hunt.run import hunt
    from detectors.pipeline import alerting_settings
    from detectors.replay import alert_line

    settings = get_settings()
    start_at, end_at = _time(start, settings, "--from"), _time(end, settings, "--to")
    if end_at <= start_at:
        raise typer.BadParameter("--to must be after --from", param_hint="--to")
    es = _es(settings)
    path = Path(rule)
    conversion = (_conversion(settings, [path], es) if path.is_file()
                  else _conversion(settings, rule_dirs, es, {rule}))  # fmt: skip
    if not conversion.queries:
        why = "; ".join(f"{s.rule_id}: {s.reason}" for s in conversion.skipped) or "no such rule in the rule dirs"
        stderr.print(f"[red]nothing to hunt:[/] {why}")
        raise typer.Exit(2)
    producer = None if dry_run else clients.producer(settings)
    try:
        for rule_id, query in conversion.queries.items():
            label = f"hunting {rule_id} ({query.evaluation})"
            with stderr.status(f"{label}...") as status:
                result = hunt(es, producer, query, conversion.rules[rule_id], start_at, end_at, now=datetime.now(UTC),
                              settings=alerting_settings(settings), dry_run=dry_run,
                              progress=_progress(status, label))  # fmt: skip
            summary = result.model_dump(mode="json", exclude={"alerts", "new_events", "by_ingested"})
            typer.echo(json.dumps({**summary, "alerts": len(result.alerts)}, ensure_ascii=False))
            for alert in result.alerts:
                typer.echo(json.dumps(alert_line(alert), ensure_ascii=False))
    finally:
        if producer is not None:
            producer.close()


@hunt_app.command("schedule")
def hunt_schedule(
    once: Annotated[bool, typer.Option("--once", help="one pass of every rule, then exit")] = False,
    rule_dirs: RuleDirs = None,
) -> None:
    """Run every hunted rule every VIGIL_HUNT_INTERVAL_S over interval + overlap (checkpointed)."""
    from core import clients
    from detectors.hunt.schedule import HuntCheckpointStore, HuntScheduler, HuntSettings
    from detectors.pipeline import alerting_settings
    from detectors.rule_state import RuleSwitch

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    settings = get_settings()
    es = _es(settings)
    conversion = _conversion(settings, rule_dirs, es)
    stderr.print(f"{len(conversion.queries)} rules scheduled ({conversion.count('engine')} evaluated by the engine), "
                 f"{len(conversion.skipped)} not hunted")  # fmt: skip
    producer = clients.producer(settings)
    scheduler = HuntScheduler(es, producer, conversion, HuntSettings.of(settings), alerting_settings(settings),
                              HuntCheckpointStore(settings.data_dir / "hunt"),
                              switch=RuleSwitch.of(es, settings.rule_state_refresh_s))  # fmt: skip
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: scheduler.stop_event.set())
    try:
        scheduler.run(once=once)
    finally:
        producer.close()
    typer.echo(json.dumps(dict(scheduler.metrics)))
