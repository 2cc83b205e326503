"""Daily indices as retention sees them: scope, UTC day, and the day's bounds.

An index `logs-<category>-YYYY.MM.DD` / `vigil-deadletter-YYYY.MM.DD` holds the documents whose
`@timestamp` falls in [day 00:00 UTC, next day 00:00 UTC) (see `core.names.day_suffix`).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict

from core.names import RetentionScope

_DAILY = re.compile(r"^(?:logs-(network|system|user)|vigil-(deadletter))-(\d{4})\.(\d{2})\.(\d{2})$")


class DailyIndex(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    scope: RetentionScope
    day: date
    docs: int = 0
    size_bytes: int = 0

    @property
    def start(self) -> datetime:
        return day_start(self.day)

    @property
    def end(self) -> datetime:
        """Exclusive end: the first instant of the next UTC day."""
        return day_start(self.day + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def index_name(scope: RetentionScope, day: date) -> str:
    return f"{scope.index_prefix}{day:%Y.%m.%d}"


def parse_index(name: str, docs: int = 0, size_bytes: int = 0) -> DailyIndex | None:
    """The daily index behind `name`, or None for any other index (left alone by retention)."""
    match = _DAILY.match(name)
    if not match:
        return None
    category, deadletter, year, month, day = match.groups()
    try:
        when = date(int(year), int(month), int(day))
    except ValueError:
        return None
    return DailyIndex(name=name, scope=RetentionScope(category or deadletter), day=when, docs=docs,
                      size_bytes=size_bytes)  # fmt: skip


def list_daily_indices(es: Elasticsearch) -> list[DailyIndex]:
    """Every open daily index with its document count and store size, oldest day first."""
    columns = "index,docs.count,store.size"
    response = es.cat.indices(index="logs-*,vigil-deadletter-*", format="json", bytes="b", h=columns)
    rows = cast(list[dict[str, Any]], response.body)  # format=json: a list of objects, not text
    found = []
    for row in rows:
        parsed = parse_index(str(row["index"]), int(row.get("docs.count") or 0), int(row.get("store.size") or 0))
        if parsed:
            found.append(parsed)
    return sorted(found, key=lambda ix: (ix.day, ix.scope.value))


def as_utc(now: datetime) -> datetime:
    """`now` must be aware: a naive time would be read in the machine's zone and shift every cut-off."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("retention needs an aware datetime for 'now' (naive times are ambiguous)")
    return now.astimezone(UTC)
