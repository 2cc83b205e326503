"""Pure logic of the normaliser, the indexer's document routing and the file import."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from core.models.ecs import EcsEvent
from core.models.envelope import DeadLetter, RawEnvelope
from core.names import Topic
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import bulk_actions
from ingest.normaliser import decode_envelope, encode_result, normalise

SHANGHAI = ZoneInfo("Asia/Shanghai")
RECEIVED = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def envelope(raw: str, fmt: str = "auto", position: str = "1") -> RawEnvelope:
    return RawEnvelope.build(source="unit", transport="cli", raw=raw, position=position, format=fmt,
                             received_at=RECEIVED)  # fmt: skip


def test_sshd_line_becomes_an_event_with_the_envelope_id() -> None:
    env = envelope("Nov 23 10:01:02 web01 sshd[42]: Failed password for root from 203.0.113.9 port 5555 ssh2")
    result = normalise(env, SHANGHAI)
    assert isinstance(result, EcsEvent)
    assert result.event.id == env.id and result.vigil.raw_id == env.id
    assert result.timestamp == datetime(2026, 11, 23, 2, 1, 2, tzinfo=UTC)  # 10:01 Shanghai
    assert result.source and result.source.ip == "203.0.113.9"
    assert result.vigil.entity == "user:root"


def test_source_zone_overrides_the_default() -> None:
    env = envelope("Nov 23 10:01:02 web01 sshd[42]: Accepted password for bob from 10.0.0.1 port 1 ssh2")
    env = env.model_copy(update={"timezone": "UTC"})
    result = normalise(env, SHANGHAI)
    assert isinstance(result, EcsEvent)
    assert result.timestamp == datetime(2026, 11, 23, 10, 1, 2, tzinfo=UTC)


def test_garbage_is_dead_lettered_with_a_reason() -> None:
    for raw in ["\x00\x01\x02 binary", "   ", "just some words", "{not json"]:
        result = normalise(envelope(raw), SHANGHAI)
        assert isinstance(result, DeadLetter), raw
        assert result.stage == "normalise" and result.reason and result.raw == raw


def test_unknown_format_name_is_reported() -> None:
    result = normalise(envelope("hello", fmt="nope"), SHANGHAI)
    assert isinstance(result, DeadLetter) and "unknown format 'nope'" in result.reason


def test_a_message_that_is_not_an_envelope_is_dead_lettered() -> None:
    result = decode_envelope(b'{"hello": 1}', partition=2, offset=7)
    assert isinstance(result, DeadLetter)
    assert "invalid envelope" in result.reason and result.raw == '{"hello": 1}'


def test_record_ids_are_deterministic_and_position_sensitive() -> None:
    assert envelope("x", position="a:1").id == envelope("x", position="a:1").id
    assert envelope("x", position="a:1").id != envelope("x", position="a:2").id


def test_bulk_actions_route_by_category_and_event_day() -> None:
    event = normalise(envelope("Nov 23 07:59:00 h sshd[1]: Invalid user zz from 198.51.100.1 port 22"), SHANGHAI)
    assert isinstance(event, EcsEvent)
    index, doc_id, doc = bulk_actions(Topic.EVENTS.value, event.model_dump_json(by_alias=True).encode())
    assert index == "logs-user-2026.11.22"  # 07:59 Shanghai is the previous UTC day
    assert doc_id == event.event.id and doc["@timestamp"].startswith("2026-11-22T23:59:00")
    letter = normalise(envelope("garbage here"), SHANGHAI)
    assert isinstance(letter, DeadLetter)
    index, doc_id, doc = bulk_actions(Topic.DEADLETTER.value, letter.model_dump_json(by_alias=True).encode())
    assert index == "vigil-deadletter-2026.11.23" and doc_id == letter.id and doc["reason"]


def test_routing_headers_name_the_same_index_and_id_as_decoding_the_document() -> None:
    """The normaliser's headers let the indexer skip decoding; both ways must route identically."""
    lines = ["Nov 23 07:59:00 h sshd[1]: Invalid user zz from 198.51.100.1 port 22", "garbage here"]
    for result in (normalise(envelope(line, position=line), SHANGHAI) for line in lines):
        topic, _, value, headers = encode_result(result)
        index, doc_id, body = bulk_actions(topic, value, headers)
        decoded_index, decoded_id, doc = bulk_actions(topic, value)
        assert (index, doc_id) == (decoded_index, decoded_id)
        assert body == value  # sent to Elasticsearch untouched
        assert json.loads(body) == doc  # and nothing the decoding path would have added is missing


def test_file_import_keeps_bad_lines_and_uses_byte_offsets(tmp_path: Path) -> None:
    path = tmp_path / "mixed.log"
    good = b"Nov 23 10:01:02 web01 sshd[42]: Accepted password for bob from 10.0.0.1 port 1 ssh2\n"
    path.write_bytes(good + b"\xff\xfe invalid utf-8\n\n" + b"A" * 100 + b"\n")
    envelopes = list(iter_file_envelopes(path, source="f", max_line_bytes=50))
    assert [e.offset for e in envelopes] == [0, len(good), len(good) + 18]  # blank line skipped, still counted
    assert "\\udcff" in envelopes[1].raw  # invalid bytes kept visibly, not dropped
    assert len(envelopes[2].raw) == 50
    again = list(iter_file_envelopes(path, source="f", max_line_bytes=50))
    assert [e.id for e in envelopes] == [e.id for e in again]
    json.loads(envelopes[1].model_dump_json())  # still serialisable for Kafka
