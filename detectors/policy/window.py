"""Windowing and baselines shared by the policy detectors (state models, JSON-serialisable).

`BinnedWindow` is a sliding window anchored on event time, not on clock buckets, whose state is bounded
by time, not by the event rate: the items of one entity that fall in the same bin (`resolution`,
default 1 s) are summed into one `Bin` (count, summed value, distinct keys, the largest item's id).
Every rule is the exact per-event one applied to timestamps truncated to the resolution, so at 1 s
nothing changes for whole-second timestamps, and otherwise a span's edges move by less than a bin:
- each event is judged against the span ending at its own timestamp: the `span / resolution` bins
  ending with its own bin (a burst split across an hour boundary still counts); `around` also tries
  the span starting at an out-of-order event's bin, so it completes the window after it as well;
- bins older than the newest event's bin minus (span + lateness) are dropped; an event whose bin is
  older than that is *late*: `add` says so and the detector counts it, it is never binned.
A window holds at most (span + lateness) / resolution bins, however many events come. Evidence is
bounded too: each bin keeps its largest item's event id, and the window the ids of its `EVIDENCE`
latest items besides (older bins are thinned to their peak's); `Span.event_ids` lists all the span's
ids while those cover it (every span of a quiet entity), else its largest and its latest ones. Bins
keep the distinct keys of their items (the files of a mass copy, the accounts of a spray): bounded by
distinct keys per bin, not by events.
`held_total`, `held_count` and `held_keys` bound any span's figures in O(1), so a detector sums a span
(linear in its bins) only when that bound could reach its threshold.
A checkpoint written with the per-event windows (`items`, one per event) is binned at 1 s on restore.

`Baseline` is an exponentially weighted mean and variance (what "usual" is for one entity);
`SeasonalBaseline` keeps one per hour of the week, falling back to the overall one while young.
`Cooldown` keeps one alert per key per period so a burst raises one alert, not thousands.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field, ValidationInfo, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

EVIDENCE = 200  # event ids one alert lists, and the latest ones a window keeps beyond its bins' peaks
SECOND = timedelta(seconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_start = attrgetter("start")


def bin_start(ts: datetime, resolution: timedelta) -> datetime:
    """The start of `ts`'s bin: bins are aligned on the epoch, so every entity's bins line up."""
    return ts - (ts - _EPOCH) % resolution


@dataclass(frozen=True)
class WindowSpec:
    """How long a span is, how late an item may come, and the bin resolution."""

    span: timedelta
    lateness: timedelta
    resolution: timedelta = SECOND

    def __post_init__(self) -> None:
        if self.resolution <= timedelta(0) or self.span < self.resolution:
            raise ValueError(f"window resolution {self.resolution} must be positive and at most the span {self.span}")
        if self.lateness < timedelta(0):
            raise ValueError(f"lateness {self.lateness} must not be negative")

    def bin_of(self, ts: datetime) -> datetime:
        return bin_start(ts, self.resolution)


class WindowedConfig(BaseModel):
    """The window settings of every sliding-window detector's config (keys `window`, `lateness`,
    `resolution`); a subclass redeclares `window` and `lateness` with its own defaults. Checked where
    the config is read, so a bad file names its field and line instead of failing a detector's start."""

    window: timedelta
    lateness: timedelta
    # Validated even when left out: the default 1 s must still fit a short window.
    resolution: timedelta = Field(default=SECOND, validate_default=True)  # of the bins (module docstring)

    @field_validator("window")
    @classmethod
    def _positive(cls, window: timedelta) -> timedelta:
        if window <= timedelta(0):
            raise ValueError(f"must be positive, not {_seconds(window)}")
        return window

    @field_validator("lateness")
    @classmethod
    def _not_negative(cls, lateness: timedelta) -> timedelta:
        if lateness < timedelta(0):
            raise ValueError(f"must not be negative, not {_seconds(lateness)}")
        return lateness

    @field_validator("resolution")
    @classmethod
    def _fits_window(cls, resolution: timedelta, info: ValidationInfo) -> timedelta:
        window = info.data.get("window")  # absent when it failed its own check
        if resolution <= timedelta(0):
            raise ValueError(f"must be positive, not {_seconds(resolution)}")
        if window is not None and resolution > window:
            raise ValueError(f"{_seconds(resolution)} is longer than the window ({_seconds(window)})")
        return resolution

    @property
    def spec(self) -> WindowSpec:
        return WindowSpec(self.window, self.lateness, self.resolution)


def _seconds(span: timedelta) -> str:
    return f"{span.total_seconds():g} s"


class WindowItem(BaseModel):
    """One event as a window sees it (and as a per-event checkpoint stored it)."""

    ts: AwareDatetime
    value: float = 1.0
    key: str = ""
    event_id: str = ""


# Bins and the running figures are pydantic dataclasses, not models: they change on every event, and a
# model's validating `__setattr__` (and its private attributes) cost more than the rest of the update.
@pydantic_dataclass
class Bin:
    """The items of one entity within one resolution step."""

    start: AwareDatetime
    count: int = 0
    total: float = 0.0
    peak: float = 0.0  # the largest item's value
    peak_at: int = 0  # its id's place in `ids`
    # Evidence: every item's id in arrival order while the bin is among the window's latest, then the peak's.
    ids: list[str] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)  # the items' distinct non-empty keys

    @property
    def peak_id(self) -> str:
        return self.ids[self.peak_at]

    def thin(self, excess: int) -> None:
        """Forget the `excess` oldest ids other than the peak's (which goes first)."""
        if self.peak_at:
            self.ids.insert(0, self.ids.pop(self.peak_at))
            self.peak_at = 0
        del self.ids[1 : 1 + excess]


@pydantic_dataclass
class Held:
    """What a window's bins hold in all: derived, recomputed on restore, never written."""

    total: float = 0.0
    count: int = 0
    keys: Counter[str] = field(default_factory=Counter)  # key → bins holding it
    extra: int = 0  # ids beyond one per bin


@dataclass(frozen=True)
class Span:
    """The bins of one span: what a detector judges, and the ids it reports."""

    bins: Sequence[Bin]

    @property
    def count(self) -> int:
        return sum(b.count for b in self.bins)

    @property
    def total(self) -> float:
        return sum(b.total for b in self.bins)

    def keys(self) -> set[str]:
        return set().union(*(b.keys for b in self.bins))

    def event_ids(self, cap: int = EVIDENCE) -> list[str]:
        """The span's event ids in time order: all of them (the latest `cap`) while its bins hold every
        one, else the ids of its largest items (the bins' peaks, up to half of `cap`) and the latest ids."""
        every = [i for b in self.bins for i in b.ids]
        if len(every) >= self.count:
            return every[-cap:]
        largest = {b.peak_id for b in sorted(self.bins, key=attrgetter("peak"), reverse=True)[: cap // 2]}
        latest = [i for i in reversed(every) if i not in largest][: cap - len(largest)]
        keep = largest.union(latest)
        return list(dict.fromkeys(i for i in every if i in keep))


class BinnedWindow(BaseModel):
    """A sliding window of bins (see the module docstring). Change it only through `add` and `forget_through`."""

    bins: list[Bin] = Field(default_factory=list)  # by start
    newest: AwareDatetime | None = None
    evidence_from: AwareDatetime | None = None  # bins before it keep only their peak's id
    held: Held = Field(default_factory=Held, exclude=True, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _from_items(cls, data: Any) -> Any:
        """A per-event window of an older checkpoint (`items`) restores as 1-s bins of the same items."""
        if not isinstance(data, dict) or "items" not in data or "bins" in data:
            return data
        window = cls()
        for raw in data["items"]:
            item = WindowItem.model_validate(raw)
            window._insert(bin_start(item.ts, SECOND), item.value, item.event_id, item.key)
        return {"bins": window.bins, "newest": data.get("newest"), "evidence_from": window.evidence_from}

    def model_post_init(self, context: Any, /) -> None:  # also on restore from a snapshot
        keys = Counter(k for b in self.bins for k in b.keys)
        extra = sum(len(b.ids) - 1 for b in self.bins)
        self.held = Held(sum(b.total for b in self.bins), sum(b.count for b in self.bins), keys, extra)

    def add(self, ts: datetime, spec: WindowSpec, value: float = 1.0, event_id: str = "", key: str = "") -> bool:
        """Sum the item into its bin; False (and not binned) when it is later than allowed."""
        start, newest = spec.bin_of(ts), self.newest
        if newest is not None and start < spec.bin_of(newest) - spec.span - spec.lateness:
            return False
        self._insert(start, value, event_id, key)
        if newest is None or ts > newest:
            self.newest = ts
            horizon = start - spec.span - spec.lateness
            if self.bins[0].start < horizon:
                self._drop(bisect_left(self.bins, horizon, key=_start))
        return True

    def _insert(self, start: datetime, value: float, event_id: str, key: str) -> None:
        bins, held = self.bins, self.held
        if bins and bins[-1].start == start:
            slot = bins[-1]
        elif not bins or start > bins[-1].start:
            slot = Bin(start=start)
            bins.append(slot)
        else:
            at = bisect_left(bins, start, key=_start)
            if bins[at].start == start:
                slot = bins[at]
            else:
                slot = Bin(start=start)
                bins.insert(at, slot)
        slot.count += 1
        slot.total += value
        if slot.count == 1:
            slot.peak, slot.ids = value, [event_id]
        elif self.evidence_from is not None and start < self.evidence_from:
            if value > slot.peak:  # a thinned bin keeps its peak's id only
                slot.peak, slot.ids, slot.peak_at = value, [event_id], 0
        else:
            slot.ids.append(event_id)
            held.extra += 1
            if value > slot.peak:
                slot.peak, slot.peak_at = value, len(slot.ids) - 1
            if held.extra > EVIDENCE:
                self._thin()
        if key and key not in slot.keys:
            slot.keys.add(key)
            held.keys[key] += 1
        held.count += 1
        held.total += value

    def _thin(self) -> None:
        """Keep `EVIDENCE` ids beyond the peaks: the oldest bins' go first."""
        bins, held = self.bins, self.held
        at = 0 if self.evidence_from is None else bisect_left(bins, self.evidence_from, key=_start)
        while held.extra > EVIDENCE:
            slot = bins[at]
            excess = min(held.extra - EVIDENCE, len(slot.ids) - 1)
            slot.thin(excess)
            held.extra -= excess
            if len(slot.ids) == 1:
                at += 1
        self.evidence_from = bins[at].start if at < len(bins) else None

    def _drop(self, cut: int) -> None:
        """Forget the `cut` oldest bins."""
        held = self.held
        for old in self.bins[:cut]:
            held.count -= old.count
            held.total -= old.total
            held.extra -= len(old.ids) - 1
            for key in old.keys:
                held.keys[key] -= 1
                if not held.keys[key]:
                    del held.keys[key]
        del self.bins[:cut]

    def forget_through(self, ts: datetime, spec: WindowSpec) -> None:
        """Forget the bins up to and including `ts`'s (items accounted for by an alert)."""
        self._drop(bisect_right(self.bins, spec.bin_of(ts), key=_start))

    def span(self, end: datetime, spec: WindowSpec) -> Span:
        """The bins of the span ending with `end`'s bin."""
        last = spec.bin_of(end)
        lo = bisect_right(self.bins, last - spec.span, key=_start)
        hi = bisect_right(self.bins, last, key=_start)
        return Span(self.bins[lo:hi])

    def around(self, ts: datetime, spec: WindowSpec) -> Span:
        """The fuller (by items) of the span ending with `ts`'s bin and the span starting with it (ending
        no later than the newest bin): an out-of-order item completes the window after it as well as
        the one before."""
        before = self.span(ts, spec)
        if self.newest is None or spec.bin_of(self.newest) <= spec.bin_of(ts):
            return before
        after = self.span(min(self.newest, spec.bin_of(ts) + spec.span - spec.resolution), spec)
        return after if after.count > before.count else before

    @property
    def held_total(self) -> float:
        """The summed value of every item held: at least the total of any span (values are >= 0)."""
        return self.held.total

    @property
    def held_count(self) -> int:
        """How many items the bins hold: at least the count of any span."""
        return self.held.count

    @property
    def held_keys(self) -> int:
        """How many distinct keys the bins hold: at least the distinct count of any span."""
        return len(self.held.keys)


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
