"""The duty roster (值班表) and the escalation chain, from a YAML file.

Shifts say who is on duty when: on working days, on days off, or every day, between local times
(a range that ends before it starts runs past midnight and belongs to the day it starts on). Working
days and holidays are the organisation's calendar (`core.models.entity.WorkCalendar`, the one the
reports use). The chain at a moment is the people of the shifts running then, in order, followed by
the `escalation` list (officer, manager...): level 0 is the on-duty person, each unacknowledged page
moves one level up.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError
from core.models.entity import DEFAULT_ZONE, TimeRange, WorkCalendar


class RosterModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Person(RosterModel):
    name: str
    email: str | None = None
    phone: str | None = None
    webhook: str | None = Field(default=None, description="a chat user id for the webhook channels (@-mention)")
    role: Literal["responder", "officer", "admin", "manager"] = "responder"


class Shift(RosterModel):
    name: str
    days: Literal["working", "off", "all"] = "working"
    hours: TimeRange
    people: list[str] = Field(min_length=1, description="in paging order")

    def covers(self, calendar: WorkCalendar, local: datetime) -> bool:
        for day_offset in (0, 1):  # an overnight shift that began yesterday still runs
            start_day = local.date() - timedelta(days=day_offset)
            start = datetime.combine(start_day, self.hours.start, local.tzinfo)
            end_day = start_day if self.hours.end > self.hours.start else start_day + timedelta(days=1)
            end = datetime.combine(end_day, self.hours.end, local.tzinfo)
            if start <= local < end and self._day_matches(calendar, start_day):
                return True
        return False

    def _day_matches(self, calendar: WorkCalendar, day: object) -> bool:
        if self.days == "all":
            return True
        working = calendar.is_working_day(day)  # type: ignore[arg-type]
        return working if self.days == "working" else not working


class Roster(RosterModel):
    calendar: WorkCalendar = Field(default_factory=WorkCalendar)
    people: dict[str, Person]
    shifts: list[Shift] = Field(min_length=1)
    escalation: list[str] = Field(default_factory=list, description="after the shift: officer, manager...")

    @model_validator(mode="after")
    def _known_people(self) -> Roster:
        named = [p for s in self.shifts for p in s.people] + self.escalation
        unknown = sorted({p for p in named if p not in self.people})
        if unknown:
            raise ValueError(f"named in shifts or escalation but not in people: {', '.join(unknown)}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.zone or DEFAULT_ZONE)

    def on_duty(self, now: datetime) -> list[str]:
        """People of the shifts running at `now`, in roster order (no duplicates)."""
        local = now.astimezone(self.zone)
        chain: list[str] = []
        for shift in self.shifts:
            if shift.covers(self.calendar, local):
                chain.extend(p for p in shift.people if p not in chain)
        return chain

    def chain(self, now: datetime) -> list[str]:
        """The escalation chain at `now`: on duty first, then the escalation list."""
        chain = self.on_duty(now)
        return chain + [p for p in self.escalation if p not in chain]

    def person(self, key: str) -> Person:
        return self.people[key]

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), allow_unicode=True, sort_keys=False)


def default_roster() -> Roster:
    """A roster of one around-the-clock duty desk: what a fresh install pages until it is configured."""
    desk = Person(name="Duty desk", email="duty@localhost")
    return Roster(
        people={"duty": desk},
        shifts=[Shift(name="all-day", days="all", hours=TimeRange(start=time(0), end=time(0)), people=["duty"])],
    )


def load_roster(path: Path | None, calendar: WorkCalendar | None = None) -> Roster:
    """The roster file; a roster without its own `calendar` uses `calendar` (the organisation's, which the
    reports read too), so holidays and make-up days are configured once."""
    if path is None:
        roster = default_roster()
        return roster.model_copy(update={"calendar": calendar}) if calendar else roster
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"duty roster {path}: {exc}") from exc
    return parse_roster_text(text, str(path), calendar)


def parse_roster_text(text: str, label: str, calendar: WorkCalendar | None = None) -> Roster:
    """A roster from YAML (or JSON, which is YAML); errors name the field: `shifts.0.people: ...`."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"duty roster {label}: not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"duty roster {label}: expected a mapping with people and shifts, got {type(data).__name__}")
    if "calendar" not in data and calendar is not None:
        data["calendar"] = calendar.model_dump()
    try:
        return Roster.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'roster'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(f"duty roster {label}: {problems}") from exc
