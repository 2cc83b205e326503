"""The integrity ledger on the real stack: real loghub lines through the normaliser and the real
indexer (which writes the ledger), then tampering directly in Elasticsearch, a redelivery, a
retention deletion and a restore.

The lines are "received" on 1996-12-31, so their syslog timestamps fall in 1996: daily indices no
other test of the session writes, and at `RETENTION_NOW` only this module's Linux days are past
retention (the retention tests work in 1998–99, the other corpora land in 2005 onwards).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core import clients
from core.ledger import parse_logs_index
from core.ledger_store import read_index
from core.models.ecs import EcsEvent
from core.names import LEDGER_INDEX, Category
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import Indexer
from ingest.normaliser import normalise
from reports.patrol import integrity_section
from retention import job
from retention.archive import restore_day
from retention.integrity import verify_day
from stack.local import LocalStack
from tests.datasets import dataset
from tests.integration.events_support import produce_events, start_indexer_at_end

pytestmark = pytest.mark.integration

RECEIVED = datetime(1996, 12, 31, 12, tzinfo=UTC)
# OpenSSH: two UTC days in December; the first 280 Linux lines: ~10 days of June (the whole file spans 44
# days, each one more index for retention to archive and delete).
FILES = [(("loghub", "OpenSSH", "OpenSSH_2k.log"), None), (("loghub", "Linux", "Linux_2k.log"), 280)]
RETENTION_NOW = datetime(1996, 10, 1, tzinfo=UTC)  # the Linux days (June) are past 60 days, December is not
NOW = datetime(1997, 1, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Batches of 500: a day's chain has several entries.
    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url,
                    data_dir=tmp_path_factory.mktemp("ledger"), indexer_group="idx-ledger-test",
                    batch_size=500, bulk_fill_ms=200)  # fmt: skip


@pytest.fixture(scope="module")
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(settings)
    yield client
    client.close()


def normalised(settings: Settings) -> list[EcsEvent]:
    """The real lines as the normaliser makes them (each call: a new `event.ingested`, the same ids)."""
    events = []
    for parts, lines in FILES:
        envelopes = iter_file_envelopes(dataset(*parts), source=f"ledger-{parts[1]}", received_at=RECEIVED)
        for envelope in islice(envelopes, lines):
            result = normalise(envelope, settings.zone)
            if isinstance(result, EcsEvent):
                events.append(result)
    return events


def index_through_the_indexer(settings: Settings, events: list[EcsEvent]) -> Indexer:
    produce_events(settings, events)
    indexer = Indexer(settings)
    thread = threading.Thread(target=indexer.run, kwargs={"idle_exit_s": 6})
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive()
    return indexer


def per_index(events: list[EcsEvent]) -> Counter[str]:
    return Counter(f"logs-{e.vigil.category}-{e.timestamp.astimezone(UTC):%Y.%m.%d}" for e in events)


def verify(es: Elasticsearch, settings: Settings, index: str) -> dict[str, object]:
    parsed = parse_logs_index(index)
    assert parsed
    records = verify_day(es, settings, parsed[1], NOW, Category(parsed[0]))
    assert [r.index for r in records] == [index]
    return records[0].model_dump()


@pytest.fixture(scope="module")
def indexed(settings: Settings, es: Elasticsearch) -> Iterator[Counter[str]]:
    start_indexer_at_end(settings)
    events = normalised(settings)
    assert len(events) > 2200
    indexer = index_through_the_indexer(settings, events)
    assert indexer.indexed == len(events)
    yield per_index(events)
    # 1996 is past retention for the tests that run the job at a later `now` (test_retention: 1999).
    # (By name: Elasticsearch refuses wildcard deletes, action.destructive_requires_name.)
    names = sorted(es.indices.get(index="logs-*-1996.*,vigil-deadletter-1996.*", ignore_unavailable=True))
    for start in range(0, len(names), 50):
        es.indices.delete(index=",".join(names[start : start + 50]))


def test_untouched_days_verify_clean_and_redelivery_is_not_tampering(
    es: Elasticsearch, settings: Settings, indexed: Counter[str]
) -> None:
    december = sorted(name for name in indexed if ".12." in name)
    assert december and len(indexed) >= 10
    for index in december:
        result = verify(es, settings, index)
        assert (result["clean"], result["expected_docs"], result["found_docs"]) == (True, *[indexed[index]] * 2)
    entries_before = len(read_index(es, december[0]).batches)
    assert entries_before >= 2  # batches of 500: the day's chain has several links
    # The same lines again, normalised anew (another event.ingested): Elasticsearch keeps the first
    # version (409), and the ledger records the digest of what it holds.
    index_through_the_indexer(settings, normalised(settings))
    ledger = read_index(es, december[0])
    assert len(ledger.batches) > entries_before
    for index in december:
        result = verify(es, settings, index)
        assert result["clean"] and result["found_docs"] == indexed[index], result


def test_modified_deleted_and_inserted_documents_are_reported_with_their_ids(
    es: Elasticsearch, settings: Settings, indexed: Counter[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    december = sorted((name for name in indexed if ".12." in name), key=lambda n: -indexed[n])
    target, untouched = december[0], december[-1]
    es.indices.refresh(index=target)
    hits = es.search(index=target, size=2, sort=["_doc"])["hits"]["hits"]
    modified, deleted = hits[0], hits[1]
    source = dict(modified["_source"])
    source["message"] = source["message"] + " (edited)"
    es.index(index=target, id=modified["_id"], document=source)
    es.delete(index=target, id=deleted["_id"])
    es.index(index=target, id="forged-event-1", document={**source, "event": {**source["event"], "id": "forged"}})
    es.indices.refresh(index=target)

    result = verify(es, settings, target)
    assert result["clean"] is False and result["chain_breaks"] == []
    assert [(i["id"], i["index"]) for i in result["modified"]] == [(modified["_id"], target)]
    assert [(i["id"], i["index"]) for i in result["deleted"]] == [(deleted["_id"], target)]
    assert [(i["id"], i["index"]) for i in result["inserted"]] == [("forged-event-1", target)]
    assert verify(es, settings, untouched)["clean"] is True

    # The CLI: exit 1 with the ids, 0 on a clean day.
    from core.cli import app
    from core.settings import get_settings

    monkeypatch.setenv("VIGIL_ES_URL", settings.es_url)
    get_settings.cache_clear()
    try:
        day, category = target[-10:].replace(".", "-"), target.split("-")[1]
        bad = CliRunner().invoke(app, ["verify", "--day", day, "--category", category])
        assert bad.exit_code == 1, bad.output
        assert modified["_id"] in bad.output and deleted["_id"] in bad.output and "forged-event-1" in bad.output
        good = CliRunner().invoke(app, ["verify", "--day", untouched[-10:].replace(".", "-"),
                                        "--category", untouched.split("-")[1]])  # fmt: skip
        assert good.exit_code == 0, good.output
    finally:
        get_settings.cache_clear()

    # The API: auditors and admins verify, officers may not.
    store = TokenStore(settings.tokens_path())
    tokens = {role: store.create(f"ledger-{role.value}", role)[1] for role in (Role.AUDITOR, Role.OFFICER)}
    with TestClient(create_app(settings)) as http:
        url = f"/integrity/verify?day={day}&category={category}"
        denied = http.get(url, headers={"Authorization": f"Bearer {tokens[Role.OFFICER]}"})
        assert denied.status_code == 403
        answer = http.get(url, headers={"Authorization": f"Bearer {tokens[Role.AUDITOR]}"})
        assert answer.status_code == 200 and answer.json()["clean"] is False
        assert [i["id"] for i in answer.json()["data"][0]["inserted"]] == ["forged-event-1"]
        assert http.get("/integrity/verify?day=yesterday", headers={
            "Authorization": f"Bearer {tokens[Role.AUDITOR]}"}).status_code == 422  # fmt: skip

    # The patrol record shows the latest verification of the day.
    section = integrity_section(es, date.fromisoformat(day))
    check = next(c for c in section.checks if c.index == target)
    assert section.available and not check.clean and (check.modified, check.deleted, check.inserted) == (1, 1, 1)


def test_an_altered_ledger_entry_is_a_chain_break(es: Elasticsearch, settings: Settings, indexed: Counter[str]) -> None:
    index = sorted(name for name in indexed if ".12." in name)[-1]
    stored_id, entry = read_index(es, index).batches[0]
    forged = dict(entry.docs)
    forged.pop(next(iter(forged)))  # hide a document from the ledger (then delete it unseen)
    es.index(index=LEDGER_INDEX, id=stored_id, document={**entry.model_dump(mode="json"), "docs": forged},
             refresh="wait_for")  # fmt: skip
    result = verify(es, settings, index)
    assert result["clean"] is False
    assert (
        f"chain {entry.chain} seq {entry.seq}: its documents do not match its digest (ledger entry altered)"
        in (result["chain_breaks"])
    )


def test_retention_deletion_is_not_tampering_and_a_restore_verifies_clean(
    es: Elasticsearch, settings: Settings, indexed: Counter[str]
) -> None:
    summer = sorted(name for name in indexed if ".06." in name)
    assert len(summer) >= 5
    report = job.run(es, settings, now=RETENTION_NOW, archive=True)
    # Exactly the Linux days of this module (other tests' backdated days may go too: not ours to check).
    assert sorted(name for name in report.deleted if name in indexed) == summer
    assert all(n in summer or n.startswith("vigil-deadletter-1996.0") for n in report.deleted if "-1996." in n)
    for index in summer:
        result = verify(es, settings, index)
        assert (result["clean"], result["retired"], result["found_docs"]) == (True, True, 0), result
        assert result["expected_docs"] == indexed[index]
    restored_index = max(summer, key=lambda n: indexed[n])
    parsed = parse_logs_index(restored_index)
    assert parsed
    assert restored_index in restore_day(es, settings, parsed[1])
    result = verify(es, settings, restored_index)
    assert (result["clean"], result["found_docs"]) == (True, indexed[restored_index]), result
    # Retired documents may be absent, not different: one edited after the restore is caught.
    es.indices.refresh(index=restored_index)
    hit = es.search(index=restored_index, size=1)["hits"]["hits"][0]
    es.index(index=restored_index, id=hit["_id"], document={**hit["_source"], "message": "rewritten"}, refresh=True)
    assert [i["id"] for i in verify(es, settings, restored_index)["modified"]] == [hit["_id"]]


def test_two_writers_on_one_chain_append_after_each_other(es: Elasticsearch, settings: Settings) -> None:
    """A zombie indexer (its partition moved in a rebalance) and the new owner write the same chain: the
    loser of a seq meets 409, reads the winner's entry and appends after it; the chain stays intact."""
    from core.index_templates import install_ledger_template
    from core.ledger import chain_breaks
    from core.ledger_store import LedgerDoc, LedgerWriter

    install_ledger_template(es, settings)
    index = "logs-network-1996.01.15"
    zombie, owner = LedgerWriter(es, "zombie"), LedgerWriter(es, "owner")
    assert zombie.record([LedgerDoc(index, "p1", "a", "1" * 64)]) == 1
    assert owner.record([LedgerDoc(index, "p1", "b", "2" * 64)]) == 1  # found seq 1 by its search or by 409
    assert zombie.record([LedgerDoc(index, "p1", "c", "3" * 64)]) == 1  # cached head 1: meets 409 at seq 2
    assert owner.record([LedgerDoc(index, "p1", "d", "4" * 64), LedgerDoc(index, "p2", "e", "5" * 64)]) == 2
    ledger = read_index(es, index)
    assert sorted((e.chain, e.seq, e.writer) for _, e in ledger.batches) == [
        ("p1", 1, "zombie"), ("p1", 2, "owner"), ("p1", 3, "zombie"), ("p1", 4, "owner"),
        ("p2", 1, "owner")]  # fmt: skip
    assert chain_breaks(ledger.batches) == []
