"""`vigil report patrol|monthly|quarterly|sign|unsigned` and the scheduler role of `vigil workers`.

The reports package (matplotlib, WeasyPrint) is imported inside each command so `vigil --help` stays fast.
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console

from core.errors import VigilError
from core.settings import get_settings

if TYPE_CHECKING:
    from reports.models import Evaluation, PatrolRecord

report_app = typer.Typer(help="Daily patrol records (巡查记录) and monthly/quarterly evaluations.")
console = Console()
LANG = Annotated[str, typer.Option("--lang", help="zh-CN or en")]
FORMAT = Annotated[str, typer.Option("--format", help="html, pdf or json")]
OUT = Annotated[Path | None, typer.Option("--out", help="file to write; default: stdout (html/json)")]


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")


def _es():  # type: ignore[no-untyped-def]
    from core.clients import es_client

    return es_client(get_settings())


def _calendar():  # type: ignore[no-untyped-def]
    from reports.calendar import ReportSettings, load_calendar

    return load_calendar(ReportSettings().calendar_file)


def _day(value: str | None) -> date:
    """The given day, else the previous working day in the configured zone."""
    from reports.calendar import previous_working_day

    if value is None:
        today = datetime.now(UTC).astimezone(get_settings().zone).date()
        return previous_working_day(_calendar(), today)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a day (YYYY-MM-DD)", param_hint="--date") from exc


def _emit(model: PatrolRecord | Evaluation, fmt: str, lang: str, out: Path | None) -> None:
    from reports import render
    from reports.i18n import check_language
    from reports.models import PatrolRecord

    check_language(lang)
    if fmt == "json":
        data = model.model_dump_json(indent=2).encode()
    elif fmt in ("html", "pdf"):
        image: Literal["svg", "png"] = "svg" if fmt == "html" else "png"
        html = (render.patrol_html(model, lang, image) if isinstance(model, PatrolRecord)
                else render.evaluation_html(model, lang, image))  # fmt: skip
        data = render.pdf(html) if fmt == "pdf" else html.encode()
    else:
        raise typer.BadParameter("format must be html, pdf or json", param_hint="--format")
    if out is None:
        if fmt == "pdf":
            raise typer.BadParameter("a PDF needs --out PATH", param_hint="--out")
        sys.stdout.buffer.write(data)
        return
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data)} bytes)", highlight=False)


def _fail(exc: VigilError) -> typer.Exit:
    console.print(f"[red]error:[/] {exc}")
    return typer.Exit(1)


@report_app.command("patrol")
def report_patrol(
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD; default: the previous working day")] = None,
    lang: LANG = "zh-CN",
    fmt: FORMAT = "html",
    out: OUT = None,
) -> None:
    """The patrol record of a day (generated and stored as version 1 if the day has none)."""
    from reports import patrol

    try:
        record, _ = patrol.ensure_record(_es(), get_settings(), _day(day), datetime.now(UTC))
        _emit(record, fmt, lang, out)
    except VigilError as exc:
        raise _fail(exc) from exc


@report_app.command("sign")
def report_sign(
    day: Annotated[str, typer.Option("--date", help="YYYY-MM-DD")],
    by: Annotated[str, typer.Option("--by", help="the officer signing")],
    findings: Annotated[str, typer.Option(help="what was found")] = "",
    actions: Annotated[str, typer.Option(help="what was done")] = "",
    remarks: Annotated[str, typer.Option(help="remarks")] = "",
) -> None:
    """Sign a day's record; a signed record is never changed: signing again creates the next version."""
    from reports import patrol
    from reports.models import SignOff

    try:
        signoff = SignOff(findings=findings, actions=actions, remarks=remarks)
        record = patrol.sign(_es(), get_settings(), _day(day), signoff, by, datetime.now(UTC))
    except VigilError as exc:
        raise _fail(exc) from exc
    console.print(f"signed {record.day} version {record.version} by {record.signed_by} ({record.content_hash[:16]})")


@report_app.command("unsigned")
def report_unsigned(days: Annotated[int, typer.Option(help="look back this many days")] = 30) -> None:
    """Working days without a signed patrol record."""
    from reports import patrol

    today = datetime.now(UTC).astimezone(get_settings().zone).date()
    for item in patrol.unsigned_days(_es(), _calendar(), today - timedelta(days=days), today):
        console.print(f"{item.day}  {'no record' if item.latest_version is None else f'v{item.latest_version}'}")


@report_app.command("monthly")
def report_monthly(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")], lang: LANG = "zh-CN", fmt: FORMAT = "html",
    out: OUT = None,
) -> None:  # fmt: skip
    """The monthly (small) evaluation: availability, accuracy, response times, compliance."""
    from reports import evaluation

    try:
        _emit(evaluation.monthly(_es(), get_settings(), _calendar(), month, datetime.now(UTC)), fmt, lang, out)
    except VigilError as exc:
        raise _fail(exc) from exc


@report_app.command("quarterly")
def report_quarterly(
    quarter: Annotated[str, typer.Option("--quarter", help="YYYYQn, e.g. 2026Q4")], lang: LANG = "zh-CN",
    fmt: FORMAT = "html", out: OUT = None,
) -> None:  # fmt: skip
    """The quarterly (full) evaluation, with its three months beside it."""
    from reports import evaluation
    from reports.calendar import quarter_period

    try:
        settings = get_settings()
        period = quarter_period(quarter, settings.timezone)
        _emit(evaluation.quarterly(_es(), settings, _calendar(), period, datetime.now(UTC)), fmt, lang, out)
    except VigilError as exc:
        raise _fail(exc) from exc


def run_scheduler() -> None:
    """`vigil workers --role scheduler`: the patrol record, retention and integrity jobs once per day
    (catching up after downtime), health samples each minute."""
    from reports import scheduler
    from reports.calendar import ReportSettings
    from retention.daily import integrity_job, retention_job

    settings = get_settings()
    es = _es()
    jobs = scheduler.ReportJobs(es, settings, _calendar(), ReportSettings())
    daily = scheduler.runner(jobs, [retention_job(es, settings), integrity_job(es, settings)])
    try:
        scheduler.run(jobs, daily)
    except KeyboardInterrupt:
        console.print("scheduler stopped")
