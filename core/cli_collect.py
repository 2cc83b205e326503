"""`vigil collect`: the syslog server and the file tailer, until interrupted (or idle)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from core.settings import get_settings

app = typer.Typer()
console = Console()


@app.command("collect")
def collect(
    idle_exit: Annotated[float | None, typer.Option(help="exit after this many seconds without input")] = None,
    sources: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="sources file; default: VIGIL_SOURCES_FILE")
    ] = None,
    syslog: Annotated[bool, typer.Option(help="run the syslog UDP/TCP server")] = True,
    files: Annotated[bool, typer.Option(help="tail the files of the sources file")] = True,
) -> None:
    """Receive syslog (UDP + TCP) and tail files into `vigil.raw`; prints the counts at the end."""
    console.print_json(json.dumps(run_collectors(idle_exit, sources, syslog=syslog, files=files)))


def run_collectors(
    idle_exit: float | None, sources: Path | None = None, *, syslog: bool = True, files: bool = True
) -> dict[str, int]:
    from ingest.collectors.runner import Collectors

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)  # the client logs every request at INFO
    settings = get_settings()
    if sources is not None:
        settings = settings.model_copy(update={"sources_file": sources})
    collectors = Collectors(settings, syslog=syslog, files=files)
    try:
        return collectors.run(idle_exit)
    except KeyboardInterrupt:
        collectors.stop_event.set()
        return collectors.counts()
