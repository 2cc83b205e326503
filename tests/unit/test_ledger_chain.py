"""The ledger's chain logic (core.ledger), pure: entries built the way the writer builds them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from core.ledger import (
    GENESIS,
    BatchEntry,
    ChainHead,
    RetiredEntry,
    RootEntry,
    batch_digest,
    batch_id,
    chain_breaks,
    expected_documents,
    heads,
    link_digest,
    parse_logs_index,
    retired_ids,
    root_breaks,
    root_digest,
)

INDEX = "logs-user-2026.11.20"
AT = datetime(2026, 11, 21, tzinfo=UTC)


def chain(name: str, batches: list[dict[str, str]]) -> list[tuple[str, BatchEntry]]:
    entries, prev = [], GENESIS
    for seq, docs in enumerate(batches, start=1):
        digest = batch_digest(docs)
        link = link_digest(INDEX, name, seq, prev, digest)
        entry = BatchEntry(index=INDEX, category="user", day=date(2026, 11, 20), chain=name, seq=seq, prev=prev,
                           digest=digest, link=link, count=len(docs), docs=docs, writer="t",
                           recorded_at=AT)  # fmt: skip
        entries.append((batch_id(INDEX, name, seq), entry))
        prev = link
    return entries


BATCHES = [{"a": "1" * 64, "b": "2" * 64}, {"c": "3" * 64}, {"d": "4" * 64, "e": "5" * 64}]


def test_an_intact_chain_has_no_breaks() -> None:
    assert chain_breaks(chain("p0", BATCHES) + chain("p1", BATCHES[:1])) == []


def test_the_digest_does_not_depend_on_document_order() -> None:
    assert batch_digest({"a": "x", "b": "y"}) == batch_digest({"b": "y", "a": "x"})
    assert batch_digest({"a": "x", "b": "y"}) != batch_digest({"a": "y", "b": "x"})


def test_a_removed_entry_is_a_gap() -> None:
    entries = chain("p0", BATCHES)
    assert chain_breaks([entries[0], entries[2]]) == ["chain p0: seq 2..2 missing"]


def test_an_altered_entry_is_found_by_its_digest_and_by_the_next_link() -> None:
    entries = chain("p0", BATCHES)
    stored_id, entry = entries[1]
    forged = entry.model_copy(update={"docs": {"c": "f" * 64}})
    assert chain_breaks([entries[0], (stored_id, forged), entries[2]]) == [
        "chain p0 seq 2: its documents do not match its digest (ledger entry altered)"
    ]
    # Recomputing the digest and the link of the forged entry breaks the link of the entry after it.
    digest = batch_digest(forged.docs)
    relinked = forged.model_copy(update={"digest": digest, "link": link_digest(INDEX, "p0", 2, entry.prev, digest)})
    assert chain_breaks([entries[0], (stored_id, relinked), entries[2]]) == ["chain p0 seq 3: does not link to seq 2"]


def test_an_entry_under_a_foreign_id_or_twice() -> None:
    entries = chain("p0", BATCHES)
    moved = [entries[0], ("batch:elsewhere", entries[1][1]), entries[2]]
    assert chain_breaks(moved) == ["chain p0 seq 2: stored as 'batch:elsewhere', not under its own id"]
    assert chain_breaks([*entries, entries[1]]) == ["chain p0 seq 2: seq appears twice"]


def test_redelivered_batches_repeat_documents_without_disagreement() -> None:
    entries = [e for _, e in chain("p0", [BATCHES[0], BATCHES[0], BATCHES[1]])]
    expected, disagreeing = expected_documents(entries)
    assert expected == {"a": "1" * 64, "b": "2" * 64, "c": "3" * 64} and disagreeing == []
    changed = [e for _, e in chain("p0", [BATCHES[0], {"a": "9" * 64}])]
    assert expected_documents(changed)[1] == [("a", {"1" * 64, "9" * 64})]


def root_over(entries: list[BatchEntry], previous: str = GENESIS, version: int = 1) -> RootEntry:
    current = heads(entries)
    return RootEntry(index=INDEX, category="user", day=date(2026, 11, 20), version=version, heads=current,
                     previous=previous, root=root_digest(current, previous), sealed_at=AT)  # fmt: skip


def test_a_root_catches_a_truncated_chain() -> None:
    entries = [e for _, e in chain("p0", BATCHES) + chain("p1", BATCHES[:2])]
    root = root_over(entries)
    assert root.heads["p0"] == ChainHead(seq=3, link=entries[2].link)
    assert root_breaks([root], entries) == []
    truncated = entries[:2] + entries[3:]  # p0 lost its last entry: the chain itself still looks intact
    assert chain_breaks((batch_id(INDEX, e.chain, e.seq), e) for e in truncated) == []
    assert root_breaks([root], truncated) == ["root v1: sealed chain p0 up to seq 3, the ledger no longer has it"]
    second = root_over(entries, previous=root.root, version=2)
    assert root_breaks([root, second], entries) == []
    assert root_breaks([second], entries) == ["root v1 missing", "root v2: does not recompute or chain to the "
                                              "version before (altered)"]  # fmt: skip


def test_retirement_covers_the_batches_up_to_its_heads() -> None:
    entries = [e for _, e in chain("p0", BATCHES)]
    retired = RetiredEntry(index=INDEX, category="user", day=date(2026, 11, 20), heads={"p0": 2}, docs=3,
                           reason="past retention", retired_at=AT)  # fmt: skip
    assert retired_ids(entries, [retired]) == {"a", "b", "c"}
    late = [e for _, e in chain("p0", [*BATCHES, {"c": "3" * 64}])]  # seq 4 recorded "c" again: it must be there
    assert retired_ids(late, [retired]) == {"a", "b"}
    assert retired_ids(entries, []) == set()


def test_only_daily_log_indices_are_in_the_ledger() -> None:
    assert parse_logs_index("logs-network-2026.01.31") == ("network", date(2026, 1, 31))
    assert parse_logs_index("vigil-deadletter-2026.01.31") is None
    assert parse_logs_index("logs-other-2026.01.31") is None
