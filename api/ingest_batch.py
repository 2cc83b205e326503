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

from api.models.ingest import IngestRecord, TextBatch
from core.models.envelope import DeadLetter, RawEnvelope
from ingest.collectors.file_import import decode_line


@dataclass(frozen=True)
class Line:
    number: int  # 1-based, counting blank lines too, as an editor shows them
    item: RawEnvelope | DeadLetter


@dataclass(frozen=True)
class Batch:
    lines: list[Line]
    blank: int


def split_batch(
    body: bytes,
    *,
    text: TextBatch | None,
    default_source: str,
    max_line_bytes: int,
    received_at: datetime,
) -> Batch:
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
            item: RawEnvelope | DeadLetter = RawEnvelope.build(
                source=text.source,
                transport="http",
                raw=decode_line(line, max_line_bytes),
                position=position,
                format=text.format or "auto",
                received_at=received_at,
                timezone=text.timezone,
                category=text.category,
            )
        else:
            item = _json_record(line, number, position, default_source, max_line_bytes, received_at)
        lines.append(Line(number, item))
    # The body's final newline leaves one empty element that is not a line.
    if body.endswith(b"\n"):
        blank -= 1
    return Batch(lines, blank)


def _json_record(
    line: bytes, number: int, position: str, default_source: str, max_line_bytes: int, received_at: datetime
) -> RawEnvelope | DeadLetter:
    text = decode_line(line, max_line_bytes)

    def dead(reason: str) -> DeadLetter:
        stub = RawEnvelope.build(
            source=default_source, transport="http", raw=text, position=position, received_at=received_at
        )
        return DeadLetter.of(stub, "collect", f"line {number}: {reason}")

    if len(line) > max_line_bytes:
        return dead(f"{len(line)} bytes, over the {max_line_bytes}-byte line limit (kept cut)")
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
    return RawEnvelope.build(
        source=record.source or default_source,
        transport="http",
        raw=record.message,
        position=f"http:{record.position}" if record.position else position,
        format=record.format or "auto",
        received_at=received_at,
        timezone=record.timezone,
        category=record.category,
    )
