"""A log source went silent: per source and category, learn the usual gap between events; alert (META,
playbook `log-source-silent`) from `on_tick` when one that normally reports has been quiet longer.

The usual gap is a *time-weighted* high quantile of the observed gaps: the gap length g such that a
`quantile` share of the observed time passed in gaps no longer than g. A count-based quantile fails
on bursty sources (a batch of 100 events every hour has 99 near-zero gaps for one of an hour, so its
95th percentile is ~0 and every hourly pause would alert); weighted by time, that source's usual gap
is the hour. Gaps are kept as log2-binned histograms per UTC day for the last `horizon_days`, so
memory is bounded and a nightly or weekend pause stays in the history however chatty the day was.
The alert threshold is max(`floor`, `multiplier` x usual gap).

One alert per silence episode; the next event ends the episode. That silence enters the history
capped at the threshold it exceeded, so an outage does not teach the detector that days of silence
are normal, while a source that really slowed down is learned over a few episodes.

Arrival time is `event.ingested` (set by the normaliser) when present, else the event time: a source
with a wrong clock or zone must not look silent (or chatty) because of it. Nothing fires from an event.

Run one instance over every event of a source: `vigil.events` is partitioned by entity, so a copy per
partition would see only the share of a source's events whose user or host hashes there, and would
call the source silent when those users go home (a consumer group of its own over all partitions, or
a stream keyed by source).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.models.alert import AlertDraft, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit

RULE = RuleRef(id="vigil-flatline", version="1", title="Log source went silent", kind=DetectorKind.META)
PLAYBOOK = "log-source-silent"


@dataclass(frozen=True, slots=True)
class FlatlineSettings:
    quantile: float = 0.95  # share of observed time spent in gaps up to the usual gap
    multiplier: float = 3.0
    floor: timedelta = timedelta(minutes=5)
    horizon_days: int = 7  # days of gap history kept per source
    min_gaps: int = 20  # gaps observed before a source counts as one that normally reports
    forget_after: timedelta = timedelta(days=30)  # a source silent this long is dropped from the state
    severity: Severity = Severity.MEDIUM
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))  # how summaries show times


class StateModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DayGaps(StateModel):
    """The gaps that ended on one UTC day: per log2 bin, total seconds and the longest gap."""

    count: int = 0
    seconds: dict[int, float] = Field(default_factory=dict)
    longest: dict[int, float] = Field(default_factory=dict)


class SourceState(StateModel):
    source: str
    category: str
    last_seen: AwareDatetime
    days: dict[str, DayGaps] = Field(default_factory=dict, description="UTC date → gaps that ended that day")
    silent_threshold: float | None = Field(
        default=None, description="set while a silence alert is open: the threshold (s) it exceeded"
    )


class FlatlineState(StateModel):
    version: Literal[1] = 1
    sources: dict[str, SourceState] = Field(default_factory=dict)
    alerts: int = 0


class FlatlineDetector:
    """Implements `detectors.base.Detector`."""

    name = "flatline"

    def __init__(self, settings: FlatlineSettings | None = None) -> None:
        self.settings = settings or FlatlineSettings()
        self._state = FlatlineState()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        arrived = event.event.ingested or event.timestamp
        source, category = event.vigil.source, event.vigil.category.value
        key = f"{source}\x1f{category}"
        known = self._state.sources.get(key)
        if known is None:
            self._state.sources[key] = SourceState(source=source, category=category, last_seen=arrived)
            return []
        gap = (arrived - known.last_seen).total_seconds()
        if gap < 0:
            return []  # arrived out of order: no gap to learn
        if known.silent_threshold is not None:  # recovery: the silence is learned at most at its threshold
            gap = min(gap, known.silent_threshold)
            known.silent_threshold = None
        _record(known, arrived, gap, self.settings.horizon_days)
        known.last_seen = arrived
        return []

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        alerts: list[AlertDraft] = []
        for key, source in list(self._state.sources.items()):
            silent = (now - source.last_seen).total_seconds()
            if silent > self.settings.forget_after.total_seconds():
                del self._state.sources[key]
                continue
            if source.silent_threshold is not None:
                continue  # this silence has its alert
            usual = self.usual_gap(source)
            if usual is None:
                continue  # still learning
            threshold = max(self.settings.floor.total_seconds(), self.settings.multiplier * usual)
            if silent > threshold:
                source.silent_threshold = threshold
                self._state.alerts += 1
                alerts.append(self._draft(source, now, usual, threshold))
        return alerts

    def snapshot(self) -> FlatlineState:
        return self._state

    def restore(self, state: Mapping[str, object]) -> None:
        self._state = FlatlineState.model_validate(state)

    def usual_gap(self, source: SourceState) -> float | None:
        """The time-weighted `quantile` of the source's gaps (seconds); None before `min_gaps` gaps."""
        days = source.days.values()
        if sum(d.count for d in days) < self.settings.min_gaps:
            return None
        seconds: dict[int, float] = {}
        longest: dict[int, float] = {}
        for day in days:
            for b, s in day.seconds.items():
                seconds[b] = seconds.get(b, 0.0) + s
                longest[b] = max(longest.get(b, 0.0), day.longest[b])
        total = sum(seconds.values())
        if total <= 0:
            return 0.0  # only simultaneous events so far
        running = 0.0
        for b in sorted(seconds):
            running += seconds[b]
            if running >= self.settings.quantile * total:
                return longest[b]
        return longest[max(seconds)]

    def _draft(self, source: SourceState, now: datetime, usual: float, threshold: float) -> AlertDraft:
        zone = self.settings.zone
        last = source.last_seen.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        silent = (now - source.last_seen).total_seconds()
        name = f"{source.source} ({source.category})"
        return AlertDraft(
            rule=RULE,
            severity=self.settings.severity,
            tags=["vigil.meta", "vigil.log-source-silent"],
            entity=EntityRef(kind="source", value=source.source),
            dedup_key=f"flatline|{source.source}|{source.category}",
            event_ids=[],
            event_count=0,
            first_seen=source.last_seen,
            last_seen=now,
            summary=Summary.model_validate(
                {
                    "en": f"Log source {name} silent for {_duration(silent)}: last event {last} ({zone.key}), "
                    f"usually at most {_duration(usual)} between events",
                    "zh-CN": f"日志源 {name} 已静默 {_duration(silent, zh=True)}：最后事件 {last}（{zone.key}），"
                    f"通常间隔不超过 {_duration(usual, zh=True)}",
                }
            ),
            playbook=PLAYBOOK,
            context={
                "source": source.source,
                "category": source.category,
                "silent_seconds": round(silent, 3),
                "threshold_seconds": round(threshold, 3),
                "usual_gap_seconds": round(usual, 3),
            },
        )


def _bin(gap: float) -> int:
    return 0 if gap < 1 else int(math.log2(gap)) + 1


def _record(source: SourceState, arrived: datetime, gap: float, horizon_days: int) -> None:
    day_key = arrived.astimezone(UTC).date().isoformat()
    day = source.days.get(day_key)
    if day is None:
        day = source.days[day_key] = DayGaps()
        for old in sorted(source.days)[:-horizon_days]:
            del source.days[old]
    b = _bin(gap)
    day.count += 1
    day.seconds[b] = day.seconds.get(b, 0.0) + gap
    day.longest[b] = max(day.longest.get(b, 0.0), gap)


def _duration(seconds: float, *, zh: bool = False) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    units = ("天", "小时", "分", "秒") if zh else ("d", "h", "m", "s")
    parts = [f"{n}{u}" for n, u in zip((days, hours, minutes, secs), units, strict=True) if n]
    return ("" if zh else " ").join(parts[:2]) or ("0秒" if zh else "0s")
