"""Time bounds as users type them: ISO 8601 or Elasticsearch date math relative to now."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator

# now, now-24h, now-7d/d, now/d+8h: what Elasticsearch's range query accepts after `now`.
RELATIVE_RE = re.compile(r"^now(?:[+-]\d+[yMwdhHms]|/[yMwdhHms])*$")


def normalise_time(value: str) -> str:
    """`now-24h` as is; an ISO time as ISO with a `T` (Elasticsearch's format). A time without an
    offset is read in the server's zone (the search passes `time_zone`). Raises ValueError."""
    text = value.strip()
    if RELATIVE_RE.match(text):
        return text
    try:
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(
            f"{value!r} is not a time: use ISO 8601 (2026-11-23T08:00:00+08:00, 2026-11-23) "
            "or a relative time like now-24h, now-7d, now/d"
        ) from None


def absolute(value: str | None) -> datetime | None:
    """The bound as a datetime when it is absolute (to check from <= to); None for relative ones."""
    if value is None or value.startswith("now"):
        return None
    return datetime.fromisoformat(value)


TimeBound = Annotated[str, AfterValidator(normalise_time)]
