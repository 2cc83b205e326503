"""The people/asset inventory the policy detectors judge events against (ES `vigil-entities`).

Users come from HR (department, role, clearance, status), resources from the CMDB (classification,
owner, who may use them), vendors from contracts (accounts, approved windows), and the working
calendar from the administration office (working days, holidays, make-up working days).
Times of day are local to a zone (default Asia/Shanghai); a range whose end is not after its start
runs across midnight and belongs to the day it starts on.
"""

from __future__ import annotations

import ipaddress
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_ZONE = "Asia/Shanghai"
_WEEKDAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7,
             "周一": 1, "周二": 2, "周三": 3, "周四": 4, "周五": 5, "周六": 6, "周日": 7}  # fmt: skip


class EntityModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Clearance(StrEnum):
    """Classification levels, ordered (`rank`); accepts the Chinese names used in the regulations."""

    PUBLIC = "public"
    INTERNAL = "internal"
    CONFIDENTIAL = "confidential"
    SECRET = "secret"

    @classmethod
    def _missing_(cls, value: object) -> Clearance | None:
        text = str(value).strip().lower()
        for member in cls:
            if text in (member.value, member.zh):
                return member
        return None

    @property
    def rank(self) -> int:
        return list(Clearance).index(self)

    @property
    def zh(self) -> str:
        return {"public": "公开", "internal": "内部", "confidential": "机密", "secret": "绝密"}[self.value]


class UserStatus(StrEnum):
    ACTIVE = "active"
    DEPARTED = "departed"
    TRANSFERRED = "transferred"

    @classmethod
    def _missing_(cls, value: object) -> UserStatus | None:
        text = str(value).strip().lower()
        aliases = {"在职": "active", "离职": "departed", "调岗": "transferred", "调离": "transferred"}
        text = aliases.get(text, text)
        return next((m for m in cls if m.value == text), None)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


def weekday(value: object) -> int:
    """1 (Monday) … 7 (Sunday) from a number or a name (`mon`, `Monday`, `周一`)."""
    if isinstance(value, int) and 1 <= value <= 7:
        return value
    text = str(value).strip().lower()
    if text.isdigit() and 1 <= int(text) <= 7:
        return int(text)
    day = _WEEKDAYS.get(text[:3]) or _WEEKDAYS.get(text)
    if day is None:
        raise ValueError(f"{value!r} is not a weekday (1-7, mon..sun, 周一..周日)")
    return day


class TimeRange(EntityModel):
    """`09:00-18:00`; `22:00-06:00` runs across midnight into the next day."""

    start: time
    end: time

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        if isinstance(value, str):
            start, sep, end = value.replace("~", "-").partition("-")
            if not sep:
                raise ValueError(f"time range {value!r} is not 'HH:MM-HH:MM'")
            return {"start": start.strip(), "end": end.strip()}
        return value

    @property
    def overnight(self) -> bool:
        return self.end <= self.start


class DateRange(EntityModel):
    start: date
    end: date

    @model_validator(mode="before")
    @classmethod
    def _from_value(cls, value: object) -> object:
        if isinstance(value, date):
            return {"start": value, "end": value}
        if isinstance(value, str):
            start, _, end = value.partition("..")
            return {"start": start.strip(), "end": (end or start).strip()}
        return value

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.start <= day <= self.end


class WorkCalendar(EntityModel):
    """The organisation's calendar: holidays win over weekdays, make-up days win over weekends."""

    zone: str = DEFAULT_ZONE
    working_days: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    hours: list[TimeRange] = Field(default_factory=lambda: [TimeRange(start=time(9), end=time(18))])
    holidays: list[DateRange] = Field(default_factory=list)
    makeup_days: list[date] = Field(default_factory=list, description="调休: weekend days that are working days")

    @field_validator("zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        return _zone(value)

    @field_validator("working_days", mode="before")
    @classmethod
    def _days(cls, value: list[object]) -> list[int]:
        return [weekday(v) for v in value]

    def is_working_day(self, day: date, days: list[int] | None = None) -> bool:
        if any(day in h for h in self.holidays):
            return False
        if day in self.makeup_days:
            return True
        return day.isoweekday() in (days if days is not None else self.working_days)


class WorkingHours(EntityModel):
    """A user's own schedule (shift workers); unset fields fall back to the calendar."""

    days: list[int] | None = None
    hours: list[TimeRange] | None = None
    zone: str | None = None
    follow_calendar: bool = Field(default=True, description="holidays and make-up days of the calendar apply")

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: list[object] | None) -> list[int] | None:
        return None if value is None else [weekday(v) for v in value]

    @field_validator("zone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)


def is_working_time(ts: datetime, calendar: WorkCalendar, own: WorkingHours | None = None) -> bool:
    """Whether `ts` falls in working hours: a range running across midnight counts for the day it starts."""
    zone = ZoneInfo((own.zone if own else None) or calendar.zone)
    local = ts.astimezone(zone)
    days = own.days if own and own.days is not None else calendar.working_days
    ranges = own.hours if own and own.hours is not None else calendar.hours
    use_calendar = own.follow_calendar if own else True

    def working(day: date) -> bool:
        if use_calendar:
            return calendar.is_working_day(day, days)
        return day.isoweekday() in days

    now, today = local.time(), local.date()
    for r in ranges:
        if not r.overnight:
            if r.start <= now < r.end and working(today):
                return True
        elif (now >= r.start and working(today)) or (now < r.end and working(today - timedelta(days=1))):
            return True
    return False


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or CIDR network") from exc


class User(EntityModel):
    name: str = Field(min_length=1, description="the login name, matched case-insensitively")
    id: str | None = None
    display_name: str | None = None
    department: str | None = None
    role: str | None = None
    clearance: Clearance = Clearance.PUBLIC
    status: UserStatus = UserStatus.ACTIVE
    status_changed: date | None = Field(default=None, description="date of departure or transfer")
    previous_role: str | None = None
    aliases: list[str] = Field(default_factory=list, description="other account names of the same person")
    hosts: list[str] = Field(default_factory=list, description="assigned computers")
    ips: list[str] = Field(default_factory=list, description="assigned addresses or networks")
    working_hours: WorkingHours | None = None

    @field_validator("ips")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return [_network(v) for v in value]

    @model_validator(mode="after")
    def _changed_needs_date(self) -> User:
        if self.status is not UserStatus.ACTIVE and self.status_changed is None:
            raise ValueError(f"status {self.status.value} needs status_changed (the date of the change)")
        return self


class ResourceKind(StrEnum):
    SHARE = "share"
    PATH = "path"
    SYSTEM = "system"
    HOST = "host"
    ZONE = "zone"


class Resource(EntityModel):
    id: str = Field(min_length=1)
    kind: ResourceKind
    name: str | None = None
    classification: Clearance = Clearance.PUBLIC
    owner: str | None = None
    allowed_roles: list[str] = Field(default_factory=list)
    allowed_users: list[str] = Field(default_factory=list)
    important: bool = Field(default=False, description="an important zone: vendor access is risk-controlled")
    paths: list[str] = Field(default_factory=list, description="path or share prefixes (\\\\fs01\\hr, /srv/hr)")
    shares: list[str] = Field(default_factory=list, description="SMB share names")
    hosts: list[str] = Field(default_factory=list)
    networks: list[str] = Field(default_factory=list, description="zone address ranges")

    @field_validator("networks")
    @classmethod
    def _nets(cls, value: list[str]) -> list[str]:
        return [_network(v) for v in value]

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_roles or self.allowed_users)


class AccessWindow(EntityModel):
    """An approved vendor visit: a date range, optionally weekdays and a time range (local zone)."""

    dates: DateRange
    days: list[int] | None = None
    hours: TimeRange | None = None
    zones: list[str] = Field(default_factory=list, description="resource ids; empty means any important zone")

    @field_validator("days", mode="before")
    @classmethod
    def _days(cls, value: list[object] | None) -> list[int] | None:
        return None if value is None else [weekday(v) for v in value]

    def allows(self, ts: datetime, zone: ZoneInfo, resource_id: str | None) -> bool:
        local = ts.astimezone(zone)
        if local.date() not in self.dates:
            return False
        if self.days is not None and local.isoweekday() not in self.days:
            return False
        if self.hours is not None:
            start, end, now = self.hours.start, self.hours.end, local.time()
            inside = (start <= now < end) if not self.hours.overnight else (now >= start or now < end)
            if not inside:
                return False
        return not self.zones or resource_id in self.zones


class Vendor(EntityModel):
    id: str = Field(min_length=1)
    name: str | None = None
    accounts: list[str] = Field(default_factory=list)
    ips: list[str] = Field(default_factory=list)
    windows: list[AccessWindow] = Field(default_factory=list)
    zone: str = DEFAULT_ZONE

    @field_validator("ips")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        return [_network(v) for v in value]

    @field_validator("zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        return _zone(value)


class Inventory(EntityModel):
    users: list[User] = Field(default_factory=list)
    resources: list[Resource] = Field(default_factory=list)
    vendors: list[Vendor] = Field(default_factory=list)
    calendar: WorkCalendar = Field(default_factory=WorkCalendar)

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        for label, keys in (
            ("user", [u.name.lower() for u in self.users]),
            ("resource", [r.id for r in self.resources]),
            ("vendor", [v.id for v in self.vendors]),
        ):
            seen: set[str] = set()
            for key in keys:
                if key in seen:
                    raise ValueError(f"duplicate {label} {key!r}")
                seen.add(key)
        return self
