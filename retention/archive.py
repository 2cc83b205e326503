"""Archive a daily index to compressed NDJSON before deletion, and restore it from there.

Layout under the archive dir (`Settings.archive_path()`), one folder per UTC day::

    2026.10.01/manifest.json                     per archived index: docs, file names, their SHA-256
    2026.10.01/logs-user-2026.10.01.part1.ndjson.gz   one {"_id", "_source"} per line, sorted by _id
    2026.10.01/logs-user-2026.10.01.part1.sha256.gz   "<_id> <SHA-256 of the canonical _source>" per line

The per-document hashes live beside the manifest rather than inside it so a day of tens of millions
of documents streams in constant memory; the manifest carries the hash of that file too. Files are
written with a fixed gzip mtime, so archiving the same index twice gives the same bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict, ValidationError

from core.canonical import canonical_json, doc_sha256
from core.errors import RetentionError
from core.files import write_atomic
from core.index_templates import install_templates
from core.names import RetentionScope
from core.settings import Settings
from retention.indices import DailyIndex
from retention.scan import PAGE, iter_hits

Advance = Callable[[int], None]
RUN_SIZE = 50_000  # documents sorted in memory per run of the external sort


class ArchivedIndex(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: str
    scope: RetentionScope
    day: date
    part: int = 1
    docs: int
    archived_at: datetime
    file: str
    file_sha256: str
    doc_hashes_file: str
    doc_hashes_sha256: str


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    day: date
    entries: list[ArchivedIndex] = []


def day_dir(archive_dir: Path, day: date) -> Path:
    return archive_dir / f"{day:%Y.%m.%d}"


def read_manifest(archive_dir: Path, day: date) -> Manifest:
    path = day_dir(archive_dir, day) / "manifest.json"
    if not path.is_file():
        return Manifest(day=day)
    try:
        return Manifest.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise RetentionError(f"archive manifest {path} is invalid: {exc}") from exc


def archive_index(
    es: Elasticsearch, index: DailyIndex, archive_dir: Path, advance: Advance | None = None
) -> ArchivedIndex:
    """Export, then check the export against Elasticsearch before anyone may delete the index.

    An index archived before keeps its earlier part: an identical export reuses it, a different one
    (late events re-created a deleted day, or the index was kept after a failed step) becomes the
    next part, so no archived document is ever overwritten.
    """
    folder = day_dir(archive_dir, index.day)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(archive_dir, index.day)
    earlier = [e for e in manifest.entries if e.index == index.name]
    part = len(earlier) + 1
    data, hashes = folder / f"{index.name}.part{part}.ndjson.gz", folder / f"{index.name}.part{part}.sha256.gz"
    expected = es.count(index=index.name)["count"]
    written = _write_sorted(iter_hits(es, index.name), data, hashes, advance)
    es.indices.refresh(index=index.name)
    after = es.count(index=index.name)["count"]
    if after != expected or written != expected:
        data.unlink()
        hashes.unlink()
        if after != expected:
            raise RetentionError(f"{index.name} received documents while it was archived ({expected} → {after})")
        raise RetentionError(f"{index.name}: exported {written} documents, the index holds {expected}: not archived")
    entry = ArchivedIndex(index=index.name, scope=index.scope, day=index.day, part=part, docs=written,
                          archived_at=datetime.now(UTC), file=data.name, file_sha256=file_sha256(data),
                          doc_hashes_file=hashes.name, doc_hashes_sha256=file_sha256(hashes))  # fmt: skip
    for previous in earlier:
        if previous.file_sha256 == entry.file_sha256:
            data.unlink()
            hashes.unlink()
            return previous
    manifest.entries.append(entry)
    write_atomic(folder / "manifest.json", manifest.model_dump_json(indent=2).encode())
    return entry


def restore_day(
    es: Elasticsearch,
    settings: Settings,
    day: date,
    scope: RetentionScope | None = None,
    advance: Advance | None = None,
) -> list[str]:
    """Re-create the day's archived indices (same template, same ids) and verify every document hash.
    Returns the names of the restored indices.

    Writes are create-only: restoring over an index that still exists adds what is missing and
    fails verification if a stored document differs from its archived copy.
    """
    archive_dir = settings.archive_path()
    folder = day_dir(archive_dir, day)
    manifest = read_manifest(archive_dir, day)
    wanted = [e for e in manifest.entries if scope is None or e.scope is scope]
    if not wanted:
        what = f"{scope.value} " if scope else ""
        raise RetentionError(f"no {what}archive for {day:%Y.%m.%d} under {archive_dir}")
    install_templates(es, settings)
    names = sorted({entry.index for entry in wanted})
    for name in names:
        parts = [entry for entry in wanted if entry.index == name]
        for entry in parts:
            _check_files(folder, entry)
            _restore_part(es, folder, entry, advance)
        es.indices.refresh(index=name)
        distinct = _distinct_ids(folder, parts)
        count = es.count(index=name)["count"]
        if count != distinct:
            raise RetentionError(f"restore of {name}: the archive holds {distinct} documents, the index {count}")
    return names


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def iter_archive(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            yield record["_id"], record["_source"]


def _write_sorted(hits: Iterator[dict[str, Any]], data: Path, hashes: Path, advance: Advance | None) -> int:
    """External merge sort by `_id`: sorted runs in temporary files, then one merged pass."""
    with tempfile.TemporaryDirectory(dir=data.parent, prefix=".sort-") as tmp:
        runs: list[Path] = []
        while run := sorted((hit["_id"], hit["_source"]) for hit in islice(hits, RUN_SIZE)):
            path = Path(tmp) / f"run{len(runs)}"
            with path.open("w", encoding="utf-8") as handle:
                for doc_id, source in run:
                    handle.write(json.dumps(doc_id) + "\t" + canonical_json({"_id": doc_id, "_source": source}) + "\n")
            runs.append(path)
            if advance:
                advance(len(run))
        handles = [path.open(encoding="utf-8") for path in runs]
        try:
            merged = heapq.merge(*handles, key=lambda line: json.loads(line.split("\t", 1)[0]))
            return _write_archive(merged, data, hashes)
        finally:
            for handle in handles:
                handle.close()


def _write_archive(lines: Iterator[str], data: Path, hashes: Path) -> int:
    count = 0
    data_tmp, hashes_tmp = data.with_suffix(".tmp"), hashes.with_suffix(".tmp")
    with _gzip(data_tmp) as out, _gzip(hashes_tmp) as sums:
        for line in lines:
            record = line.split("\t", 1)[1]
            parsed = json.loads(record)
            out.write(record.encode("utf-8", "surrogateescape"))
            sums.write(f"{parsed['_id']} {doc_sha256(parsed['_source'])}\n".encode())
            count += 1
    os.replace(data_tmp, data)
    os.replace(hashes_tmp, hashes)
    return count


def _gzip(path: Path) -> IO[bytes]:
    # mtime=0 and no file name in the header: the same documents always give the same bytes.
    return gzip.GzipFile(filename="", mode="wb", fileobj=path.open("wb"), mtime=0)  # type: ignore[return-value]


def _check_files(folder: Path, entry: ArchivedIndex) -> None:
    for name, digest in ((entry.file, entry.file_sha256), (entry.doc_hashes_file, entry.doc_hashes_sha256)):
        path = folder / name
        if not path.is_file():
            raise RetentionError(f"archive file {path} is missing")
        if file_sha256(path) != digest:
            raise RetentionError(f"archive file {path} does not match its SHA-256 in the manifest: altered")


def _iter_hashes(path: Path) -> Iterator[tuple[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            doc_id, _, digest = line.rstrip("\n").rpartition(" ")
            yield doc_id, digest


def _restore_part(es: Elasticsearch, folder: Path, entry: ArchivedIndex, advance: Advance | None) -> None:
    pairs = zip(iter_archive(folder / entry.file), _iter_hashes(folder / entry.doc_hashes_file), strict=True)
    restored = 0
    while page := list(islice(pairs, PAGE)):
        operations: list[dict[str, Any]] = []
        for (doc_id, source), (hashed_id, digest) in page:
            if doc_id != hashed_id or doc_sha256(source) != digest:
                raise RetentionError(f"archive of {entry.index}: document {doc_id} does not match its manifest hash")
            operations += [{"create": {"_index": entry.index, "_id": doc_id}}, source]
        response = es.bulk(operations=operations, refresh="wait_for")
        failed = [i["create"] for i in response["items"] if i["create"].get("status", 500) >= 300
                  and i["create"].get("status") != 409]  # fmt: skip
        if failed:
            raise RetentionError(f"restore of {entry.index}: {len(failed)} documents refused: {failed[0].get('error')}")
        _verify_page(es, entry.index, [(doc_id, digest) for (doc_id, _), (_, digest) in page])
        restored += len(page)
        if advance:
            advance(len(page))
    if restored != entry.docs:
        raise RetentionError(f"archive of {entry.index} part {entry.part}: manifest says {entry.docs}, file {restored}")


def _distinct_ids(folder: Path, parts: list[ArchivedIndex]) -> int:
    """Documents across all parts of one index (parts may overlap), merging their sorted hash files."""
    merged = heapq.merge(*(_iter_hashes(folder / entry.doc_hashes_file) for entry in parts))
    count, last = 0, None
    for doc_id, _ in merged:
        if doc_id != last:
            count, last = count + 1, doc_id
    return count


def _verify_page(es: Elasticsearch, name: str, expected: list[tuple[str, str]]) -> None:
    found = es.mget(index=name, ids=[doc_id for doc_id, _ in expected])["docs"]
    stored = {doc["_id"]: doc_sha256(doc["_source"]) for doc in found if doc.get("found")}
    for doc_id, digest in expected:
        if stored.get(doc_id) != digest:
            raise RetentionError(f"restore of {name}: document {doc_id} in Elasticsearch differs from the archive")
