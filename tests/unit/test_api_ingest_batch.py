"""NDJSON bodies → envelopes and dead letters: every line accounted for, ids deterministic."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from api.ingest_batch import Origin, split_batch
from api.models.ingest import TextBatch
from core.models.envelope import DeadLetter, RawEnvelope

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def split(body: bytes, text: TextBatch | None = None, max_line_bytes: int = 1024):  # type: ignore[no-untyped-def]
    origin = Origin(default_source="http-test", received_at=NOW, peer="10.1.2.3", max_line_bytes=max_line_bytes)
    return split_batch(body, text=text, origin=origin)


def test_json_lines_become_envelopes_and_bad_lines_dead_letters() -> None:
    lines = [
        json.dumps({"message": "Dec 10 06:55:46 LabSZ sshd[24200]: Failed password", "source": "ssh01"}),
        "",
        json.dumps({"message": "x", "format": "syslog", "timezone": "UTC", "category": "user"}),
        "not json at all",
        "[1, 2]",
        json.dumps({"msg": "typo"}),
        json.dumps({"message": "x", "format": "klingon"}),
        json.dumps({"message": "x", "timezone": "Mars/Base"}),
        '{"message": "\\ud800 half"}\r',  # CRLF line ending, lone surrogate
    ]
    batch = split("\n".join(lines).encode() + b"\n")
    assert batch.blank == 1
    assert [line.number for line in batch.lines] == [1, 3, 4, 5, 6, 7, 8, 9]
    kinds = [type(line.item).__name__ for line in batch.lines]
    assert kinds == ["RawEnvelope", "RawEnvelope", "DeadLetter", "DeadLetter", "DeadLetter", "DeadLetter",
                     "DeadLetter", "DeadLetter"]  # fmt: skip
    first, second = (line.item for line in batch.lines[:2])
    assert isinstance(first, RawEnvelope) and isinstance(second, RawEnvelope)
    assert (first.source, first.transport, first.format) == ("ssh01", "http", "auto")
    assert (second.source, second.format, second.timezone, second.category) == ("http-test", "syslog", "UTC", "user")
    reasons = [line.item.reason for line in batch.lines if isinstance(line.item, DeadLetter)]
    assert reasons[0].startswith("line 4: not valid JSON")
    assert reasons[1] == "line 5: a JSON list where an object with a `message` is expected"
    assert "msg" in reasons[2] and "Extra inputs" in reasons[2]
    assert "unknown format 'klingon'" in reasons[3]
    assert "unknown time zone 'Mars/Base'" in reasons[4]
    assert "unicode" in reasons[5]  # a lone surrogate could not even be serialised onto Kafka
    letters = [line.item for line in batch.lines if isinstance(line.item, DeadLetter)]
    assert all(d.stage == "collect" and d.source == "http-test" and d.transport == "http" for d in letters)
    assert {d.peer for d in letters} == {first.peer} == {"10.1.2.3"}  # who sent it stays on the record
    assert letters[0].raw == "not json at all"


def test_ids_are_deterministic_per_batch_and_position() -> None:
    body = b'{"message": "a"}\n{"message": "a"}\n{"message": "b", "position": "web01.log:42"}\nbad\n'
    once, again = split(body), split(body)
    ids = [line.item.id for line in once.lines]
    assert ids == [line.item.id for line in again.lines]  # a retried batch lands once
    assert len(set(ids)) == 4  # the same text on two lines is two records
    other = split(b'{"message": "b", "position": "web01.log:42"}\n')
    assert other.lines[0].item.id == once.lines[2].item.id  # client positions survive re-batching


def test_text_mode_keeps_every_line_raw() -> None:
    text = TextBatch(source="fw01", format="kv_firewall", timezone="Asia/Shanghai")
    body = b'{"message": "looks like json"}\n\xc3\x28 invalid utf-8\n' + b"Z" * 2000 + b"\n\n"
    batch = split(body, text)
    assert batch.blank == 1 and len(batch.lines) == 3
    items = [line.item for line in batch.lines]
    assert all(isinstance(i, RawEnvelope) and i.source == "fw01" and i.format == "kv_firewall" for i in items)
    assert items[0].raw == '{"message": "looks like json"}'
    assert items[1].raw == "\\udcc3( invalid utf-8"  # visible escape, as the file collector keeps it
    assert items[2].raw == "Z" * 1024  # cut like the file collector, the normaliser explains it


def test_oversized_json_line_is_dead_lettered_with_the_size() -> None:
    line = json.dumps({"message": "y" * 3000}).encode()
    batch = split(line, max_line_bytes=1024)
    item = batch.lines[0].item
    assert isinstance(item, DeadLetter)
    assert f"{len(line)} bytes, over the 1024-byte line limit" in item.reason
    assert len(item.raw) == 1024
