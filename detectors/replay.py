"""Forensic replay (`vigil detect replay`): log files → the same parsers and detection pipeline as the
stream, without Kafka or Elasticsearch; the final version of every alert.

Files are read by the import collector (`.evtx`, Windows JSON exports, text lines) and normalised by
the normaliser's own function, so a replayed record becomes exactly the event the stream would see.
Time is the events' own: "now" follows the latest event time, so suppression, rate caps and the
alerts' timestamps come out the same on every run and match what the stream raised for those events.
The input ends with `DetectionPipeline.finish`: one tick past the latest event + the late allowance +
the longest correlation timespan, so the windows still open at the end of the files are decided.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from core.models.alert import Alert
from core.models.ecs import EcsEvent
from core.models.envelope import DeadLetter
from detectors.pipeline import DetectionPipeline
from ingest.collectors.file_import import iter_file_envelopes
from ingest.normaliser import normalise
from ingest.parsers.detect import detect_format

TICK_EVERY = 1000  # events between ticks: detectors close windows, merged alerts are collected
_SNIFF_BYTES = 4096


class ReplayResult(BaseModel):
    alerts: list[Alert]
    events: int = 0
    deadletters: int = 0
    deadletter_reasons: dict[str, int] = Field(default_factory=dict)
    rule_errors: dict[str, int] = Field(default_factory=dict)


def log_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given, and every file under a given directory (sorted), hidden files left out."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        else:
            out.append(path)
    return out


def sniff_format(path: Path, fmt: str) -> str:
    """`auto` resolved for whole-file layouts: a Windows JSON export (lines, array or pretty-printed)
    must go through the export reader, which only `windows` selects; other files stay per-line `auto`."""
    if fmt != "auto" or path.suffix.lower() == ".evtx":
        return fmt
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    text = head.decode(encoding, "replace").lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        text = text[1:].lstrip()
    return "windows" if text.startswith("{") and detect_format(text) == "windows" else fmt


def read_events(
    paths: Sequence[Path], fmt: str, zone: ZoneInfo, *, timezone: str | None = None, max_line_bytes: int = 64 * 1024
) -> Iterator[tuple[Path, EcsEvent | DeadLetter]]:
    for path in log_files(paths):
        envelopes = iter_file_envelopes(path, source=path.name, fmt=sniff_format(path, fmt), timezone=timezone,
                                        max_line_bytes=max_line_bytes)  # fmt: skip
        for envelope in envelopes:
            yield path, normalise(envelope, zone)


class _EventClock:
    """'Now' in a replay: the latest event time seen (never going back on out-of-order files)."""

    def __init__(self) -> None:
        self.now: datetime | None = None

    def observe(self, ts: datetime) -> datetime:
        if self.now is None or ts > self.now:
            self.now = ts
        return self.now


def replay(
    items: Iterable[tuple[Path, EcsEvent | DeadLetter]],
    pipeline: DetectionPipeline,
    progress: Callable[[Path], None] | None = None,
) -> ReplayResult:
    """Run every event through the pipeline; the alerts in the order they were first raised."""
    latest: dict[str, Alert] = {}
    result = ReplayResult(alerts=[])
    clock = _EventClock()
    errors_before = dict(pipeline.engine.error_counts)
    for path, item in items:
        if progress is not None:
            progress(path)
        if isinstance(item, DeadLetter):
            result.deadletters += 1
            reason = item.reason.split(":")[0][:80]
            result.deadletter_reasons[reason] = result.deadletter_reasons.get(reason, 0) + 1
            continue
        result.events += 1
        now = clock.observe(item.timestamp)
        for alert in pipeline.on_event(item, now):
            latest[alert.id] = alert
        if result.events % TICK_EVERY == 0:
            for alert in pipeline.on_tick(now):
                latest[alert.id] = alert
    if clock.now is not None:
        for alert in pipeline.finish(clock.now):
            latest[alert.id] = alert
    result.alerts = list(latest.values())
    result.rule_errors = {
        rule: n - errors_before.get(rule, 0)
        for rule, n in pipeline.engine.error_counts.items()
        if n > errors_before.get(rule, 0)
    }
    return result


def alert_line(alert: Alert) -> dict[str, object]:
    """What `vigil detect replay` prints per alert (one JSON object per line)."""
    return {
        "id": alert.id,
        "rule_id": alert.rule.id,
        "title": alert.rule.title,
        "kind": alert.rule.kind.value,
        "severity": alert.severity.value,
        "attack": alert.attack,
        "entity": alert.entity.key,
        "event_count": alert.event_count,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "playbook": alert.playbook,
        "summary": alert.summary.en,
    }
