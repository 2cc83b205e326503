"""Verify a day's logs against the integrity ledger (`core.ledger`): `vigil verify`, the API, the
scheduler's daily check.

Re-reads every document of the daily index and compares its canonical SHA-256 with the ledger:
- modified: the digests differ (or two deliveries of the same id recorded different digests);
- deleted: in the ledger, not in Elasticsearch, and not retired by the retention job;
- inserted: in Elasticsearch, in no ledger entry;
and recomputes every chain and root (`chain_breaks`, `root_breaks`). Documents of the batches a
`retired` entry covers may be absent (retention deleted them) or present (restored from the
archive, then compared like any other). A verification whose chains are intact seals a new root
over the current heads, so a later truncation of a chain shows. Each result is stored
(`vigil-ledger`, kind `verification`) for the patrol record.
"""

from __future__ import annotations

from datetime import date, datetime

from elasticsearch import Elasticsearch

from core.canonical import doc_sha256
from core.index_templates import install_ledger_template
from core.ledger import (
    DocIssue,
    VerificationRecord,
    chain_breaks,
    expected_documents,
    retired_ids,
    root_breaks,
)
from core.ledger_store import ledger_indices, read_index, seal, store_verification
from core.names import Category, logs_index
from core.settings import Settings
from retention.scan import iter_hits

STORED_IDS = 1000  # per list in the stored record; the caller gets them all


def verify_day(
    es: Elasticsearch,
    settings: Settings,
    day: date,
    now: datetime,
    category: Category | None = None,
    *,
    store: bool = True,
) -> list[VerificationRecord]:
    """One record per category of `day` that has a ledger or an index (an empty list: nothing to verify)."""
    install_ledger_template(es, settings)
    in_ledger = set(ledger_indices(es, day))
    results = []
    for cat in [category] if category else list(Category):
        index = logs_index(cat, datetime.combine(day, datetime.min.time()))
        if index in in_ledger or es.indices.exists(index=index):
            results.append(verify_index(es, index, cat, day, now, store=store))
    return results


def verify_index(
    es: Elasticsearch, index: str, category: Category, day: date, now: datetime, *, store: bool = True
) -> VerificationRecord:
    ledger = read_index(es, index)
    entries = [entry for _, entry in ledger.batches]
    breaks = chain_breaks(ledger.batches) + root_breaks(ledger.roots, entries)
    expected, disagreeing = expected_documents(entries)
    may_be_gone = retired_ids(entries, ledger.retired)
    stored = _stored_digests(es, index)
    modified = [DocIssue(id=doc_id, index=index, expected=digest, found=stored[doc_id])
                for doc_id, digest in sorted(expected.items())
                if doc_id in stored and stored[doc_id] != digest]  # fmt: skip
    modified += [DocIssue(id=doc_id, index=index, expected=",".join(sorted(digests)), found=stored.get(doc_id))
                 for doc_id, digests in disagreeing]  # fmt: skip
    deleted = [DocIssue(id=doc_id, index=index, expected=digest) for doc_id, digest in sorted(expected.items())
               if doc_id not in stored and doc_id not in may_be_gone]  # fmt: skip
    inserted = [DocIssue(id=doc_id, index=index, found=digest) for doc_id, digest in sorted(stored.items())
                if doc_id not in expected]  # fmt: skip
    record = VerificationRecord(
        index=index, category=category.value, day=day, verified_at=now,
        clean=not (modified or deleted or inserted or breaks), retired=bool(ledger.retired),
        expected_docs=len(expected), found_docs=len(stored), modified_count=len(modified),
        deleted_count=len(deleted), inserted_count=len(inserted), modified=modified, deleted=deleted,
        inserted=inserted, chain_breaks=breaks,
    )  # fmt: skip
    if not breaks:
        seal(es, index, ledger, now)
    if store:
        capped = {name: getattr(record, name)[:STORED_IDS] for name in ("modified", "deleted", "inserted")}
        store_verification(es, record.model_copy(update=capped))
    return record


def _stored_digests(es: Elasticsearch, index: str) -> dict[str, str]:
    if not es.indices.exists(index=index):
        return {}
    es.indices.refresh(index=index)
    return {hit["_id"]: doc_sha256(hit["_source"]) for hit in iter_hits(es, index)}
