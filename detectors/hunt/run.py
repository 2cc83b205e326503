"""One hunt: a converted rule over a time range → matching events → alerts on `vigil.alerts`.

Hits become the same `RuleMatch` the streaming engine yields and go through the same `Alerting`
(`sigma_draft`, dedup key, suppression window, rate cap) as the stream, so the same events give the
same alert ids and the alert store merges a hunt's alert into the stream's (triage untouched).
`hunt()` is the pure entry point the CLI and the API's hunt jobs call; `Hunter` keeps one rule's alerting
state and the ids it already counted between scheduled passes (a grouped scan, `group.py`, feeds several
Hunters from one walk). An engine hunt (`HuntQuery.evaluation`) reads
every event of the rule's log source and keeps those the stream's compiled rule matches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch
from kafka import KafkaProducer
from pydantic import AwareDatetime, BaseModel, Field

from core.errors import VigilError
from core.models.alert import Alert, AlertOrigin
from core.models.ecs import EcsEvent
from core.names import Topic
from detectors.alerting import Alerting, AlertingSettings
from detectors.hunt.convert import EvaluatedBy, HuntQuery
from detectors.hunt.search import iter_hits, time_filter
from detectors.sigma.engine import RuleMatch
from detectors.sigma.loader import RuleInfo
from detectors.sigma.view import FieldView, build_view

Scope = dict[str, Any] | None
Progress = Callable[[int, int], None]  # (events scanned, events matched) so far, after each page
Stop = Callable[[], bool]  # asked between pages: True stops the hunt (HuntStopped)


class HuntResult(BaseModel):
    rule_id: str
    start: AwareDatetime
    end: AwareDatetime
    by_ingested: bool = Field(description="the window also selected by event.ingested (scheduled passes)")
    evaluation: EvaluatedBy = Field(default="lucene", description="lucene: the query decided; engine: the rule")
    scanned: int = Field(default=0, description="events read from Elasticsearch (engine hunts: the log source)")
    events: int = Field(description="events the rule matched")
    new_events: int = Field(description="of which not already counted by an earlier, overlapping pass")
    rule_errors: int = Field(default=0, description="events on which the rule raised (engine hunts)")
    alerts: list[Alert] = Field(default_factory=list, description="alerts raised or updated (latest version)")
    dry_run: bool = False


class HuntStopped(VigilError):
    """The hunt was asked to stop (a cancelled job, a stopping API) between two pages: nothing is sent."""

    def __init__(self, scanned: int) -> None:
        super().__init__(f"hunt stopped after {scanned} events scanned")
        self.scanned = scanned


@dataclass
class Tally:
    """One run's counts for one rule (a grouped scan keeps one per rule of its group)."""

    scanned: int = 0
    events: int = 0
    new: int = 0
    errors: int = 0
    alerts: dict[str, Alert] = field(default_factory=dict)


def hunt_filter(query: dict[str, Any], start: datetime, end: datetime, *, by_ingested: bool,
                scope: Scope = None) -> dict[str, Any]:  # fmt: skip
    """What Elasticsearch runs: the window, the rule's query (an engine hunt's log source), the scope."""
    return {"bool": {"filter": [time_filter(start, end, by_ingested=by_ingested), query, *([scope] if scope else [])]}}


def between_pages(scanned: int, matched: int, progress: Progress | None, stop: Stop | None) -> None:
    if progress is not None:
        progress(scanned, matched)
    if stop is not None and stop():
        raise HuntStopped(scanned)


class Hunter:
    """One rule's hunting state: its alerting (open windows) and the matched event ids still inside
    the overlap, so an event seen by two overlapping passes is counted once."""

    def __init__(self, query: HuntQuery, info: RuleInfo, settings: AlertingSettings) -> None:
        self.query = query
        self.info = info
        self.alerting = Alerting(settings, {info.id: info}, AlertOrigin.HUNT)
        self.seen: dict[str, datetime] = {}  # event id → the later of its @timestamp and ingestion time

    def run(
        self, es: Elasticsearch, start: datetime, end: datetime, now: datetime, *, by_ingested: bool,
        scope: Scope = None, page_size: int = 1000, progress: Progress | None = None, stop: Stop | None = None,
    ) -> HuntResult:  # fmt: skip
        """Search [start, end), feed new matches to the alerting; returns the alerts to send.
        `scope`: an extra filter (one log source, one host) narrowing the hunt; `stop`: asked between
        pages, True raises `HuntStopped`."""
        tally = self.begin(start)
        query = hunt_filter(self.query.query(), start, end, by_ingested=by_ingested, scope=scope)
        for hit in iter_hits(es, query, page_size=page_size):
            tally.scanned += 1
            if tally.scanned % page_size == 0:
                between_pages(tally.scanned, tally.events, progress, stop)
            # The rule reads the stored document as it is (its view is the view of its model: the same
            # matches on 18,430 real events); validating the model costs ~35 µs per hit, and an engine
            # hunt rejects most hits of its log source.
            view = build_view(hit["_source"])
            verdict = self.query.evaluate(view)  # None: Elasticsearch already matched the rule
            if verdict is not None:
                tally.errors += len(verdict.errors)
                if not verdict.matches:
                    continue
            self.on_match(tally, hit["_id"], view, EcsEvent.model_validate(hit["_source"]), now)
        if progress is not None:
            progress(tally.scanned, tally.events)
        return self.finish(tally, start, end, now, by_ingested=by_ingested)

    def begin(self, start: datetime) -> Tally:
        self.seen = {k: t for k, t in self.seen.items() if t >= start}  # older ones cannot come back
        return Tally()

    def on_match(self, tally: Tally, doc_id: str, view: FieldView, event: EcsEvent, now: datetime) -> None:
        """One event the rule matched (`event`: the model the alerting reads)."""
        tally.events += 1
        event_id = view.event_id or doc_id  # the id the streaming engine reports
        if event_id in self.seen:
            return
        tally.new += 1
        self.seen[event_id] = max(event.timestamp, event.event.ingested or event.timestamp)
        match = RuleMatch(self.info.id, self.info.title, self.info.level, self.info.tags, event_id, self.info.name)
        tally.alerts.update((a.id, a) for a in self.alerting.on_match(match, event, now))

    def finish(self, tally: Tally, start: datetime, end: datetime, now: datetime, *, by_ingested: bool) -> HuntResult:
        tally.alerts.update((a.id, a) for a in self.alerting.on_tick(now))  # merged versions
        return HuntResult(rule_id=self.info.id, start=start, end=end, by_ingested=by_ingested,
                          evaluation=self.query.evaluation, scanned=tally.scanned, events=tally.events,
                          new_events=tally.new, rule_errors=tally.errors,
                          alerts=list(tally.alerts.values()))  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        return {"alerting": self.alerting.snapshot().model_dump(mode="json"),
                "seen": {k: t.isoformat() for k, t in self.seen.items()}}  # fmt: skip

    def restore(self, state: Mapping[str, Any]) -> None:
        self.alerting.restore(state.get("alerting") or {})
        self.seen = {k: datetime.fromisoformat(t) for k, t in (state.get("seen") or {}).items()}


def hunt(
    es: Elasticsearch,
    producer: KafkaProducer | None,
    query: HuntQuery,
    info: RuleInfo,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    settings: AlertingSettings | None = None,
    scope: Scope = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    stop: Stop | None = None,
    page_size: int = 1000,
) -> HuntResult:
    """A retro-hunt over event time [start, end): the alerts are produced to `vigil.alerts` unless
    `dry_run` (or no producer); either way they are returned. A hunt stopped midway (`HuntStopped`)
    sends nothing."""
    result = Hunter(query, info, settings or AlertingSettings()).run(
        es, start, end, now, by_ingested=False, scope=scope, page_size=page_size, progress=progress, stop=stop
    )
    if producer is not None and not dry_run:
        send_alerts(producer, result.alerts)
        producer.flush()
    return result.model_copy(update={"dry_run": dry_run or producer is None})


def send_alerts(producer: KafkaProducer, alerts: list[Alert]) -> None:
    """Keyed by entity like the stream's alerts, so every version of one alert lands in one partition."""
    for alert in alerts:
        value = alert.model_dump_json(by_alias=True, exclude_none=True).encode()
        producer.send(Topic.ALERTS.value, key=alert.entity.key.encode(), value=value)
