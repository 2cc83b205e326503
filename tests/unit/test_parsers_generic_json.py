"""Generic JSON lines → ECS with `JsonFieldMap`.

The application-log lines below are GENERATED in common shapes (logrus/zap/bunyan-style keys, ECS
loggers); the ECS document is the Elastic Agent event of samplelogs/windows_usb/test-6416.json.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.generic_json import MAX_LABEL_CHARS, MAX_LABELS, JsonFieldMap, parse_json
from tests.datasets import dataset

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_already_ecs_document() -> None:
    raw = json.dumps({
        "@timestamp": "2024-05-01T10:00:00.250Z", "message": "login failed",
        "source": {"ip": "203.0.113.5", "port": 50122}, "user": {"name": "bob", "domain": "CORP"},
        "event": {"action": "logon", "outcome": "failure", "category": ["authentication"]},
        "labels": {"team": "red"}, "tags": ["vpn"], "service": {"name": "sso"},
    })  # fmt: skip
    e = parse_json(raw, CTX)
    assert e.timestamp == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert e.message == "login failed" and e.tags == ["vpn"] and e.labels == {"team": "red"}
    assert e.source and (e.source.ip, e.source.port) == ("203.0.113.5", 50122)
    assert e.user and (e.user.name, e.user.domain) == ("bob", "CORP")
    assert (e.event.action, e.event.outcome, e.event.category) == ("logon", "failure", ["authentication"])
    assert e.service and e.service.name == "sso"
    assert e.event.dataset == "json.generic" and e.vigil.category == Category.SYSTEM
    assert e.event.original == raw


def test_dotted_ecs_keys_merge_with_nested_objects() -> None:
    raw = '{"@timestamp": "2024-05-01T10:00:00+08:00", "source.ip": "10.1.2.3", "source": {"port": 22}}'
    e = parse_json(raw, CTX)
    assert e.source and (e.source.ip, e.source.port) == ("10.1.2.3", 22)
    assert e.timestamp == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def test_common_application_keys() -> None:
    raw = json.dumps({
        "time": "2024-05-01 10:00:00", "msg": "request done", "level": "warn", "user": "alice",
        "uid": 1000, "host": "web1", "src_ip": "198.51.100.4", "status": "ok", "pid": "12",
        "latency_ms": 12.5, "ctx": {"req": {"id": "r-1"}, "retries": [1, 2]}, "debug": None, "ok": True,
    })  # fmt: skip
    e = parse_json(raw, CTX)
    assert e.timestamp == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # no offset: Asia/Shanghai
    assert e.message == "request done" and e.log and e.log.level == "warn"
    assert e.user and (e.user.name, e.user.id) == ("alice", "1000")  # numbers become text where ECS wants it
    assert e.host and e.host.name == "web1" and e.source and e.source.ip == "198.51.100.4"
    assert e.process and e.process.pid == 12
    # "ok" is not an HTTP status: it stays a label instead of breaking the event
    assert e.labels == {"status": "ok", "latency_ms": "12.5", "ctx_req_id": "r-1", "ctx_retries": "[1, 2]",
                        "ok": "true"}  # fmt: skip
    assert e.tags == [] and e.http is None


def test_epoch_timestamps_by_magnitude() -> None:
    for value in (1714557600, 1714557600123, "1714557600123456", 1714557600123456789, 1714557600.5):
        e = parse_json(json.dumps({"ts": value}), CTX)
        assert e.timestamp.replace(microsecond=0) == datetime(2024, 5, 1, 10, 0, tzinfo=UTC), value


def test_missing_or_unparseable_default_timestamp_uses_reception_time() -> None:
    e = parse_json('{"time": "5ms", "a": 1}', CTX)
    assert e.timestamp == CTX.received_at and e.tags == ["json_timestamp_missing"]
    assert e.labels == {"time": "5ms", "a": "1"}


def test_custom_field_map() -> None:
    fmap = JsonFieldMap(
        timestamp_field="meta.when", timestamp_format="%d/%m/%Y %H:%M", message_field="text",
        fields={"who": "user.name", "from": "source.ip", "meta.port": "source.port"},
        category=Category.USER, dataset="app.audit",
    )  # fmt: skip
    raw = '{"meta": {"when": "01/05/2024 10:00", "port": 443}, "text": "opened", "who": "eve", "from": "::1"}'
    e = parse_json(raw, CTX, fmap)
    assert e.timestamp == datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    assert e.message == "opened" and e.user and e.user.name == "eve"
    assert e.source and (e.source.ip, e.source.port) == ("::1", 443)
    assert e.event.dataset == "app.audit" and e.event.module == "app" and e.vigil.category == Category.USER
    assert e.labels == {}
    with pytest.raises(ParseError, match="no 'meta.when' field"):
        parse_json('{"text": "x"}', CTX, fmap)
    with pytest.raises(ParseError, match="is not a %d/%m/%Y %H:%M timestamp"):
        parse_json('{"meta": {"when": "2024-05-01"}}', CTX, fmap)


def test_invalid_ecs_groups_become_labels() -> None:
    # The Elastic Agent document: `event.code: 6416` is a number where ECS has text (accepted as text);
    # its winlog object carries keys the strict model does not know (provider_guid, api, process.thread),
    # so that group is kept as labels (bounded) instead of dead-lettering the event.
    doc = json.loads(dataset("samplelogs", "windows_usb", "test-6416.json").read_text())["events"][0]
    e = parse_json(json.dumps(doc, separators=(",", ":")), CTX)
    assert e.timestamp == datetime(2023, 1, 9, 7, 4, 28, 811000, tzinfo=UTC)
    assert e.message and e.message.startswith("A new external device was recognized")
    assert e.host and e.host.name == "Server2" and e.log and e.log.level == "information"
    assert e.event.code == "6416" and e.event.action == "Plug and Play Events"
    assert e.winlog is None and "json_ecs_invalid" in e.tags
    assert e.labels["winlog_event_id"] == "6416" and e.labels["winlog_channel"] == "Security"
    assert e.labels["agent_type"] == "winlogbeat"


def test_labels_are_bounded_and_say_so() -> None:
    raw = json.dumps({f"k{i:02}": "v" * (MAX_LABEL_CHARS + 10) for i in range(MAX_LABELS + 10)})
    e = parse_json(raw, CTX)
    assert len(e.labels) == MAX_LABELS and max(map(len, e.labels.values())) == MAX_LABEL_CHARS
    assert list(e.labels)[-1] == f"k{MAX_LABELS - 1:02}"
    assert {"json_labels_truncated", "json_label_value_truncated"} <= set(e.tags)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"a": 1,', r"invalid JSON at line 1 column 9 \(char 8\)"),
        ("not json", r"invalid JSON at line 1 column 1 \(char 0\): Expecting value"),
        ("[1, 2]", "JSON line is a list, expected an object"),
        ('"text"', "JSON line is a str, expected an object"),
    ],
)
def test_not_a_json_object(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_json(raw, CTX)
