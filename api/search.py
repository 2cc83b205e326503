"""Running a search against Elasticsearch and turning its errors into API errors."""

from __future__ import annotations

from typing import Any

from elasticsearch import ApiError, BadRequestError, Elasticsearch, TransportError

from api.errors import BackendUnavailable, BadRequest


def check_page_size(size: int, cap: int) -> None:
    """The server's page cap (`VIGIL_API_MAX_PAGE_SIZE`): big exports page with the cursor instead."""
    if size > cap:
        raise BadRequest(f"size {size} is over the maximum page size {cap}")


def run_search(es: Elasticsearch, index: str, body: dict[str, Any]) -> dict[str, Any]:
    """A query Elasticsearch refuses (bad `q` syntax, too many buckets) is the caller's input: 422."""
    try:
        response = es.search(index=index, ignore_unavailable=True, allow_no_indices=True, **body)
    except BadRequestError as exc:
        raise BadRequest(f"Elasticsearch refused the query: {_root_cause(exc)}") from exc
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer the search: {exc}") from exc
    return dict(response.body)


def _root_cause(exc: ApiError) -> str:
    """Elasticsearch's first non-empty reason: a root cause (`Failed to parse query [...]`), else the
    `caused_by` chain (too many buckets reports only there), else its summary."""
    error = exc.body.get("error") if isinstance(exc.body, dict) else None
    candidates: list[Any] = []
    if isinstance(error, dict):
        candidates = [*(error.get("root_cause") or []), error]
        cause = error.get("caused_by")
        while isinstance(cause, dict):
            candidates.append(cause)
            cause = cause.get("caused_by")
    for candidate in candidates:
        reason = candidate.get("reason") if isinstance(candidate, dict) else None
        if isinstance(reason, str) and reason:
            return reason
    return str(exc.message)
