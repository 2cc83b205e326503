"""The deadline cell of the incident pages: a countdown while the incident runs, none once it ended."""

from __future__ import annotations

from datetime import UTC, datetime

from api.console.web import templates
from core.models.incident import IncidentDeadline

DUE = datetime(2026, 12, 2, 10, tzinfo=UTC)


def cell(deadline: IncidentDeadline, *, ended: bool) -> str:
    template = templates.env.get_template("deadline.html")
    return template.render(dl=deadline, ended=ended, t=lambda key: f"[{key}]", when=lambda at: at.isoformat())


def test_a_running_incident_counts_down_to_an_unmet_deadline() -> None:
    html = cell(IncidentDeadline(name="report", due=DUE), ended=False)
    assert 'class="countdown"' in html and f'data-due="{DUE.isoformat()}"' in html


def test_an_ended_incident_shows_the_unmet_deadline_without_a_countdown() -> None:
    html = cell(IncidentDeadline(name="report", due=DUE), ended=True)
    assert "countdown" not in html and "[incidents.not_met]" in html and DUE.isoformat() in html


def test_a_met_deadline_shows_when_it_was_met() -> None:
    met = datetime(2026, 12, 1, 12, tzinfo=UTC)
    html = cell(IncidentDeadline(name="report", due=DUE, met_at=met), ended=True)
    assert "✓" in html and met.isoformat() in html and "not_met" not in html
