"""`GET /events`: search the logs. Every search is audited before its results are returned."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.audit import TimeRange
from api.deps import AuditDep, ClientIp, EsDep, LogReader, SettingsDep
from api.models.common import AUTH_RESPONSES, Bucket, ErrorPublic
from api.models.events import EventPublic, EventSearch, EventsPublic
from api.queries import HISTOGRAM, encode_cursor, events_search
from api.search import check_page_size, run_search
from core.names import LOGS_PATTERN

router = APIRouter(prefix="/events", tags=["events"])


@router.get(
    "",
    response_model=EventsPublic,
    responses={**AUTH_RESPONSES, 503: {"model": ErrorPublic, "description": "Elasticsearch or the audit trail down"}},
    summary="Search log events: query string, filters, time range, sort, pages, counts",
)
def search_events(
    user: LogReader,
    params: Annotated[EventSearch, Query()],
    request: Request,
    ip: ClientIp,
    settings: SettingsDep,
    es: EsDep,
    audit: AuditDep,
) -> EventsPublic:
    check_page_size(params.size, settings.api_max_page_size)
    response = run_search(es, LOGS_PATTERN, events_search(params, settings.timezone))
    result = _events(response, params)
    # Audit before returning, and fail the request if the audit write fails: an unaudited read
    # of logs is not allowed (who looked at which logs must always be answerable).
    audit.record(
        user,
        action="events.search",
        method=request.method,
        endpoint=request.url.path,
        client_ip=ip,
        query=params.q,
        filters=params.model_dump(mode="json", exclude_defaults=True, exclude={"q", "from_", "to"}),
        time_range=TimeRange.model_validate({"from": params.from_, "to": params.to}),
        hits=result.count,
        returned=len(result.data),
    )
    return result


def _events(response: dict[str, Any], params: EventSearch) -> EventsPublic:
    hits = response["hits"]["hits"]
    data = [
        EventPublic.model_validate(
            {"id": hit["_id"], "index": hit["_index"], "@timestamp": hit["_source"]["@timestamp"],
             "document": hit["_source"]}
        )
        for hit in hits
    ]  # fmt: skip
    aggs = response.get("aggregations", {})
    more = params.size > 0 and len(hits) == params.size
    return EventsPublic(
        data=data,
        count=response["hits"]["total"]["value"],
        aggregations={field: _buckets(aggs[field]) for field in params.agg},
        histogram=_buckets(aggs[HISTOGRAM]) if params.interval else None,
        next=encode_cursor(hits[-1]["sort"]) if more else None,
    )


def _buckets(agg: dict[str, Any]) -> list[Bucket]:
    return [Bucket(key=str(b.get("key_as_string", b["key"])), count=b["doc_count"]) for b in agg["buckets"]]
