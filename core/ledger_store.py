"""Reading and writing `vigil-ledger` (the documents and chains: `core.ledger`).

The indexer appends after Elasticsearch acknowledged a bulk and before it commits the Kafka offsets
(`LedgerWriter.record`): a crash in between redelivers the batch, whose documents then meet 409 and
are recorded with the digest of what Elasticsearch holds (read back), never of what was sent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from elasticsearch.helpers import scan
from pydantic import BaseModel

from core.ledger import (
    GENESIS,
    BatchEntry,
    RetiredEntry,
    RootEntry,
    VerificationRecord,
    batch_digest,
    batch_id,
    heads,
    link_digest,
    parse_logs_index,
    root_digest,
    root_id,
)
from core.names import LEDGER_INDEX

log = logging.getLogger(__name__)
PAGE = 1000


class LedgerDoc(NamedTuple):
    """One document the indexer stored (or found stored: 409), as the ledger records it (a tuple: the
    indexer makes thousands a second)."""

    daily_index: str
    chain: str
    id: str
    digest: str


class LedgerWriter:
    """Appends one batch entry per (index, chain) of a bulk; keeps the heads it wrote to skip a read."""

    def __init__(self, es: Elasticsearch, writer: str) -> None:
        self.es, self.writer = es, writer
        self.heads: dict[tuple[str, str], tuple[int, str]] = {}

    def record(self, docs: list[LedgerDoc]) -> int:
        """Write the entries; returns how many. Retried whole by the caller on an outage: entries
        written before it are found by their ids and the retry appends after them (a duplicate entry)."""
        grouped: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
        for doc in docs:
            grouped[(doc.daily_index, doc.chain)][doc.id] = doc.digest
        pending = {key: self._next(key, found) for key, found in grouped.items()}
        written = 0
        while pending:
            operations: list[dict[str, Any]] = []
            order = sorted(pending)
            for key in order:
                entry = pending[key]
                operations += [{"create": {"_index": LEDGER_INDEX, "_id": batch_id(*key, entry.seq)}},
                               entry.model_dump(mode="json")]  # fmt: skip
            items = self.es.bulk(operations=operations, filter_path="items.*.status,items.*.error")["items"]
            for key, item in zip(order, items, strict=True):
                status = item["create"].get("status", 500)
                entry = pending.pop(key)
                if status < 300:
                    self.heads[key] = (entry.seq, entry.link)
                    written += 1
                elif status == 409:  # another writer took this seq: append after it
                    self.heads[key] = self._read_head(key, entry.seq)
                    pending[key] = self._next(key, entry.docs)
                else:
                    raise ConnectionError(f"ledger entry {batch_id(*key, entry.seq)} not stored: {item['create']}")
        return written

    def _next(self, key: tuple[str, str], docs: dict[str, str]) -> BatchEntry:
        index, chain = key
        if key not in self.heads:
            self.heads[key] = latest_head(self.es, index, chain)
        seq, prev = self.heads[key]
        category, day = parse_logs_index(index) or ("", date.min)
        digest = batch_digest(docs)
        return BatchEntry(index=index, category=category, day=day, chain=chain, seq=seq + 1, prev=prev,
                          digest=digest, link=link_digest(index, chain, seq + 1, prev, digest), count=len(docs),
                          docs=docs, writer=self.writer, recorded_at=datetime.now(UTC))  # fmt: skip

    def _read_head(self, key: tuple[str, str], seq: int) -> tuple[int, str]:
        """The entry at `seq` (just created by someone else), then any after it: gets are real-time."""
        link = ""
        while True:
            try:
                source = self.es.get(index=LEDGER_INDEX, id=batch_id(*key, seq))["_source"]
            except NotFoundError:
                return seq - 1, link
            link, seq = str(source["link"]), seq + 1


def latest_head(es: Elasticsearch, index: str, chain: str) -> tuple[int, str]:
    """(seq, link) of the last entry of a chain, (0, GENESIS) for a new one. A search may lag a
    just-written entry: the create of the next seq then meets 409 and `_read_head` catches up."""
    query = {"bool": {"filter": [{"term": {"kind": "batch"}}, {"term": {"index": index}}, {"term": {"chain": chain}}]}}
    try:
        hits = es.search(index=LEDGER_INDEX, query=query, size=1, sort=[{"seq": "desc"}],
                         source_includes=["seq", "link"])["hits"]["hits"]  # fmt: skip
    except NotFoundError:
        return 0, GENESIS
    if not hits:
        return 0, GENESIS
    return int(hits[0]["_source"]["seq"]), str(hits[0]["_source"]["link"])


def _scan(es: Elasticsearch, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if not es.indices.exists(index=LEDGER_INDEX):
        return
    es.indices.refresh(index=LEDGER_INDEX)
    yield from scan(es, index=LEDGER_INDEX, query={"query": query}, size=PAGE)


class IndexLedger(BaseModel):
    """Everything the ledger holds about one daily index."""

    batches: list[tuple[str, BatchEntry]]  # (stored _id, entry)
    roots: list[RootEntry]
    retired: list[RetiredEntry]


def read_index(es: Elasticsearch, index: str) -> IndexLedger:
    kinds = ["batch", "root", "retired"]
    query = {"bool": {"filter": [{"term": {"index": index}}, {"terms": {"kind": kinds}}]}}
    batches, roots, retired = [], [], []
    for hit in _scan(es, query):
        source = hit["_source"]
        if source["kind"] == "batch":
            batches.append((hit["_id"], BatchEntry.model_validate(source)))
        elif source["kind"] == "root":
            roots.append(RootEntry.model_validate(source))
        else:
            retired.append(RetiredEntry.model_validate(source))
    return IndexLedger(batches=batches, roots=roots, retired=retired)


def ledger_indices(es: Elasticsearch, day: date) -> list[str]:
    """The daily indices of `day` the ledger has entries for (also those retention deleted)."""
    if not es.indices.exists(index=LEDGER_INDEX):
        return []
    es.indices.refresh(index=LEDGER_INDEX)
    aggs = {"i": {"terms": {"field": "index", "size": 100}}}
    result = es.search(index=LEDGER_INDEX, size=0, query={"term": {"day": day.isoformat()}}, aggs=aggs)
    return sorted(b["key"] for b in result["aggregations"]["i"]["buckets"])


def seal(es: Elasticsearch, index: str, ledger: IndexLedger, now: datetime) -> RootEntry | None:
    """A new root version over the chains' current heads; None when the latest root has them already."""
    current = heads(entry for _, entry in ledger.batches)
    latest = max(ledger.roots, key=lambda r: r.version, default=None)
    if not current or (latest is not None and latest.heads == current):
        return None
    category, day = parse_logs_index(index) or ("", date.min)
    previous = latest.root if latest else GENESIS
    root = RootEntry(index=index, category=category, day=day, version=(latest.version + 1) if latest else 1,
                     heads=current, previous=previous, root=root_digest(current, previous), sealed_at=now)  # fmt: skip
    try:
        es.create(index=LEDGER_INDEX, id=root_id(index, root.version), document=root.model_dump(mode="json"),
                  refresh="wait_for")  # fmt: skip
    except ConflictError:
        return None  # sealed by a concurrent verification
    return root


def chain_seqs(es: Elasticsearch, index: str) -> dict[str, int]:
    """chain → last seq of a daily index's chains (what a retirement covers)."""
    if not es.indices.exists(index=LEDGER_INDEX):
        return {}
    es.indices.refresh(index=LEDGER_INDEX)
    query = {"bool": {"filter": [{"term": {"kind": "batch"}}, {"term": {"index": index}}]}}
    aggs = {"c": {"terms": {"field": "chain", "size": 10_000}, "aggs": {"seq": {"max": {"field": "seq"}}}}}
    result = es.search(index=LEDGER_INDEX, size=0, query=query, aggs=aggs)
    return {b["key"]: int(b["seq"]["value"]) for b in result["aggregations"]["c"]["buckets"]}


def record_retired(es: Elasticsearch, entry: RetiredEntry) -> None:
    es.index(index=LEDGER_INDEX, id=f"retired:{entry.index}:{entry.retired_at.isoformat()}",
             document=entry.model_dump(mode="json"), refresh="wait_for")  # fmt: skip


def store_verification(es: Elasticsearch, record: VerificationRecord) -> None:
    es.index(index=LEDGER_INDEX, id=f"verification:{record.index}:{record.verified_at.isoformat()}",
             document=record.model_dump(mode="json"), refresh="wait_for")  # fmt: skip


def latest_verifications(es: Elasticsearch, day: date) -> list[VerificationRecord]:
    """The latest verification of each daily index of `day`, by index name."""
    if not es.indices.exists(index=LEDGER_INDEX):
        return []
    query = {"bool": {"filter": [{"term": {"kind": "verification"}}, {"term": {"day": day.isoformat()}}]}}
    aggs = {"i": {"terms": {"field": "index", "size": 100},
                  "aggs": {"last": {"top_hits": {"size": 1, "sort": [{"verified_at": "desc"}]}}}}}  # fmt: skip
    result = es.search(index=LEDGER_INDEX, size=0, query=query, aggs=aggs)
    found = [b["last"]["hits"]["hits"][0]["_source"] for b in result["aggregations"]["i"]["buckets"]]
    return sorted((VerificationRecord.model_validate(s) for s in found), key=lambda r: r.index)
