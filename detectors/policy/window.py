"""Windowing and baselines shared by the policy detectors (state models, JSON-serialisable).

`SlidingWindow` is anchored on event time, not on clock buckets: each event is judged against the
span that ends at its own timestamp, so a burst split across an hour boundary still counts, and an
out-of-order event lands where it belongs. Items older than the newest event minus (span + allowed
lateness) are dropped; an event older than that is *late* and reported by `add`, not binned.
`Baseline` is an exponentially weighted mean and variance (what "usual" is for one entity);
`SeasonalBaseline` keeps one per hour of the week, falling back to the overall one while young.
`Cooldown` keeps one alert per key per period so a burst raises one alert, not thousands.
`SummedWindow` and `CountedWindow` bound any span's total and distinct keys in O(1), so a detector
scans the span (linear in the window) only when that bound could reach its threshold.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field, PrivateAttr


class WindowItem(BaseModel):
    ts: AwareDatetime
    value: float = 1.0
    key: str = ""
    event_id: str = ""


class SlidingWindow(BaseModel):
    items: list[WindowItem] = Field(default_factory=list)
    newest: AwareDatetime | None = None

    def add(self, item: WindowItem, span: timedelta, lateness: timedelta) -> bool:
        """Insert in time order; False (and not inserted) when the item is later than allowed."""
        if self.newest is not None and item.ts < self.newest - span - lateness:
            return False
        bisect.insort(self.items, item, key=lambda i: i.ts)
        self.newest = max(self.newest, item.ts) if self.newest else item.ts
        horizon = self.newest - span - lateness
        cut = bisect.bisect_left(self.items, horizon, key=lambda i: i.ts)
        if cut:
            self._drop(cut)
        return True

    def _drop(self, cut: int) -> None:
        """Forget the `cut` oldest items."""
        del self.items[:cut]

    def span_items(self, end: datetime, span: timedelta) -> list[WindowItem]:
        """Items in (end - span, end]."""
        lo = bisect.bisect_right(self.items, end - span, key=lambda i: i.ts)
        hi = bisect.bisect_right(self.items, end, key=lambda i: i.ts)
        return self.items[lo:hi]

    def around(self, ts: datetime, span: timedelta) -> list[WindowItem]:
        """The fuller of the span ending at `ts` and the span starting at it (ending no later than the
        newest item): an out-of-order item completes the window after it as well as the one before."""
        before = self.span_items(ts, span)
        if self.newest is None or self.newest <= ts:
            return before
        after = self.span_items(min(self.newest, ts + span - timedelta(microseconds=1)), span)
        return after if len(after) > len(before) else before

    def count(self, end: datetime, span: timedelta) -> int:
        return len(self.span_items(end, span))

    def total(self, end: datetime, span: timedelta) -> float:
        return sum(i.value for i in self.span_items(end, span))

    def distinct(self, end: datetime, span: timedelta) -> set[str]:
        return {i.key for i in self.span_items(end, span)}

    def clear(self) -> None:
        self.items.clear()

    @property
    def empty(self) -> bool:
        return not self.items


class SummedWindow(SlidingWindow):
    """A sliding window that also knows, in O(1), the sum of the positive values it holds: no span's
    total exceeds it, so a detector skips the exact (linear) span total while it is below the threshold.
    Without it, a busy entity's hour of proxy connections costs a sum over thousands of items per event.
    Change the items only through `add` and `clear`."""

    _held: float = PrivateAttr(default=0.0)

    def model_post_init(self, context: Any, /) -> None:  # also on restore from a snapshot
        self._held = sum(max(i.value, 0.0) for i in self.items)

    def add(self, item: WindowItem, span: timedelta, lateness: timedelta) -> bool:
        if not super().add(item, span, lateness):
            return False
        self._held += max(item.value, 0.0)
        return True

    def _drop(self, cut: int) -> None:
        self._held -= sum(max(i.value, 0.0) for i in self.items[:cut])
        super()._drop(cut)

    def clear(self) -> None:
        super().clear()
        self._held = 0.0

    @property
    def held_total(self) -> float:
        """The sum of the positive values held: at least the total of any span."""
        return self._held


class CountedWindow(SummedWindow):
    """A summed window that also knows, in O(1), how many distinct keys it holds: no span has more.
    Change the items only through `add` and `clear`."""

    _keys: Counter[str] = PrivateAttr(default_factory=Counter)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        self._keys = Counter(i.key for i in self.items)

    def add(self, item: WindowItem, span: timedelta, lateness: timedelta) -> bool:
        if not super().add(item, span, lateness):
            return False
        self._keys[item.key] += 1
        return True

    def _drop(self, cut: int) -> None:
        for old in self.items[:cut]:
            self._keys[old.key] -= 1
            if not self._keys[old.key]:
                del self._keys[old.key]
        super()._drop(cut)

    def clear(self) -> None:
        super().clear()
        self._keys.clear()

    @property
    def held_keys(self) -> int:
        """How many distinct keys the held items have: at least the distinct count of any span."""
        return len(self._keys)


class Baseline(BaseModel):
    """EWMA mean and variance of one series (e.g. files read per hour by one user)."""

    n: int = 0
    mean: float = 0.0
    var: float = 0.0

    def update(self, x: float, alpha: float) -> None:
        if self.n == 0:
            self.mean, self.var = x, 0.0
        else:
            diff = x - self.mean
            incr = alpha * diff
            self.mean += incr
            self.var = (1 - alpha) * (self.var + diff * incr)
        self.n += 1

    def std(self, floor: float = 1.0) -> float:
        """Never below `floor`: a perfectly flat history must not make any change infinite."""
        return max(math.sqrt(self.var), floor)

    def zscore(self, x: float, floor: float = 1.0) -> float:
        return (x - self.mean) / self.std(floor)

    def exceeded(self, x: float, z: float, factor: float, floor: float = 1.0) -> bool:
        """Above the usual by `z` deviations and by `factor` times the mean."""
        return self.zscore(x, floor) >= z and x >= factor * self.mean


class SeasonalBaseline(BaseModel):
    """One baseline per hour of the week (168 slots, local time) plus the overall one."""

    overall: Baseline = Field(default_factory=Baseline)
    slots: dict[str, Baseline] = Field(default_factory=dict)

    @staticmethod
    def slot(ts: datetime, zone: ZoneInfo) -> str:
        local = ts.astimezone(zone)
        return str(local.weekday() * 24 + local.hour)

    def update(self, ts: datetime, zone: ZoneInfo, x: float, alpha: float) -> None:
        self.overall.update(x, alpha)
        self.slots.setdefault(self.slot(ts, zone), Baseline()).update(x, alpha)

    def reference(self, ts: datetime, zone: ZoneInfo, min_slot: int, min_overall: int) -> Baseline | None:
        """The seasonal slot when it has history enough, else the overall baseline, else None (learning)."""
        slot = self.slots.get(self.slot(ts, zone))
        if slot is not None and slot.n >= min_slot:
            return slot
        return self.overall if self.overall.n >= min_overall else None


class Cooldown(BaseModel):
    last: dict[str, AwareDatetime] = Field(default_factory=dict)

    def blocked(self, key: str, ts: datetime, period: timedelta) -> bool:
        """Whether `ready` would say no (without remembering anything): a detector skips the work of
        a finding that could not alert anyway."""
        previous = self.last.get(key)
        return previous is not None and abs(ts - previous) < period

    def ready(self, key: str, ts: datetime, period: timedelta) -> bool:
        """True (and remembered) unless an alert for `key` was raised less than `period` before `ts`."""
        previous = self.last.get(key)
        if previous is not None and abs(ts - previous) < period:
            return False
        self.last[key] = ts
        return True

    def expire(self, now: datetime, period: timedelta) -> None:
        for key in [k for k, ts in self.last.items() if now - ts >= period]:
            del self.last[key]
