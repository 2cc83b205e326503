"""`vigil playbooks validate|list`, `vigil incident drill`, and the `playbooks` role of `vigil workers`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import VigilError
from core.settings import get_settings

playbooks_app = typer.Typer(help="Response playbooks (应急预案): validate and list them.")
incident_app = typer.Typer(help="Incidents: run a drill (演练).")
console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(playbooks_app, name="playbooks")
    app.add_typer(incident_app, name="incident")


@playbooks_app.command("validate")
def validate(
    directory: Annotated[Path | None, typer.Argument(help="folder of playbook YAML; default: the configured")] = None,
) -> None:
    """Check every playbook file; each problem names the file, the line and the field. Exit 1 on any."""
    from playbooks.loader import load_dir

    catalog = load_dir(directory or get_settings().playbooks_dir)
    for problem in catalog.problems:
        console.print(f"[red]{problem}[/]", highlight=False, soft_wrap=True)
    console.print(f"{len(catalog.playbooks)} playbooks valid, {len(catalog.problems)} problems")
    if catalog.problems:
        raise typer.Exit(1)


@playbooks_app.command("list")
def list_playbooks() -> None:
    """The loaded playbooks and what triggers them."""
    from playbooks.loader import load_dir

    catalog = load_dir(get_settings().playbooks_dir)
    table = Table("id", "title", "rules", "hints / tags", "steps")
    for loaded in catalog.playbooks:
        book = loaded.playbook
        table.add_row(book.id, f"{book.title.get('zh-CN')}\n{book.title.en}", "\n".join(book.trigger.rules),
                      "\n".join(book.trigger.hints + book.trigger.tags), str(len(book.steps)))  # fmt: skip
    console.print(table)
    for problem in catalog.problems:
        console.print(f"[red]{problem}[/]", highlight=False, soft_wrap=True)


@incident_app.command("drill")
def drill(
    playbook_id: Annotated[str, typer.Argument(help="the playbook to drill")],
    actor: Annotated[str, typer.Option(help="who runs the drill")] = "cli",
) -> None:
    """Open a drill incident on the playbook and take its first automated steps (pages, messages);
    the `playbooks` worker carries on with its timers."""
    from playbooks.drill import open_drill
    from playbooks.runtime import build_engine, kafka_alert_sink, system_clock

    settings = get_settings()
    try:
        engine = build_engine(settings, alert_sink=kafka_alert_sink(settings))
        loaded = engine.catalog.get(playbook_id)
    except KeyError:
        raise typer.BadParameter(f"no playbook {playbook_id!r}", param_hint="PLAYBOOK_ID") from None
    except VigilError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    engine.store.ensure()
    incident = open_drill(loaded, actor=actor, now=system_clock())
    engine.store.create(incident)
    engine.process(incident.id)
    done = engine.store.get(incident.id).incident
    console.print_json(json.dumps({"incident": done.id, "drill": True, "playbook": done.playbook,
                                   "steps": {s.step_id: s.status.value for s in done.steps}}))  # fmt: skip


def run_playbooks_role(idle_exit: float | None) -> dict[str, int]:
    from playbooks.runtime import build_engine, kafka_alert_sink

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    logging.getLogger("elastic_transport").setLevel(logging.WARNING)
    settings = get_settings()
    return build_engine(settings, alert_sink=kafka_alert_sink(settings)).run(idle_exit)
