"""Which playbook an alert starts, how alerts group into one incident, and who is on duty when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.models.alert import Severity
from core.models.entity import WorkCalendar
from playbooks import transitions
from playbooks.loader import load_dir
from playbooks.roster import load_roster
from playbooks.triggers import choose, joins, tags_match
from tests.unit.playbook_kit import T0, alert, bundled, roster


def test_the_most_specific_trigger_wins() -> None:
    playbooks = load_dir().playbooks
    # A rule named exactly beats a hint and a tag: the departed-employee rule also carries attack.t1078.
    departed = alert("vigil-policy-departed-access", tags=("attack.t1078",), hint="departed-access")
    assert choose(playbooks, departed).playbook.id == "departed-access"  # type: ignore[union-attr]
    # A Sigma rule reaches its playbook through the alert builder's hint...
    sigma = alert("0e95725d-7320-415d-80f7-004da920fc11", tags=("attack.t1070.001",), hint="audit-log-cleared")
    assert choose(playbooks, sigma).playbook.id == "audit-log-cleared"  # type: ignore[union-attr]
    # ...or its ATT&CK technique, sub-techniques included.
    assert choose(playbooks, alert("x", tags=("attack.t1110.003",), hint=None)).playbook.id == "brute-force"  # type: ignore[union-attr]


def test_below_minimum_severity_or_unmatched_opens_nothing() -> None:
    playbooks = load_dir().playbooks
    assert choose(playbooks, alert(severity=Severity.LOW)) is None  # brute-force wants medium
    assert choose(playbooks, alert("vigil-policy-first-seen", tags=(), hint="anomaly")) is None
    assert choose(playbooks, alert("vigil-response-overdue", tags=("attack.t1110",), hint=None)) is None


def test_tags_match_sub_techniques_not_prefixes_of_numbers() -> None:
    assert tags_match(["attack.t1110"], ["attack.t1110.001"])
    assert not tags_match(["attack.t1110"], ["attack.t11100"])
    assert tags_match(["attack.exfiltration"], ["ATTACK.EXFILTRATION"])


def test_alerts_on_one_entity_close_in_time_join_one_incident() -> None:
    loaded = bundled("brute-force")
    incident = transitions.open_from_alert(alert(at=T0), loaded, T0)
    window = loaded.playbook.group_window
    assert joins(incident, alert(at=T0 + timedelta(minutes=30)), "brute-force", window)
    assert joins(incident, alert(at=T0 - window), "brute-force", window)  # ends exactly at the window's edge
    assert not joins(incident, alert(at=T0 + timedelta(hours=2)), "brute-force", window)
    assert not joins(incident, alert(entity="user:bob"), "brute-force", window)
    assert not joins(incident, alert(), "malware", window)
    transitions.cancel(incident, actor="carol", reason="duplicate", now=T0)
    assert not joins(incident, alert(), "brute-force", window)


def test_grouping_raises_severity_and_keeps_the_earliest_detection() -> None:
    loaded = bundled("brute-force")
    incident = transitions.open_from_alert(alert(at=T0, severity=Severity.HIGH), loaded, T0)
    later = alert("vigil-policy-brute-force-success", at=T0 + timedelta(minutes=10), severity=Severity.CRITICAL)
    assert transitions.add_alerts(incident, [later], T0 + timedelta(minutes=20))
    assert not transitions.add_alerts(incident, [later], T0 + timedelta(minutes=21))  # redelivered: no change
    assert incident.severity is Severity.CRITICAL and len(incident.alert_ids) == 2
    assert incident.detected_at == T0 + timedelta(minutes=5) and incident.last_seen == T0 + timedelta(minutes=15)
    assert [e.action for e in incident.timeline].count("alert_added") == 2


def test_redelivered_first_alert_gives_the_same_incident_id() -> None:
    loaded = bundled("brute-force")
    first = transitions.open_from_alert(alert(), loaded, T0)
    again = transitions.open_from_alert(alert(), loaded, T0 + timedelta(minutes=1))
    assert first.id == again.id


def test_duty_chain_follows_shifts_working_days_and_holidays() -> None:
    duty = roster()
    monday_10 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
    assert duty.chain(monday_10) == ["alice", "bob", "carol"]
    assert duty.chain(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)) == ["night", "carol"]  # 20:00
    assert duty.chain(datetime(2026, 3, 2, 23, 0, tzinfo=UTC)) == ["night", "carol"]  # 07:00 next day, overnight
    assert duty.chain(datetime(2026, 3, 7, 2, 0, tzinfo=UTC)) == ["carol"]  # Saturday 10:00: no day shift
    holiday = duty.model_copy(update={"calendar": duty.calendar.model_validate(
        {"holidays": [{"start": "2026-03-02", "end": "2026-03-02"}]})})  # fmt: skip
    assert holiday.chain(monday_10) == ["carol"]


def test_the_example_roster_loads_and_takes_the_organisation_calendar(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "docs" / "roster.example.yml"
    national_day = WorkCalendar.model_validate({"holidays": [{"start": "2026-10-01", "end": "2026-10-07"}]})
    duty = load_roster(example, national_day)
    thursday_10 = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
    assert duty.chain(thursday_10) == ["li", "wang", "chen"]  # a holiday: the holiday shift, not the day shift
    assert duty.chain(thursday_10 + timedelta(days=7)) == ["zhang", "li", "wang", "chen"]
    own = tmp_path / "roster.yml"
    own.write_text(example.read_text(encoding="utf-8") + "calendar: {working_days: [1, 2, 3, 4, 5, 6, 7]}\n")
    assert load_roster(own, national_day).chain(thursday_10)[0] == "zhang"  # the roster's own calendar wins
    with pytest.raises(ConfigError, match="not in people: nobody"):
        own.write_text("people: {}\nshifts: [{name: x, hours: '09:00-18:00', people: [nobody]}]\n")
        load_roster(own)
