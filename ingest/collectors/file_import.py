"""One-shot import of a log file into `vigil.raw` (`vigil ingest file PATH --format F`).

Text files are split on ``\\n`` only (never ``str.splitlines``: auditd's enriched records
contain ``\\x1d``), and each line's byte offset is its position, so importing the same file
twice yields the same record ids. `.evtx` files and Windows JSON exports go through
`windows_files` and keep their record numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from core.models.envelope import RawEnvelope, Transport
from core.names import Topic
from ingest.collectors.lines import decode_line, is_blank
from ingest.collectors.sink import raw_message

WINDOWS_EXPORT_SUFFIXES = {".evtx"}


def _text_lines(path: Path, max_line_bytes: int) -> Iterator[tuple[int, str]]:
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            start = offset
            offset += len(line)
            body = line.rstrip(b"\r\n")
            if not is_blank(body):
                yield start, decode_line(body, max_line_bytes)


def iter_file_envelopes(
    path: Path,
    *,
    source: str,
    fmt: str = "auto",
    timezone: str | None = None,
    max_line_bytes: int = 64 * 1024,
    received_at: datetime | None = None,
) -> Iterator[RawEnvelope]:
    received = received_at or datetime.now(UTC)
    transport: Transport = "file"
    records: Iterator[tuple[int, str]]
    if path.suffix.lower() in WINDOWS_EXPORT_SUFFIXES:
        from ingest.collectors.windows_files import iter_evtx

        records, transport, fmt = iter_evtx(path), "evtx", "windows"
    elif fmt == "windows" and path.suffix.lower() in {".json", ".jsonl"}:
        from ingest.collectors.windows_files import iter_json_export

        records, transport = iter_json_export(path), "json-export"
    else:
        records = _text_lines(path, max_line_bytes)
    resolved = str(path.resolve())
    for position, raw in records:
        yield RawEnvelope.build(
            source=source,
            transport=transport,
            raw=raw,
            position=f"{resolved}:{position}",
            format=fmt,
            received_at=received,
            timezone=timezone,
            path=resolved,
            offset=position,
        )


def publish(envelopes: Iterator[RawEnvelope], producer: object, progress: Callable[[int], None] | None = None) -> int:
    """Send envelopes to `vigil.raw` keyed by source; returns how many were sent (after flush)."""
    send = producer.send  # type: ignore[attr-defined]
    sent = 0
    for envelope in envelopes:
        key, value = raw_message(envelope)
        send(Topic.RAW.value, key=key, value=value)
        sent += 1
        if progress and sent % 1000 == 0:
            progress(1000)
    producer.flush()  # type: ignore[attr-defined]
    if progress:
        progress(sent % 1000)
    return sent
