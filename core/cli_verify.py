"""`vigil verify --day D [--category C]`: a day's logs against the integrity ledger (exit 1 on any finding)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer
from rich.console import Console

from core.names import Category
from core.settings import get_settings

console = Console()


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)


def verify(
    day: Annotated[str, typer.Option("--day", help="UTC day of the daily indices, YYYY-MM-DD")],
    category: Annotated[Category | None, typer.Option("--category", help="network, system or user")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Re-read the day's documents and report modified, deleted and inserted ones and chain breaks."""
    from core.clients import es_client
    from retention.integrity import verify_day

    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise typer.BadParameter(f"{day!r} is not a day (YYYY-MM-DD)", param_hint="--day") from exc
    settings = get_settings()
    records = verify_day(es_client(settings), settings, when, datetime.now(UTC), category)
    if as_json:
        console.print_json(data=[r.model_dump(mode="json") for r in records])
    elif not records:
        console.print(f"nothing to verify for {when}: no ledger entries and no daily index")
    for record in [] if as_json else records:
        state = "[green]clean[/]" if record.clean else "[red]NOT CLEAN[/]"
        retired = " (retired by retention)" if record.retired else ""
        console.print(f"{record.index}: {state}{retired}, {record.found_docs} stored, {record.expected_docs} in the "
                      f"ledger", highlight=False)  # fmt: skip
        for kind, issues in (("modified", record.modified), ("deleted", record.deleted),
                             ("inserted", record.inserted)):  # fmt: skip
            for issue in issues:
                console.print(f"  {kind} {issue.index} {issue.id}", highlight=False)
        for problem in record.chain_breaks:
            console.print(f"  chain break: {problem}", highlight=False)
    if any(not r.clean for r in records):
        raise typer.Exit(1)
