"""The integrity ledger (`vigil-ledger`, policy rule 1: tamper evidence): its documents and the pure
chain logic. The indexer writes it (`core.ledger_store`), `retention.integrity` verifies against it.

One *chain* per daily index and `vigil.events` partition (`p0`, `p1`, ...): only the partition's
current owner appends to it, so indexer processes never contend, and a rebalance hands the chain on
with the partition. Each bulk batch adds one `batch` entry per (index, partition) it touched:

    digest = SHA-256 over the sorted lines "<_id> <SHA-256 of the canonical _source>\n"
    link   = SHA-256 over "<index>\n<chain>\n<seq>\n<prev>\n<digest>"   (prev: link of seq − 1)

The entry keeps the per-document digests (`docs`), so a verification can say which document was
modified, deleted or inserted. Entries are created with id `batch:<index>:<chain>:<seq>` and
`op_type=create`: a second writer (a zombie after a rebalance) meets 409 and appends after it.
A redelivered batch adds an entry with the same ids and digests: harmless, verification takes the
union. A `root` entry (versioned) seals the heads of every chain of a day; a `retired` entry records
that the retention job deleted the day's index, up to which seq of each chain.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

GENESIS = "0" * 64
_LOGS_INDEX = re.compile(r"^logs-(network|system|user)-(\d{4})\.(\d{2})\.(\d{2})$")


class LedgerModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchEntry(LedgerModel):
    kind: Literal["batch"] = "batch"
    index: str
    category: str
    day: date
    chain: str
    seq: int = Field(ge=1)
    prev: str
    digest: str
    link: str
    count: int
    docs: dict[str, str] = Field(description="_id → SHA-256 of the canonical _source")
    writer: str
    recorded_at: AwareDatetime


class ChainHead(LedgerModel):
    seq: int
    link: str


class RootEntry(LedgerModel):
    """The heads of every chain of a daily index when it was sealed; versions chain by `previous`."""

    kind: Literal["root"] = "root"
    index: str
    category: str
    day: date
    version: int = Field(ge=1)
    heads: dict[str, ChainHead]
    previous: str
    root: str
    sealed_at: AwareDatetime


class RetiredEntry(LedgerModel):
    """The retention job deleted the index: the documents of batches up to `heads` may be absent."""

    kind: Literal["retired"] = "retired"
    index: str
    category: str
    day: date
    heads: dict[str, int] = Field(description="chain → last seq the deletion covers")
    docs: int
    reason: str
    archive_file_sha256: str | None = None
    archive_hashes_sha256: str | None = None
    retired_at: AwareDatetime


class DocIssue(LedgerModel):
    id: str
    index: str
    expected: str | None = Field(default=None, description="digest in the ledger")
    found: str | None = Field(default=None, description="digest of the stored document")


class VerificationRecord(LedgerModel):
    """One run of `vigil verify` for a daily index, stored so the patrol record shows the latest."""

    kind: Literal["verification"] = "verification"
    index: str
    category: str
    day: date
    verified_at: AwareDatetime
    clean: bool
    retired: bool
    expected_docs: int
    found_docs: int
    modified_count: int
    deleted_count: int
    inserted_count: int
    # The stored record keeps the first ids of each list (the CLI and the API return them all).
    modified: list[DocIssue] = Field(default_factory=list)
    deleted: list[DocIssue] = Field(default_factory=list)
    inserted: list[DocIssue] = Field(default_factory=list)
    chain_breaks: list[str] = Field(default_factory=list)


def parse_logs_index(name: str) -> tuple[str, date] | None:
    """(category, day) of a daily `logs-*` index, else None (dead letters are not in the ledger)."""
    match = _LOGS_INDEX.match(name)
    if not match:
        return None
    category, year, month, day = match.groups()
    return category, date(int(year), int(month), int(day))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def batch_digest(docs: dict[str, str]) -> str:
    return _sha256("".join(f"{doc_id} {digest}\n" for doc_id, digest in sorted(docs.items())))


def link_digest(index: str, chain: str, seq: int, prev: str, digest: str) -> str:
    return _sha256(f"{index}\n{chain}\n{seq}\n{prev}\n{digest}")


def root_digest(heads: dict[str, ChainHead], previous: str) -> str:
    lines = "".join(f"{chain} {head.seq} {head.link}\n" for chain, head in sorted(heads.items()))
    return _sha256(f"{previous}\n{lines}")


def batch_id(index: str, chain: str, seq: int) -> str:
    return f"batch:{index}:{chain}:{seq}"


def root_id(index: str, version: int) -> str:
    return f"root:{index}:v{version}"


def chain_breaks(entries: Iterable[tuple[str, BatchEntry]]) -> list[str]:
    """What is wrong with the stored (ledger _id, entry) pairs of one index: altered entries (their
    digest or link does not recompute), missing or duplicated seqs, broken links."""
    by_chain: dict[str, list[tuple[str, BatchEntry]]] = defaultdict(list)
    for pair in entries:
        by_chain[pair[1].chain].append(pair)
    problems = []
    for chain, pairs in sorted(by_chain.items()):
        pairs.sort(key=lambda pair: pair[1].seq)
        prev, expected_seq = GENESIS, 1
        for stored_id, entry in pairs:
            where = f"chain {chain} seq {entry.seq}"
            if stored_id != batch_id(entry.index, chain, entry.seq):
                problems.append(f"{where}: stored as {stored_id!r}, not under its own id")
            if entry.seq < expected_seq:
                problems.append(f"{where}: seq appears twice")
                continue
            if entry.seq > expected_seq:
                problems.append(f"chain {chain}: seq {expected_seq}..{entry.seq - 1} missing")
            elif entry.prev != prev:
                problems.append(f"{where}: does not link to seq {entry.seq - 1}")
            if batch_digest(entry.docs) != entry.digest or entry.count != len(entry.docs):
                problems.append(f"{where}: its documents do not match its digest (ledger entry altered)")
            if link_digest(entry.index, chain, entry.seq, entry.prev, entry.digest) != entry.link:
                problems.append(f"{where}: its link does not recompute (ledger entry altered)")
            prev, expected_seq = entry.link, entry.seq + 1
    return problems


def heads(entries: Iterable[BatchEntry]) -> dict[str, ChainHead]:
    """The last entry of each chain."""
    found: dict[str, ChainHead] = {}
    for entry in entries:
        if entry.chain not in found or entry.seq > found[entry.chain].seq:
            found[entry.chain] = ChainHead(seq=entry.seq, link=entry.link)
    return found


def root_breaks(roots: list[RootEntry], entries: Iterable[BatchEntry]) -> list[str]:
    """Each root must recompute, chain to the version before it, and every head it sealed must still
    be in the ledger with the same link (a truncated chain or a removed chain shows here)."""
    links = {(entry.chain, entry.seq): entry.link for entry in entries}
    problems, previous = [], GENESIS
    for expected, root in enumerate(sorted(roots, key=lambda r: r.version), start=1):
        where = f"root v{root.version}"
        if root.version != expected:
            problems.append(f"root v{expected} missing")
        if root.previous != previous or root_digest(root.heads, root.previous) != root.root:
            problems.append(f"{where}: does not recompute or chain to the version before (altered)")
        for chain, head in sorted(root.heads.items()):
            if links.get((chain, head.seq)) != head.link:
                problems.append(f"{where}: sealed chain {chain} up to seq {head.seq}, the ledger no longer has it")
        previous = root.root
    return problems


def expected_documents(entries: Iterable[BatchEntry]) -> tuple[dict[str, str], list[tuple[str, set[str]]]]:
    """The union of the entries' documents (a redelivered batch repeats ids with the same digests),
    and the ids whose entries disagree (the stored document changed between two deliveries)."""
    expected: dict[str, str] = {}
    disagreeing: dict[str, set[str]] = {}
    for entry in entries:
        for doc_id, digest in entry.docs.items():
            seen = expected.setdefault(doc_id, digest)
            if seen != digest:
                disagreeing.setdefault(doc_id, {seen}).add(digest)
    return expected, sorted(disagreeing.items())


def retired_ids(entries: Iterable[BatchEntry], retirements: Iterable[RetiredEntry]) -> set[str]:
    """Ids the retention job deleted: those of batches up to a retirement's heads, unless a later batch
    recorded them again (late events re-created the day: those must be there)."""
    covered: dict[str, int] = {}
    for retired in retirements:
        for chain, seq in retired.heads.items():
            covered[chain] = max(covered.get(chain, 0), seq)
    before: set[str] = set()
    after: set[str] = set()
    for entry in entries:
        (before if entry.seq <= covered.get(entry.chain, 0) else after).update(entry.docs)
    return before - after
