"""Anomalies (policy rule 2: patrol catches anomalies): volume spikes and first-seen pairs, per entity.

`VolumeSpikeDetector` counts each entity's events per hour (event time, the entity is the
`vigil.events` partition key) and, when an hour closes (the newest event or the clock passed its end
plus `lateness`), compares it with the entity's baseline for that hour of the week (EWMA; the
overall baseline while the seasonal slot is young). Hours with no events count as zero. An event for
an hour already closed is late: counted in `late`, never put into a closed bin.

`FirstSeenDetector` remembers, per entity, the hosts a user logs on to, the processes a host starts
and the destinations a user reaches; after the entity's `learning` period a new one raises an alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, EntityRef, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    entity,
    entry,
    event_id,
    has,
    host_of,
    login_started,
    process_names,
    user_of,
)
from detectors.policy.window import SeasonalBaseline

SPIKE = PolicyRule(
    "vigil-policy-volume-spike",
    "Event volume far above the entity's usual for this hour",
    "anomaly",
    Severity.LOW,
    (),
    "2",
)
FIRST_SEEN = PolicyRule(
    "vigil-policy-first-seen", "First time seen after the learning period", "anomaly", Severity.LOW, (), "2"
)


class SpikeConfig(BaseModel):
    bucket: timedelta = timedelta(hours=1)
    lateness: timedelta = timedelta(minutes=10)
    zone: str = "Asia/Shanghai"
    alpha: float = 0.1
    z: float = 4.0
    factor: float = 3.0
    min_count: int = 100
    min_slot: int = 3
    min_overall: int = 24
    max_gap_buckets: int = 168


class EntityVolume(BaseModel):
    open: dict[str, int] = Field(default_factory=dict)  # bucket start (ISO) → count
    closed_until: AwareDatetime | None = None
    baseline: SeasonalBaseline = Field(default_factory=SeasonalBaseline)
    samples: dict[str, str] = Field(default_factory=dict)  # bucket → one event id (for the alert)


class SpikeState(BaseModel):
    entities: dict[str, EntityVolume] = Field(default_factory=dict)
    late: int = 0


class VolumeSpikeDetector(PolicyDetector[SpikeState]):
    name = "policy.volume_spike"
    keyed_by = ("entity",)
    state_model = SpikeState

    def __init__(self, config: SpikeConfig | None = None) -> None:
        super().__init__()
        self.config = config or SpikeConfig()
        self._zone = ZoneInfo(self.config.zone)
        self._last: tuple[datetime, datetime, str] | None = None  # the last bucket: start, end, key

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        key = event.vigil.entity or event.entity()
        vol = entry(self.state.entities, key, EntityVolume)
        start, slot = self._bucket(event.timestamp)
        if vol.closed_until is not None and start < vol.closed_until:
            self.state.late += 1
            return []
        if slot not in vol.open:
            vol.open[slot], vol.samples[slot] = 0, event_id(event)
        vol.open[slot] += 1
        return self._close(key, vol, event.timestamp - self.config.lateness)

    def _bucket(self, ts: datetime) -> tuple[datetime, str]:
        """The start of `ts`'s bucket and its key. Events mostly share the current bucket: the last one
        is kept (flooring and formatting a timestamp per event was a tenth of this detector's time)."""
        last = self._last
        if last is None or not last[0] <= ts < last[1]:
            start = _floor(ts, self.config.bucket)
            last = self._last = (start, start + self.config.bucket, start.isoformat())
        return last[0], last[2]

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        return [
            a for key, vol in self.state.entities.items() for a in self._close(key, vol, now - self.config.lateness)
        ]

    def _close(self, key: str, vol: EntityVolume, watermark: datetime) -> list[AlertDraft]:
        cfg, alerts = self.config, []
        # bucket keys are UTC ISO strings of one format: lexical order is time order
        if not vol.open or datetime.fromisoformat(min(vol.open)) + cfg.bucket > watermark:
            return []
        for slot in sorted(s for s in vol.open if datetime.fromisoformat(s) + cfg.bucket <= watermark):
            start = datetime.fromisoformat(slot)
            self._zeros(vol, start)
            count = vol.open.pop(slot)
            sample = vol.samples.pop(slot, "")
            ref = vol.baseline.reference(start, self._zone, cfg.min_slot, cfg.min_overall)
            if ref is not None and count >= cfg.min_count and ref.exceeded(count, cfg.z, cfg.factor):
                alerts.append(self._alert(key, start, count, ref.mean, sample))
            vol.baseline.update(start, self._zone, count, cfg.alpha)
            vol.closed_until = start + cfg.bucket
        return alerts

    def _zeros(self, vol: EntityVolume, until: datetime) -> None:
        """Quiet hours between the last closed one and `until` are zeros in the baseline."""
        cfg = self.config
        if vol.closed_until is None:
            return
        gap = vol.closed_until
        for _ in range(cfg.max_gap_buckets):
            if gap >= until:
                break
            vol.baseline.update(gap, self._zone, 0, cfg.alpha)
            gap += cfg.bucket

    def _alert(self, key: str, start: datetime, count: int, usual: float, sample: str) -> AlertDraft:
        local = start.astimezone(self._zone).strftime("%a %Y-%m-%d %H:00")
        ref = EntityRef.parse(key)
        return Finding(
            SPIKE,
            ref,
            [],
            en=f"{ref.key}: {count} events in the hour from {local}, usual for this hour about {usual:.0f}",
            zh=f"{ref.key} 在 {local} 起的一小时内产生 {count} 条事件，该时段平时约 {usual:.0f} 条，流量异常",
            dedup=f"{key}|{start.isoformat()}",
            event_ids=[sample] if sample else [],
            context={"count": count, "baseline": round(usual, 1), "hour_start": start.isoformat()},
            span=(start, start + self.config.bucket - timedelta(microseconds=1)),
        ).alert()


def _floor(ts: datetime, span: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + span * ((ts - epoch) // span)


class FirstSeenConfig(BaseModel):
    learning: timedelta = timedelta(days=7)
    max_values: int = 1000


class Seen(BaseModel):
    since: AwareDatetime
    values: dict[str, AwareDatetime] = Field(default_factory=dict)


class FirstSeenState(BaseModel):
    seen: dict[str, Seen] = Field(default_factory=dict)  # "host-for-user|alice" → hosts


_WHAT = {"host": ("new host for user", "首次登录的主机"), "process": ("new process on host", "首次出现的进程"),
         "destination": ("new destination for user", "首次访问的目标")}  # fmt: skip


class FirstSeenDetector(PolicyDetector[FirstSeenState]):
    name = "policy.first_seen"
    keyed_by = ("user", "host")
    state_model = FirstSeenState

    def __init__(self, config: FirstSeenConfig | None = None) -> None:
        super().__init__()
        self.config = config or FirstSeenConfig()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        alerts = []
        for what, owner, value in self._pairs(event):
            if alert := self._observe(event, what, owner, value):
                alerts.append(alert)
        return alerts

    def _pairs(self, event: EcsEvent) -> list[tuple[str, EntityRef, str]]:
        account, host = user_of(event), host_of(event)
        pairs: list[tuple[str, EntityRef, str]] = []
        if account and host and login_started(event):
            pairs.append(("host", entity("user", account), host))
        if host and has(event, "process", "start"):
            pairs += [("process", entity("host", host), name) for name in process_names(event)[:1]]
        if account and "network" in event.event.category:
            dest = (event.url.domain if event.url else None) or (
                (event.destination.domain or event.destination.ip) if event.destination else None
            )
            if dest:
                pairs.append(("destination", entity("user", account), dest.lower()))
        return pairs

    def _observe(self, event: EcsEvent, what: str, owner: EntityRef, value: str) -> AlertDraft | None:
        key = f"{what}|{owner.key}"
        seen = self.state.seen.get(key)
        ts = event.timestamp
        if seen is None:
            self.state.seen[key] = Seen(since=ts, values={value: ts})
            return None
        seen.since = min(seen.since, ts)  # an out-of-order earlier event extends the learning back
        if value in seen.values:
            seen.values[value] = min(seen.values[value], ts)
            return None
        learning = ts - seen.since < self.config.learning
        if len(seen.values) >= self.config.max_values:
            del seen.values[min(seen.values, key=lambda v: seen.values[v])]
        seen.values[value] = ts
        if learning:
            return None
        en, zh = _WHAT[what]
        return Finding(
            FIRST_SEEN,
            owner,
            [event],
            en=f"{en}: {owner.value} → {value} (known {len(seen.values) - 1} others since {seen.since:%Y-%m-%d})",
            zh=f"{owner.value} {zh}：{value}（此前已知 {len(seen.values) - 1} 个）",
            dedup=f"{key}|{value}",
            context={"kind": what, "value": value, "known": len(seen.values) - 1},
        ).alert()
