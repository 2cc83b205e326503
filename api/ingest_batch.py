"""An NDJSON body → one RawEnvelope per record, or a DeadLetter per line that cannot be one.

Lines are split on `\\n` only and decoded like the file collector does (`decode_line`). Record ids
are deterministic: a client that retries the same batch after a timeout produces the same ids,
and the create-only indexer keeps one copy. A line that is not a valid record is never dropped:
it becomes a dead letter (stage `collect`) with the reason and the raw text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from api.models.ingest import IngestRecord, IngestRecordBase, TextBatch
from core.models.envelope import DeadLetter, RawEnvelope
from ingest.collectors.lines import decode_line


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counting blank lines too, as an editor shows them
    item: RawEnvelope | DeadLetter


@dataclass(frozen=True)
class Batch:
    lines: list[Line]
    blank: int


@dataclass(frozen=True)
class Origin:
    """Where and when a batch arrived: the same for each of its records."""

    default_source: str  # JSON records without a `source`, and dead letters
    received_at: datetime
    peer: str | None  # the client address, kept on every envelope and dead letter
    max_line_bytes: int


def split_batch(body: bytes, *, text: TextBatch | None, origin: Origin) -> Batch:
    """`text` set: each line is a raw record of that source; else each line is an `IngestRecord` object."""
    batch_id = hashlib.sha256(body).hexdigest()[:16]
    lines: list[Line] = []
    blank = 0
    for number, raw_line in enumerate(body.split(b"\n"), start=1):
        line = raw_line.rstrip(b"\r")
        if not line.strip():
            blank += 1
            continue
        position = f"http:{batch_id}:{number}"
        if text is not None:
            item: RawEnvelope | DeadLetter = _envelope(
                origin, text, source=text.source, raw=decode_line(line, origin.max_line_bytes), position=position
            )
        else:
            item = _json_record(line, number, position, origin)
        lines.append(Line(number, item))
    # The body's final newline leaves one empty element that is not a line.
    if body.endswith(b"\n"):
        blank -= 1
    return Batch(lines, blank)


def _envelope(origin: Origin, spec: IngestRecordBase | None, *, source: str, raw: str, position: str) -> RawEnvelope:
    return RawEnvelope.build(
        source=source,
        transport="http",
        raw=raw,
        position=position,
        format=(spec.format if spec else None) or "auto",
        received_at=origin.received_at,
        timezone=spec.timezone if spec else None,
        category=spec.category if spec else None,
        peer=origin.peer,
    )


def _json_record(line: bytes, number: int, position: str, origin: Origin) -> RawEnvelope | DeadLetter:
    text = decode_line(line, origin.max_line_bytes)

    def dead(reason: str) -> DeadLetter:
        stub = _envelope(origin, None, source=origin.default_source, raw=text, position=position)
        return DeadLetter.of(stub, "collect", f"line {number}: {reason}")

    if len(line) > origin.max_line_bytes:
        return dead(f"{len(line)} bytes, over the {origin.max_line_bytes}-byte line limit (kept cut)")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return dead(f"not valid JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(value, dict):
        return dead(f"a JSON {type(value).__name__} where an object with a `message` is expected")
    try:
        record = IngestRecord.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'record'}: {error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        return dead(f"invalid record: {problems}")
    return _envelope(
        origin,
        record,
        source=record.source or origin.default_source,
        raw=record.message,
        position=f"http:{record.position}" if record.position else position,
    )
