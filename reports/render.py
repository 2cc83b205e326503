"""HTML (Jinja2, SVG charts) and PDF (WeasyPrint, PNG charts) from the report models."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape

from reports import charts
from reports.i18n import duration, local_time, percent, translator
from reports.models import Evaluation, PatrolRecord

Format = Literal["json", "html", "pdf"]


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(["html"]))


def _globals(lang: str, zone: str) -> dict[str, object]:
    return {"lang": lang, "t": translator(lang), "when": lambda v: local_time(v, zone), "dur": duration,
            "pct": percent, "last_day": lambda end: end - timedelta(days=1)}  # fmt: skip


def patrol_html(record: PatrolRecord, lang: str, image: Literal["svg", "png"] = "svg") -> str:
    t = translator(lang)
    c = record.content
    severity = c.alerts.by_severity
    figures = {
        "hourly": charts.hourly_volume(c.logs.hourly, t("hourly"), image),
        "severity": charts.bars([s.key for s in severity], [s.count for s in severity], t("alerts_by_severity"), image),
    }
    return render_template("patrol.html", lang, c.zone, record=record, charts=embed(figures, image))


def evaluation_html(evaluation: Evaluation, lang: str, image: Literal["svg", "png"] = "svg") -> str:
    t = translator(lang)
    sev = evaluation.alerts_by_severity
    avail = evaluation.availability
    figures = {
        "availability": charts.bars([a.component for a in avail], [a.ratio or 0.0 for a in avail],
                                    t("availability") + " (%)", image, percent=True),
        "severity": charts.bars([s.key for s in sev], [s.count for s in sev], t("alerts_by_severity"), image),
    }  # fmt: skip
    return render_template("evaluation.html", lang, evaluation.zone, e=evaluation, charts=embed(figures, image))


def embed(figures: dict[str, str], image: str) -> dict[str, str]:
    return figures if image == "svg" else {k: f'<img src="{v}">' for k, v in figures.items()}


def render_template(template: str, lang: str, zone: str, **context: object) -> str:
    return _env().get_template(template).render(**_globals(lang, zone), **context)


def pdf(html: str) -> bytes:
    from weasyprint import HTML  # heavy (pango): loaded only when a PDF is asked for

    return bytes(HTML(string=html).write_pdf())
