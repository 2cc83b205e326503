"""Scheduled hunts: every hunted rule (Lucene or engine-evaluated) over `logs-*` every `interval`, without gaps.

Windows. A pass at `now` searches [start, now) with start = min(last end − overlap, now − lookback):
on schedule that is the lookback (default interval + overlap, never less than the interval); after
a restart or an outage it reaches back to where the rule's last successful pass ended, so nothing
falls between two passes (at most `max_catchup`, the 60-day retention). The overlap covers events
that were not yet searchable at the previous pass (refresh interval, indexing lag). Scheduled passes
select by event time OR ingestion time (`search.time_filter`), so late-arriving events with old
timestamps are found by the next pass.

Checkpoint. Per rule, after its alerts were flushed to Kafka: the end of its last successful pass,
its alerting state (open suppression windows) and the event ids already counted inside the overlap;
one JSON file per rule, replaced atomically. A failed rule keeps its old checkpoint, so its next pass
covers the failed window again.

Engine hunts with the same log-source filter are walked once per pass for the whole group (`group.py`):
one read of Sysmon event 3 for the 16 CIDR rules, not 16. Lucene hunts run one query per rule.

Rule state. A pass re-reads `vigil-rule-state` when due (`detectors/rule_state.py`). A disabled rule is
not searched, and its checkpoint moves on to the pass's end, so enabling it again does not alert on
what happened while it was off (as in the stream, whose matches of a disabled rule are dropped).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaProducer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import VigilError
from core.files import write_atomic
from core.settings import Settings
from detectors.alerting import AlertingSettings
from detectors.hunt.convert import Conversion
from detectors.hunt.group import EngineGroup, engine_groups, group_engine, run_group
from detectors.hunt.run import Hunter, HuntResult, Scope, send_alerts
from detectors.rule_state import RuleSwitch
from detectors.sigma.engine import SigmaEngine

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


class HuntCheckpointError(VigilError):
    """A hunt checkpoint exists but cannot be read: guessing its window could skip or repeat events."""


class HuntSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    interval: timedelta = Field(default=timedelta(minutes=5), gt=timedelta(0))
    overlap: timedelta = Field(default=timedelta(minutes=2), ge=timedelta(0))
    lookback: timedelta | None = Field(default=None, description="default interval + overlap")
    max_catchup: timedelta = Field(default=timedelta(days=60), description="how far a restart reaches back")
    page_size: int = Field(default=1000, ge=1)

    @model_validator(mode="after")
    def _lookback_covers_interval(self) -> HuntSettings:
        if self.lookback is not None and self.lookback < self.interval:
            raise ValueError(f"hunt lookback {self.lookback} is shorter than the interval {self.interval}: "
                             "events between two passes would never be searched")  # fmt: skip
        return self

    @classmethod
    def of(cls, settings: Settings) -> HuntSettings:
        lookback = settings.hunt_lookback_s
        return cls.model_validate({"interval": settings.hunt_interval_s, "overlap": settings.hunt_overlap_s,
                                   "lookback": lookback})  # fmt: skip

    @property
    def window(self) -> timedelta:
        return self.lookback if self.lookback is not None else self.interval + self.overlap


def pass_window(now: datetime, last_end: datetime | None, settings: HuntSettings) -> tuple[datetime, datetime]:
    """[start, end) of the pass at `now` for a rule whose last successful pass ended at `last_end`."""
    start = now - settings.window
    if last_end is not None:
        start = min(start, last_end - settings.overlap)
    return max(start, now - settings.max_catchup), now


class HuntCheckpoint(BaseModel):
    rule_id: str
    last_end: AwareDatetime
    written_at: AwareDatetime
    state: dict[str, Any] = Field(default_factory=dict)  # Hunter.snapshot()


class HuntCheckpointStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rule_id: str) -> Path:
        return self.root / f"{rule_id}.json"

    def load(self, rule_id: str) -> HuntCheckpoint | None:
        path = self.path(rule_id)
        try:
            return HuntCheckpoint.model_validate_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValidationError as exc:
            raise HuntCheckpointError(f"hunt checkpoint {path} is unreadable ({exc.errors()[0]['msg']}); "
                                      "move it away to restart this rule from its lookback") from exc  # fmt: skip

    def save(self, checkpoint: HuntCheckpoint) -> None:
        write_atomic(self.path(checkpoint.rule_id), checkpoint.model_dump_json().encode())


class HuntScheduler:
    def __init__(
        self,
        es: Elasticsearch,
        producer: KafkaProducer,
        conversion: Conversion,
        settings: HuntSettings,
        alerting: AlertingSettings,
        store: HuntCheckpointStore,
        clock: Clock = lambda: datetime.now(UTC),
        scope: Scope = None,
        switch: RuleSwitch | None = None,
    ) -> None:
        self.es = es
        self.producer = producer
        self.conversion = conversion
        self.settings = settings
        self.alerting = alerting
        self.store = store
        self.clock = clock
        self.scope = scope
        self.switch = switch  # None: every rule enabled
        self.metrics: Counter[str] = Counter()  # scans: walks over Elasticsearch; scanned: events they read
        self._engines: dict[frozenset[str], SigmaEngine] = {}  # an engine group's members → their engine
        self.stop_event = threading.Event()

    def run_pass(self, rule_ids: Iterable[str] | None = None) -> list[HuntResult]:
        """One pass of every converted rule (or of `rule_ids`); a rule (or an engine group) that fails is
        counted, logged, and retried over the same window by the next pass (its checkpoint does not move)."""
        now = self.clock()
        results: list[HuntResult] = []
        if self.switch is not None:
            self.switch.refresh()
        enabled: list[str] = []
        for rule_id in rule_ids or self.conversion.queries:
            if self.switch is not None and not self.switch.enabled(rule_id):
                self._pass_over(rule_id, now)
            else:
                enabled.append(rule_id)
        for rule_id in (r for r in enabled if self.conversion.queries[r].evaluation == "lucene"):
            try:
                results.append(self._run_rule(rule_id, now))
            except (ApiError, TransportError) as exc:
                self.metrics["rule_errors"] += 1
                log.warning("hunt of rule %s failed, retried next pass: %s", rule_id, exc)
        for group in engine_groups(self.conversion, enabled):
            for window, members in self._by_window(group.rule_ids, now).items():
                try:
                    results.extend(self._run_group(group, members, window, now))
                except (ApiError, TransportError) as exc:
                    self.metrics["rule_errors"] += len(members)
                    log.warning("engine hunt of %d rule(s) (%s...) failed, retried next pass: %s", len(members),
                                members[0], exc)  # fmt: skip
        self.metrics["passes"] += 1
        return results

    def _by_window(self, rule_ids: Iterable[str], now: datetime) -> dict[tuple[datetime, datetime], list[str]]:
        """Rules of one group by their pass window: the same in every pass where they all ran the last one
        (same `last_end`); a rule new to the schedule reaches back differently and walks on its own once,
        so no rule is searched outside its own window."""
        windows: dict[tuple[datetime, datetime], list[str]] = {}
        for rule_id in rule_ids:
            saved = self.store.load(rule_id)
            windows.setdefault(pass_window(now, saved.last_end if saved else None, self.settings), []).append(rule_id)
        return windows

    def _hunter(self, rule_id: str, saved: HuntCheckpoint | None) -> Hunter:
        hunter = Hunter(self.conversion.queries[rule_id], self.conversion.rules[rule_id], self.alerting)
        if saved is not None:
            hunter.restore(saved.state)
        return hunter

    def _run_rule(self, rule_id: str, now: datetime) -> HuntResult:
        saved = self.store.load(rule_id)
        hunter = self._hunter(rule_id, saved)
        start, end = pass_window(now, saved.last_end if saved else None, self.settings)
        result = hunter.run(self.es, start, end, now, by_ingested=True, scope=self.scope,
                            page_size=self.settings.page_size)  # fmt: skip
        self._done([(hunter, result)], now)
        return result

    def _run_group(
        self, group: EngineGroup, members: list[str], window: tuple[datetime, datetime], now: datetime
    ) -> list[HuntResult]:
        """One walk over the group's log source for `members` (one rule alone: its own one-rule engine)."""
        if len(members) == 1:
            return [self._run_rule(members[0], now)]
        key = frozenset(members)
        engine = self._engines.get(key)
        if engine is None:
            engine = self._engines[key] = group_engine(self.conversion, members)
        hunters = {rule_id: self._hunter(rule_id, self.store.load(rule_id)) for rule_id in members}
        start, end = window
        results = run_group(self.es, hunters, engine, group.logsource, start, end, now, by_ingested=True,
                            scope=self.scope, page_size=self.settings.page_size)  # fmt: skip
        self._done([(hunters[r.rule_id], r) for r in results], now)
        return results

    def _done(self, runs: list[tuple[Hunter, HuntResult]], now: datetime) -> None:
        """One walk's alerts flushed to Kafka before any of its rules' windows counts as done."""
        for _, result in runs:
            send_alerts(self.producer, result.alerts)
        self.producer.flush()
        for hunter, result in runs:
            self.store.save(HuntCheckpoint(rule_id=result.rule_id, last_end=result.end, written_at=now,
                                           state=hunter.snapshot()))  # fmt: skip
            self.metrics["events"] += result.new_events
            self.metrics["alerts_sent"] += len(result.alerts)
            self.metrics["rule_errors_on_events"] += result.rule_errors
        self.metrics["scans"] += 1
        self.metrics["scanned"] += runs[0][1].scanned

    def _pass_over(self, rule_id: str, now: datetime) -> None:
        """A disabled rule: its window moves on unsearched (its alerting state is kept as it was)."""
        saved = self.store.load(rule_id)
        self.store.save(HuntCheckpoint(rule_id=rule_id, last_end=now, written_at=now,
                                       state=saved.state if saved else {}))  # fmt: skip
        self.metrics["rules_disabled"] += 1

    def run(self, *, once: bool = False) -> None:
        """Pass after pass, one `interval` apart (a pass longer than the interval starts the next at once)."""
        while not self.stop_event.is_set():
            started = self.clock()
            self.run_pass()
            if once:
                return
            elapsed = (self.clock() - started).total_seconds()
            self.stop_event.wait(max(0.0, self.settings.interval.total_seconds() - elapsed))
