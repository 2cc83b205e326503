"""Every hit of a query over a time range, in event-time order: point in time + `search_after`.

A point in time (PIT) pins the index state for the whole walk, so documents indexed meanwhile neither
shift pages nor appear twice; `_shard_doc` breaks @timestamp ties inside a PIT. The walk is sorted by
@timestamp because the alerting anchors an alert on the first event of its window, exactly as the
stream does when it sees the events in their order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch

from core.names import LOGS_PATTERN

PIT_KEEP_ALIVE = "2m"


def time_filter(start: datetime, end: datetime, *, by_ingested: bool) -> dict[str, Any]:
    """[start, end) in event time, or (scheduled hunts) in event time OR ingestion time.

    Why ingestion time too: an event that reaches Elasticsearch late (an agent that was offline, a
    file imported days later, a clock that was wrong) carries an old @timestamp. Its @timestamp
    window was searched before it existed, so a purely event-time schedule never sees it; its
    `event.ingested` lies in the current window, so the OR finds it on the next pass."""
    span = {"gte": start.isoformat(), "lt": end.isoformat()}
    by_time: dict[str, Any] = {"range": {"@timestamp": span}}
    if not by_ingested:
        return by_time
    return {"bool": {"should": [by_time, {"range": {"event.ingested": span}}], "minimum_should_match": 1}}


def iter_hits(
    es: Elasticsearch, query: dict[str, Any], *, index: str = LOGS_PATTERN, page_size: int = 1000
) -> Iterator[dict[str, Any]]:
    """Every matching document (`_id`, `_source`), oldest @timestamp first."""
    pit = es.open_point_in_time(index=index, keep_alive=PIT_KEEP_ALIVE, ignore_unavailable=True)["id"]
    after: list[Any] | None = None
    try:
        while True:
            response = es.search(
                query=query,
                size=page_size,
                pit={"id": pit, "keep_alive": PIT_KEEP_ALIVE},
                sort=[{"@timestamp": "asc"}, {"_shard_doc": "asc"}],
                search_after=after,
                track_total_hits=False,
            )
            pit = response.get("pit_id", pit)  # the id may change between pages
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < page_size:
                return
            after = hits[-1]["sort"]
    finally:
        es.close_point_in_time(id=pit)
