"""The canonical form (core.canonical): what both ends of the ledger compute must agree byte for byte."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from core.canonical import CANONICAL_FORM, CanonicalJson, canonical_bytes, canonical_json, doc_sha256, json_sha256
from core.models.ecs import EcsEvent
from core.names import CANONICAL_HEADER, INDEX_HEADER, Topic
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import bulk_actions
from ingest.normaliser import encode_result, normalise
from tests.datasets import dataset

AWKWARD: list[Any] = [
    {"b": 1, "a": {"d": [], "c": {}}, "é": 1.0, "z": 1e16, "n": None, "t": True},
    {"floats": [0.1, -0.0, 5e-324, 1.7976931348623157e308, 123456.789], "s": '中文🙂\u0000"\\\u2028'},
    {"ints": [2**63 - 1, -(2**63), 2**64 - 1]},
    {"beyond": 2**70, "negative": -(2**70)},  # orjson cannot write these: the json module's form
    {"lone": "\ud800"},
]


@pytest.mark.parametrize("source", AWKWARD)
def test_the_form_is_a_fixed_point_of_decoding(source: dict[str, Any]) -> None:
    """What Elasticsearch returns (the stored bytes, decoded) canonicalises to the bytes that were sent."""
    sent = canonical_bytes(source)
    assert canonical_bytes(json.loads(sent.decode("utf-8", "surrogatepass"))) == sent
    assert json_sha256(sent) == doc_sha256(source) == hashlib.sha256(sent).hexdigest()


def test_keys_are_sorted_at_every_level_without_whitespace() -> None:
    expected = '{"a":"é","b":{"x":[{"c":2,"d":1}],"y":1}}'
    assert canonical_json({"b": {"y": 1, "x": [{"d": 1, "c": 2}]}, "a": "é"}) == expected
    assert doc_sha256({"a": 1, "b": 2}) == doc_sha256({"b": 2, "a": 1}) != doc_sha256({"a": 1, "b": 3})


def test_only_bytes_marked_canonical_are_hashed_as_they_are() -> None:
    loose = b'{"b": 1, "a": 2}'
    assert json_sha256(loose) == doc_sha256({"a": 2, "b": 1}) != hashlib.sha256(loose).hexdigest()
    assert json_sha256(CanonicalJson(loose)) == hashlib.sha256(loose).hexdigest()


def test_the_normaliser_emits_canonical_documents_the_indexer_trusts() -> None:
    settings = Settings()
    received = datetime(2026, 12, 1, tzinfo=UTC)
    envelopes = iter_file_envelopes(dataset("loghub", "OpenSSH", "OpenSSH_2k.log"), source="t", received_at=received)
    events = [r for r in (normalise(e, settings.zone) for e in envelopes) if isinstance(r, EcsEvent)][:200]
    assert len(events) == 200
    for event in events:
        topic, _, value, headers = encode_result(event)
        assert (CANONICAL_HEADER, CANONICAL_FORM) in headers
        assert value == canonical_bytes(json.loads(value)) == canonical_bytes(event.to_document())
        index, doc_id, body = bulk_actions(topic, value, headers)
        assert isinstance(body, CanonicalJson) and body == value and doc_id == event.event.id
        # Another form (or none) named in the header: the bytes are not trusted to be canonical.
        other = [(k, b"another-form" if k == CANONICAL_HEADER else v) for k, v in headers]
        assert not isinstance(bulk_actions(topic, value, other)[2], CanonicalJson)
    assert not isinstance(bulk_actions(Topic.EVENTS.value, value, [(INDEX_HEADER, b"x")])[2], CanonicalJson)
