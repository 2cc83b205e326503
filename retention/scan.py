"""Read every document of an index (or those matching a query) in a consistent snapshot.

A point in time with `search_after` on `_shard_doc`: the view does not move while we page, and no
scroll context or `_id` fielddata is needed (sorting on `_id` is disabled in Elasticsearch 8).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from elasticsearch import Elasticsearch

PAGE = 1000


def iter_hits(
    es: Elasticsearch, index: str, query: dict[str, Any] | None = None, page: int = PAGE
) -> Iterator[dict[str, Any]]:
    """Hits (`_id`, `_source`, ...) of `index` matching `query`, in no meaningful order."""
    pit = es.open_point_in_time(index=index, keep_alive="2m")["id"]
    try:
        after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {"size": page, "pit": {"id": pit, "keep_alive": "2m"}, "sort": ["_shard_doc"]}
            if query is not None:
                body["query"] = query
            if after is not None:
                body["search_after"] = after
            response = es.search(**body)
            pit = response.get("pit_id", pit)
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < page:
                return
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)
