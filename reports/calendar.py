"""Working days and report periods in the configured zone.

The calendar is the policy engineer's `WorkCalendar` (core/models/entity.py): weekdays, holidays,
make-up days. It is read from `VIGIL_REPORT_CALENDAR_FILE` (a YAML file holding either the calendar
itself or an inventory with a `calendar:` key); without one, Monday to Friday.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.models.entity import WorkCalendar
from reports.errors import ReportError


class ReportSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIL_REPORT_", extra="ignore")

    calendar_file: Path | None = None
    patrol_at: time = time(8, 30)  # local time the patrol job runs, for the previous working day
    language: str = "zh-CN"
    # Who files the authority report (its letterhead and contact block); blank lines are left to fill in by hand.
    organisation: str = ""
    contact: str = ""
    contact_phone: str = ""
    contact_email: str = ""


def load_calendar(path: Path | None) -> WorkCalendar:
    if path is None:
        return WorkCalendar()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return WorkCalendar.model_validate(data.get("calendar", data))
    except (OSError, yaml.YAMLError, ValidationError, AttributeError) as exc:
        raise ReportError(f"calendar file {path}: {exc}") from exc


def previous_working_day(calendar: WorkCalendar, today: date) -> date:
    """The last working day strictly before `today` (holidays can be long: look back up to a year)."""
    day = today - timedelta(days=1)
    for _ in range(366):
        if calendar.is_working_day(day):
            return day
        day -= timedelta(days=1)
    raise ReportError(f"no working day in the year before {today}: check the calendar")


def working_days(calendar: WorkCalendar, start: date, end: date) -> list[date]:
    """Working days in [start, end)."""
    days = (start + timedelta(days=i) for i in range((end - start).days))
    return [day for day in days if calendar.is_working_day(day)]


class Period(BaseModel):
    """A run of local days [start, end) and its UTC bounds: what every query filters on."""

    model_config = ConfigDict(frozen=True)

    label: str
    start: date
    end: date
    zone: str

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.start, time(), ZoneInfo(self.zone)).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        return datetime.combine(self.end, time(), ZoneInfo(self.zone)).astimezone(UTC)

    def minutes(self, now: datetime) -> int:
        """Minutes of the period up to `now` (a period still running is judged on what has passed)."""
        end = min(self.end_utc, now.astimezone(UTC))
        return max(0, int((end - self.start_utc).total_seconds() // 60))


def day_period(day: date, zone: str) -> Period:
    return Period(label=day.isoformat(), start=day, end=day + timedelta(days=1), zone=zone)


def month_period(text: str, zone: str) -> Period:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if not match or not 1 <= int(match[2]) <= 12:
        raise ReportError(f"{text!r} is not a month (YYYY-MM)")
    year, month = int(match[1]), int(match[2])
    end = date(year + (month == 12), month % 12 + 1, 1)
    return Period(label=f"{year:04d}-{month:02d}", start=date(year, month, 1), end=end, zone=zone)


def quarter_period(text: str, zone: str) -> Period:
    match = re.fullmatch(r"(\d{4})-?Q([1-4])", text.strip().upper())
    if not match:
        raise ReportError(f"{text!r} is not a quarter (YYYYQn, e.g. 2026Q4)")
    year, quarter = int(match[1]), int(match[2])
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + (quarter == 4), (3 * quarter) % 12 + 1, 1)
    return Period(label=f"{year}Q{quarter}", start=start, end=end, zone=zone)
