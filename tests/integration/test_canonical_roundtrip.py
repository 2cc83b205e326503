"""The canonical form survives Elasticsearch: documents with awkward values (floats, unicode, nested and
empty objects and arrays, 64-bit and larger integers) go through the normaliser's encoding, Kafka and the
real indexer (whose ledger digest is the SHA-256 of the value bytes), and verify clean from what
Elasticsearch returns; a one-ulp change of a float is caught.

Day 1995-05-05: no other test of the session writes it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.canonical import canonical_bytes
from core.index_templates import install_templates
from core.ledger_store import read_index
from core.models.ecs import EcsEvent, Winlog
from core.names import Category
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import Indexer
from ingest.normaliser import encode_result, normalise
from retention.integrity import verify_day
from stack.local import LocalStack
from tests.datasets import dataset
from tests.integration.events_support import produce_events, start_indexer_at_end

pytestmark = pytest.mark.integration

AT = datetime(1995, 5, 5, 10, tzinfo=UTC)
AWKWARD: list[dict[str, Any]] = [
    {"floats": [0.1, 1e16, 1e-7, -0.0, 3.0, 1.7976931348623157e308, 5e-324, 123456.789, 2.5e-5]},
    {"text": 'é中文🙂 tab\t nul\u0000 quote" back\\ slash/ \u2028\u2029 \u007f', "ünï": "κλειδί"},
    {"nested": {"b": {"z": 1, "a": [{"y": 2.5, "x": [1, [2, [3]]]}]}, "a": {"c": {"d": {"e": "deep"}}}}},
    {"empty_object": {}, "empty_array": [], "empty_string": "", "nested_empty": {"a": {}, "b": [[]]}},
    {"ints": [9223372036854775807, -9223372036854775808, 0, -1]},
    {"beyond": {"unsigned_max": 18446744073709551615, "big": 2**70, "negative": -(2**70)}},
]


@pytest.fixture(scope="module")
def settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url,
                    data_dir=tmp_path_factory.mktemp("canonical"), indexer_group="idx-canonical-test",
                    bulk_fill_ms=200)  # fmt: skip


@pytest.fixture(scope="module")
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(settings)
    yield client
    client.close()


def awkward_events(settings: Settings) -> list[EcsEvent]:
    """A real OpenSSH event, re-dated and carrying each awkward payload in `winlog.event_data` (dynamic)."""
    envelopes = iter_file_envelopes(dataset("loghub", "OpenSSH", "OpenSSH_2k.log"), source="canon", received_at=AT)
    base = next(r for r in (normalise(e, settings.zone) for e in islice(envelopes, 10)) if isinstance(r, EcsEvent))
    return [
        base.model_copy(
            update={
                "timestamp": AT,
                "event": base.event.model_copy(update={"id": f"canonical-{n}"}),
                "winlog": Winlog(event_data=payload),
            }
        )  # fmt: skip
        for n, payload in enumerate(AWKWARD)
    ]


def test_awkward_documents_round_trip_to_the_same_bytes_and_verify_clean(es: Elasticsearch, settings: Settings) -> None:
    install_templates(es, settings)
    events = awkward_events(settings)
    index = f"logs-{events[0].vigil.category}-1995.05.05"
    # Dynamic mapping would make `floats` a float (1.8e308 refused); integers beyond a long cannot be
    # mapped as numbers at all: the object holding them is kept in _source, not indexed.
    fields = {"floats": {"type": "double"}, "beyond": {"type": "object", "enabled": False}}
    winlog = {"properties": {"event_data": {"properties": fields}}}
    es.indices.create(index=index, mappings={"properties": {"winlog": winlog}})
    try:
        sent = {e.event.id: encode_result(e)[2] for e in events}
        start_indexer_at_end(settings)
        produce_events(settings, events)
        indexer = Indexer(settings)
        thread = threading.Thread(target=indexer.run, kwargs={"idle_exit_s": 6})
        thread.start()
        thread.join(timeout=300)
        assert not thread.is_alive() and indexer.indexed == len(events)

        for doc_id, value in sent.items():
            assert canonical_bytes(es.get(index=index, id=doc_id)["_source"]) == value, doc_id
        (_, entry), *more = read_index(es, index).batches
        assert not more and entry.docs == {doc_id: hashlib.sha256(value).hexdigest() for doc_id, value in sent.items()}
        (record,) = verify_day(es, settings, AT.date(), AT, Category(events[0].vigil.category), store=False)
        assert (record.clean, record.expected_docs, record.found_docs) == (True, len(events), len(events)), record

        source = es.get(index=index, id="canonical-0")["_source"]
        source["winlog"]["event_data"]["floats"][0] = 0.10000000000000002  # the next double after 0.1
        es.index(index=index, id="canonical-0", document=source, refresh=True)
        (record,) = verify_day(es, settings, AT.date(), AT, Category(events[0].vigil.category), store=False)
        assert [issue.id for issue in record.modified] == ["canonical-0"] and not record.clean
    finally:  # 1995 is past retention for the tests that run the job at a later `now`
        es.indices.delete(index=index, ignore_unavailable=True)
