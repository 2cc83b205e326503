"""`vigil retention run|status|restore` and `vigil hold place|list|release`.

The retention package is imported inside each command so `vigil --help` stays fast.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.errors import VigilError
from core.names import RetentionScope
from core.settings import get_settings

if TYPE_CHECKING:
    from retention.job import RunReport
    from retention.plan import Plan

retention_app = typer.Typer(help="Retention: the 60-day floor, legal holds, archive and restore.")
hold_app = typer.Typer(help="Legal holds: logs about an entity in a time range that retention keeps.")
console = Console()


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")


def _es():  # type: ignore[no-untyped-def]
    from core.clients import es_client

    return es_client(get_settings())


def _fail(exc: VigilError) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(1)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed} docs"),
                    TimeElapsedColumn(), console=console)  # fmt: skip


@retention_app.command("run")
def retention_run(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan, change nothing")] = False,
    archive: Annotated[
        bool | None,
        typer.Option(
            "--archive/--no-archive", help="export each index before deleting it; default: VIGIL_RETENTION_ARCHIVE"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Delete whole daily indices past retention (never under the floor), preserving held documents."""
    from retention import job

    try:
        settings = get_settings()
        with _progress() as progress:
            task = progress.add_task("planning", total=None)
            report = job.run(
                _es(), settings, dry_run=dry_run, archive=archive,
                on_index=lambda item: progress.update(task, description=item.index.name),
                advance=lambda n: progress.advance(task, n),
            )  # fmt: skip
    except VigilError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(report.model_dump_json())
    else:
        _print_plan(report.plan)
        _print_outcomes(report)
    if report.failed:
        raise typer.Exit(1)


def _print_plan(plan: Plan) -> None:
    table = Table("index", "plan", "reason", title=f"retention plan at {plan.now:%Y-%m-%d %H:%M} UTC")
    for item in plan.items:
        colour = "red" if item.action == "delete" else "green"
        table.add_row(item.index.name, f"[{colour}]{item.action}[/]", item.reason)
    console.print(table)


def _print_outcomes(report: RunReport) -> None:
    if report.dry_run:
        console.print(f"[yellow]dry run:[/] nothing changed; {len(report.plan.deletions)} index(es) would go")
        return
    for outcome in report.outcomes:
        mark = {"deleted": "[red]deleted[/]", "kept": "[yellow]kept[/]", "gone": "gone"}[outcome.status]
        extra = "".join(f"; {c.docs} held docs → {c.evidence_index}" for c in outcome.evidence)
        if outcome.archived:
            extra += f"; archived {outcome.archived.docs} docs ({outcome.archived.file})"
        console.print(f"{mark} {outcome.index}: {outcome.reason}{extra}")
    if report.ilm_policies:
        console.print(f"ILM policies installed: {', '.join(report.ilm_policies)}")
    console.print(f"{len(report.deleted)} deleted, {len(report.failed)} kept after a failed step")


@retention_app.command("status")
def retention_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per category: oldest/newest day, gaps, size, holds, next deletion, compliance with the floor."""
    from retention import status

    try:
        result = status(_es(), get_settings())
    except VigilError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(result.model_dump_json())
        return
    table = Table("category", "days", "oldest", "newest", "gaps (in floor window)", "docs", "MB", "holds",
                  "next deletion", "compliant")  # fmt: skip
    for s in result.scopes:
        nxt = s.next_deletion
        table.add_row(
            s.scope.value, str(s.retention_days), str(s.oldest_day or "-"), str(s.newest_day or "-"),
            f"{len(s.missing_days)} ({len(s.window_gaps)})", str(s.docs), f"{s.size_bytes / 1e6:.1f}",
            str(len(s.active_holds)),
            f"{nxt.index} at {nxt.at:%Y-%m-%d %H:%M}Z{' (overdue)' if nxt.overdue else ''}" if nxt else "-",
            "[green]yes[/]" if s.compliant else "[red]no[/]",
        )  # fmt: skip
    console.print(table)
    for s in result.scopes:
        for finding in s.findings:
            console.print(f"[red]{s.scope.value}:[/] {finding}")
    if result.policy_error:
        console.print(f"[red]policy:[/] {result.policy_error}")
    console.print(f"compliant with the {result.floor_days}-day floor: {'yes' if result.compliant else 'no'}")


@retention_app.command("restore")
def retention_restore(
    day: Annotated[str, typer.Argument(help="UTC day, YYYY-MM-DD or YYYY.MM.DD")],
    category: Annotated[RetentionScope | None, typer.Option(help="one category (or deadletter)")] = None,
) -> None:
    """Re-create an archived day in Elasticsearch (same template and ids) and verify every document."""
    from retention.archive import restore_day

    try:
        when = date.fromisoformat(day.replace(".", "-"))
    except ValueError as exc:
        raise typer.BadParameter(f"{day!r} is not a day (YYYY-MM-DD)", param_hint="DAY") from exc
    try:
        with _progress() as progress:
            task = progress.add_task(f"restoring {when}", total=None)
            names = restore_day(_es(), get_settings(), when, category, lambda n: progress.advance(task, n))
    except VigilError as exc:
        raise _fail(exc) from exc
    console.print(f"restored and verified: {', '.join(names)}")
    console.print("[yellow]note:[/] a restored day is past retention; the next run deletes it again (archived)")


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not an ISO time", param_hint=name) from exc
    # A time without a zone is read in the configured zone (what the officer sees), stored as UTC.
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=get_settings().zone)).astimezone(UTC)


@hold_app.command("place")
def hold_place(
    entity: Annotated[str, typer.Option(help="user:alice, host:ws01, ip:10.0.0.5, source:web01 or '*'")],
    start: Annotated[str, typer.Option("--from", help="ISO time; without a zone: the configured zone")],
    reason: Annotated[str, typer.Option()],
    by: Annotated[str, typer.Option("--by", help="who places the hold")],
    end: Annotated[str | None, typer.Option("--to", help="exclusive end; default: open-ended")] = None,
    category: Annotated[RetentionScope | None, typer.Option()] = None,
    incident: Annotated[str | None, typer.Option(help="incident id")] = None,
    hold_id: Annotated[str | None, typer.Option("--id", help="default: generated")] = None,
) -> None:
    """Place a legal hold: retention preserves the matching documents in vigil-evidence-<id>."""
    from pydantic import ValidationError

    from core.models.hold import HoldRequest
    from retention.holds import place_hold

    try:
        fields = {"entity": entity, "from": _when(start, "--from"), "to": _when(end, "--to"), "reason": reason,
                  "created_by": by, "category": category, "incident_id": incident}  # fmt: skip
        request = HoldRequest.model_validate(fields)
        hold = place_hold(_es(), get_settings(), request, hold_id=hold_id)
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from exc
    except VigilError as exc:
        raise _fail(exc) from exc
    console.print_json(json.dumps(hold.to_document()))


@hold_app.command("list")
def hold_list(
    include_released: Annotated[bool, typer.Option("--all", help="released holds too")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    from retention.holds import list_holds

    try:
        holds = list_holds(_es(), active_only=not include_released)
    except VigilError as exc:
        raise _fail(exc) from exc
    if as_json:
        console.print_json(json.dumps([h.to_document() for h in holds]))
        return
    table = Table("id", "entity", "category", "from", "to", "reason", "by", "released")
    for h in holds:
        released = f"{h.released_at:%Y-%m-%d %H:%M} by {h.released_by}: {h.release_reason}" if h.released_at else "-"
        table.add_row(h.id, h.entity, h.category or "all", f"{h.from_:%Y-%m-%d %H:%M}Z",
                      f"{h.to:%Y-%m-%d %H:%M}Z" if h.to else "open", h.reason, h.created_by, released)  # fmt: skip
    console.print(table)


@hold_app.command("release")
def hold_release(
    hold_id: Annotated[str, typer.Argument()],
    by: Annotated[str, typer.Option("--by")],
    reason: Annotated[str, typer.Option()],
) -> None:
    """Release a hold; the record stays (who, when, why), and so does its evidence index."""
    from retention.holds import release_hold

    try:
        hold = release_hold(_es(), hold_id, by=by, reason=reason)
    except VigilError as exc:
        raise _fail(exc) from exc
    console.print_json(json.dumps(hold.to_document()))
