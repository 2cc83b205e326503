"""Copy what a hold protects out of a daily index before that index is deleted.

Documents are created in `vigil-evidence-<hold id>` with their original `_id` and `_source`
(create-only: a second run meets 409 and changes nothing). The copy counts as done only when
every copied id is read back from the evidence index with the same canonical hash and the number
copied equals the number the hold matches in the source index.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import Any

from elasticsearch import Elasticsearch
from pydantic import BaseModel, ConfigDict

from core.canonical import doc_sha256
from core.errors import RetentionError
from core.models.hold import Hold
from core.names import evidence_index
from retention.holds import hold_query
from retention.indices import DailyIndex
from retention.scan import PAGE, iter_hits


class EvidenceCopy(BaseModel):
    model_config = ConfigDict(frozen=True)

    hold_id: str
    source_index: str
    evidence_index: str
    docs: int


def copy_held(es: Elasticsearch, index: DailyIndex, hold: Hold) -> EvidenceCopy:
    """Copy and verify; raises RetentionError when the evidence cannot be shown complete."""
    query = hold_query(hold, index.scope, index.start, index.end)
    target = evidence_index(hold.id, index.scope)
    expected = es.count(index=index.name, query=query)["count"]
    copied = 0
    for page in _pages(iter_hits(es, index.name, query)):
        _create(es, target, page)
        _verify(es, target, page)
        copied += len(page)
    if copied != expected:
        raise RetentionError(f"{index.name}: hold {hold.id} matches {expected} documents but {copied} were copied")
    return EvidenceCopy(hold_id=hold.id, source_index=index.name, evidence_index=target, docs=copied)


def _pages(hits: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while page := list(islice(hits, PAGE)):
        yield page


def _create(es: Elasticsearch, target: str, page: list[dict[str, Any]]) -> None:
    operations: list[dict[str, Any]] = []
    for hit in page:
        operations += [{"create": {"_index": target, "_id": hit["_id"]}}, hit["_source"]]
    response = es.bulk(operations=operations, refresh="wait_for")
    if not response.get("errors"):
        return
    for item in response["items"]:
        result = item["create"]
        if result.get("status", 500) >= 300 and result.get("status") != 409:  # 409: copied before, checked below
            raise RetentionError(f"copy to {target} failed for {result.get('_id')}: {result.get('error')}")


def _verify(es: Elasticsearch, target: str, page: list[dict[str, Any]]) -> None:
    found = es.mget(index=target, ids=[hit["_id"] for hit in page])["docs"]
    stored = {doc["_id"]: doc_sha256(doc["_source"]) for doc in found if doc.get("found")}
    for hit in page:
        if stored.get(hit["_id"]) != doc_sha256(hit["_source"]):
            raise RetentionError(f"evidence {target} lacks or differs for document {hit['_id']}")
