"""`vigil.alerts` → Elasticsearch `vigil-alerts`, one document per alert id.

The first message of an alert creates the document (`create`: the whole alert; no read). Every later
message with the same id (a suppression merge, the stream re-emitting after a restart, a hunt that found
the same events) is a partial `doc` update of the detection fields ONLY: `event_count`, `event_ids`,
`first_seen`, `last_seen`, plus `severity` and `summary` (whose text says how many events). Triage
fields (status, assignee, history) are never in that partial document, so nothing the pipeline sends
can overwrite what an officer set. No scripting is needed (the local Elasticsearch has no painless):
the merge is computed here from the stored values (realtime `mget`), monotonically (max count, union
of ids, widest time range, highest severity, the summary of the version with the most events), so a
replayed older version never shrinks an alert. All versions of one alert share a partition key (its
entity), so one consumer merges them in order. Offsets are committed only after Elasticsearch
acknowledged the bulk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, TypeVar

from elastic_transport import ObjectApiResponse
from elasticsearch import ApiError, Elasticsearch, TransportError
from pydantic import AwareDatetime, BaseModel, ValidationError

from core import clients
from core.clients import commit, poll_batches
from core.errors import VigilError
from core.index_templates import install_templates
from core.models.alert import Alert, Severity, Summary
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings

log = logging.getLogger(__name__)

DETECTION_FIELDS = ("event_count", "event_ids", "first_seen", "last_seen", "severity", "summary")
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
T = TypeVar("T")


class AlertStoreError(VigilError):
    """Elasticsearch refused an alert for good (mapping conflict...): a defect to fix, not to skip."""


class Detection(BaseModel):
    """The fields a repeat of an alert may change; everything else is written once, at creation."""

    event_count: int
    event_ids: list[str]
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    severity: Severity
    summary: Summary

    @classmethod
    def of(cls, alert: Alert | Mapping[str, Any]) -> Detection:
        source = alert.model_dump(include=set(DETECTION_FIELDS)) if isinstance(alert, Alert) else alert
        return cls.model_validate({k: source.get(k) for k in DETECTION_FIELDS})

    def merged(self, other: Detection, max_ids: int | None) -> Detection:
        """Both versions combined, never shrinking: a replayed older version changes nothing."""
        known = set(self.event_ids)
        ids = self.event_ids + [e for e in other.event_ids if e not in known]
        if max_ids is not None:
            ids = ids[: max(max_ids, len(self.event_ids))]
        count = max(self.event_count, other.event_count, len(ids))
        return Detection(
            event_count=count,
            event_ids=ids,
            first_seen=min(self.first_seen, other.first_seen),
            last_seen=max(self.last_seen, other.last_seen),
            severity=max(self.severity, other.severity, key=lambda s: s.rank),
            summary=other.summary if other.event_count >= self.event_count else self.summary,
        )


def latest_versions(values: Iterable[bytes], metrics: dict[str, int] | None = None) -> dict[str, Alert]:
    """One alert per id from a batch of messages, later versions merged over earlier ones."""
    out: dict[str, Alert] = {}
    for value in values:
        try:
            alert = Alert.model_validate_json(value)
        except ValidationError as exc:
            if metrics is not None:
                metrics["invalid"] = metrics.get("invalid", 0) + 1
            log.error("message on vigil.alerts is not an alert, skipped: %s: %r", exc.errors()[0], value[:500])
            continue
        previous = out.get(alert.id)
        if previous is not None:
            merged = Detection.of(previous).merged(Detection.of(alert), max_ids=None)
            alert = previous.model_copy(update=dict(merged))
        out[alert.id] = alert
    return out


class RecentIds:
    """The ids of the alerts this store wrote lately, at most `cap` (the oldest forgotten first): a repeat
    of one goes straight to the merge instead of a `create` that Elasticsearch would refuse."""

    def __init__(self, cap: int = 100_000) -> None:
        self.cap = cap
        self._ids: dict[str, None] = {}  # insertion order: the oldest first

    def __contains__(self, alert_id: object) -> bool:
        return alert_id in self._ids

    def add(self, alert_ids: Iterable[str]) -> None:
        for alert_id in alert_ids:
            self._ids.pop(alert_id, None)
            self._ids[alert_id] = None
        while len(self._ids) > self.cap:
            del self._ids[next(iter(self._ids))]


def write_alerts(es: Elasticsearch, alerts: Mapping[str, Alert], max_ids: int, recent: RecentIds | None = None) -> None:
    """Create or merge every alert; raises TransportError/ApiError when worth retrying.

    An alert not in `recent` is first written with `create`: a new alert (nearly every first version)
    costs Elasticsearch no read at all, where `update` + `upsert` did two (the `mget` and the update's
    own get, bench/README.md tenth pass). One refused as existing (409: a restart re-emitting, a hunt
    finding the same events) and every alert in `recent` is read (realtime `mget`) and merged with a
    partial `update`, exactly as before: the document an alert creates and the merge are the same."""
    if not alerts:
        return
    known: RecentIds | tuple[()] = recent if recent is not None else ()
    repeats = [alert_id for alert_id in alerts if alert_id in known]
    new = [alert for alert_id, alert in alerts.items() if alert_id not in known]
    if new:
        creates: list[dict[str, Any]] = []
        for alert in new:
            creates += [{"create": {"_index": ALERTS_INDEX, "_id": alert.id}}, alert.to_document()]
        # The refresh goes with the last request of the batch: the merge below when there are repeats.
        repeats += _refused(es.bulk(operations=creates, refresh=not repeats), "create")
    if repeats:
        _merge(es, {alert_id: alerts[alert_id] for alert_id in repeats}, max_ids)
    if recent is not None:
        recent.add(alerts)


def _merge(es: Elasticsearch, alerts: Mapping[str, Alert], max_ids: int) -> None:
    found = es.mget(index=ALERTS_INDEX, ids=list(alerts), source_includes=list(DETECTION_FIELDS))
    stored = {d["_id"]: d.get("_source", {}) for d in found["docs"] if d.get("found")}
    operations: list[dict[str, Any]] = []
    for alert_id, alert in alerts.items():
        detection = Detection.of(alert)
        if (previous := stored.get(alert_id)) is not None:
            detection = Detection.of(previous).merged(detection, max_ids)
        operations.append({"update": {"_index": ALERTS_INDEX, "_id": alert_id, "retry_on_conflict": 3}})
        operations.append({"doc": detection.model_dump(mode="json", by_alias=True), "upsert": alert.to_document()})
    # Searchable at once: the officers' queue (and the API) sees an alert as soon as it is acknowledged,
    # not after the next periodic refresh; vigil-alerts is small and one bulk carries a whole poll.
    # `wait_for` was measured no cheaper at a few alerts a second (one scheduled refresh per second does
    # the same work) and made every alert up to a second later (bench/README.md, fifth pass).
    _refused(es.bulk(operations=operations, refresh=True), "update")


def _refused(response: ObjectApiResponse[Any], action: str) -> list[str]:
    """The ids a bulk's `create`s were refused as existing (409); raises for any other failure."""
    if not response.get("errors"):
        return []
    exists: list[str] = []
    for item in response["items"]:
        result = item[action]
        status = result.get("status", 500)
        if action == "create" and status == 409:
            exists.append(result["_id"])
        elif status in RETRYABLE_STATUS:
            raise TransportError(f"alert {result.get('_id')} failed with {status}: retry the batch")
        elif status >= 300:
            raise AlertStoreError(f"vigil-alerts refused alert {result.get('_id')}: {result.get('error')}")
    return exists


class AlertStore:
    def __init__(self, settings: Settings, es: Elasticsearch | None = None) -> None:
        self.settings = settings
        self.es = es or clients.es_client(settings)
        self.stop_event = threading.Event()
        self.metrics: dict[str, int] = {"messages": 0, "alerts_written": 0, "bulks": 0, "retries": 0}
        self.recent = RecentIds()

    def run(self, idle_exit_s: float | None = None) -> None:
        clients.ensure_topics(self.settings)
        self._until_acknowledged(partial(install_templates, self.es, self.settings))
        consumer = clients.consumer(self.settings, self.settings.alerts_group, Topic.ALERTS.value)
        try:
            # One bulk (and one refresh) per burst: Elasticsearch's cost is per request, hardly per alert.
            fill_s = self.settings.alert_store_fill_ms / 1000
            for records in poll_batches(consumer, self.stop_event, self.settings.batch_size, idle_exit_s, fill_s):
                alerts = latest_versions((r.value for r in records), self.metrics)
                write = partial(write_alerts, self.es, alerts, self.settings.alert_max_event_ids, self.recent)
                self._until_acknowledged(write)
                commit(consumer)  # only now: the whole batch is acknowledged by Elasticsearch
                self.metrics["messages"] += len(records)
                self.metrics["alerts_written"] += len(alerts)
                self.metrics["bulks"] += 1 if alerts else 0
        finally:
            consumer.close()

    def _until_acknowledged(self, call: Callable[[], T]) -> T:
        """Retry through an Elasticsearch outage with backoff; nothing is committed meanwhile. The
        group session stays alive: kafka-python heartbeats from its own thread."""
        delay = 0.5
        while True:
            try:
                return call()
            except (TransportError, ApiError, ConnectionError) as exc:
                status = getattr(getattr(exc, "meta", None), "status", None)
                if isinstance(exc, ApiError) and status not in RETRYABLE_STATUS:
                    raise
                self.metrics["retries"] += 1
                log.warning("Elasticsearch unavailable (%s); retrying in %.1fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 15.0)
