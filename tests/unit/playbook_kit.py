"""Helpers for the playbook unit tests: a fake clock, a small roster, alerts and playbooks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from core.models.alert import Alert, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.entity import TimeRange
from playbooks.loader import LoadedPlaybook, load_dir
from playbooks.progress import Context
from playbooks.roster import Person, Roster, Shift
from playbooks.schema import Playbook

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Asia/Shanghai


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def roster() -> Roster:
    return Roster(
        people={
            "alice": Person(name="Alice", email="alice@example.org"),
            "bob": Person(name="Bob", email="bob@example.org"),
            "night": Person(name="Night desk", email="night@example.org"),
            "carol": Person(name="Carol", email="carol@example.org", role="officer"),
        },
        shifts=[
            Shift(name="day", days="working", hours=TimeRange(start=time(9), end=time(18)), people=["alice", "bob"]),
            Shift(name="night", days="all", hours=TimeRange(start=time(18), end=time(9)), people=["night"]),
        ],
        escalation=["carol"],
    )


def alert(rule_id: str = "vigil-policy-brute-force", *, entity: str = "user:alice", at: datetime = T0,
          severity: Severity = Severity.HIGH, tags: tuple[str, ...] = ("attack.t1110.001",),
          hint: str | None = "brute-force", span: timedelta = timedelta(minutes=5)) -> Alert:  # fmt: skip
    data: dict[str, Any] = {
        "id": f"a-{rule_id}-{entity}-{at.isoformat()}",
        "@timestamp": at + span,
        "origin": AlertOrigin.STREAM,
        "rule": RuleRef(id=rule_id, title=rule_id, kind=DetectorKind.POLICY),
        "severity": severity,
        "tags": list(tags),
        "entity": EntityRef.parse(entity),
        "dedup_key": f"{rule_id}|{entity}",
        "first_seen": at,
        "last_seen": at + span,
        "summary": Summary.model_validate({"en": "failed logons", "zh-CN": "登录失败"}),
        "playbook": hint,
    }
    return Alert.model_validate(data)


def bundled(playbook_id: str) -> LoadedPlaybook:
    return load_dir().get(playbook_id)


def context(playbook: Playbook | LoadedPlaybook) -> Context:
    book = playbook.playbook if isinstance(playbook, LoadedPlaybook) else playbook
    return Context(playbook=book, roster=roster(), link="http://console/incidents/x")
