"""Log search: the `GET /events` query syntax, a time range, category facets, a histogram and pages.
The page calls the route function itself, so each search is audited exactly as an API search is."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from api.console.web import Page, query_model, render, with_query
from api.deps import AuditDep, ClientIp, EsDep, SettingsDep
from api.models.events import EventSearch
from api.permissions import Permission
from api.routes import events as events_api
from api.timeparse import absolute
from api.tokens import Principal
from core.names import Category
from core.settings import Settings

router = APIRouter(prefix="/console/search", include_in_schema=False)
PAGE_SIZE = 50
CATEGORY_FIELD = "vigil.category"
# Histogram intervals, finest first: the first that keeps the chart under ~120 bars is used.
INTERVALS = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("3h", 10800), ("12h", 43200), ("1d", 86400),
             ("7d", 604800))  # fmt: skip
RELATIVE = re.compile(r"^now-(\d+)([mhdw])$")
UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 604800}

Searcher = Annotated[Principal, Depends(Page(Permission.SEARCH_LOGS))]


def interval_for(start: str | None, end: str | None, now: datetime) -> str:
    """A histogram interval for the range: `now-24h` → 15m; no start → 1d."""

    def moment(value: str | None) -> datetime | None:
        if value is None or value == "now":
            return now
        match = RELATIVE.match(value)
        if match:
            return now - timedelta(seconds=int(match[1]) * UNIT_S[match[2]])
        parsed = absolute(value)
        return parsed.replace(tzinfo=now.tzinfo) if parsed and parsed.tzinfo is None else parsed

    first, last = moment(start) if start else None, moment(end)
    if first is None or last is None:
        return "1d"
    span = max((last - first).total_seconds(), 60)
    return next((name for name, seconds in INTERVALS if span / seconds <= 120), INTERVALS[-1][0])


@router.get("", response_class=HTMLResponse)
def search_page(
    request: Request, user: Searcher, ip: ClientIp, settings: SettingsDep, es: EsDep, audit: AuditDep
) -> HTMLResponse:
    context: dict[str, Any] = {"categories": list(Category), "query": request.query_params}
    if "q" not in request.query_params:  # the empty form: no search run, nothing read, nothing audited
        return render(request, "search.html", user, result=None, **context)
    page = max(int(request.query_params.get("page", "0") or 0), 0)
    start, end = request.query_params.get("from") or None, request.query_params.get("to") or None
    now = datetime.now(settings.zone)
    params = query_model(request, EventSearch, drop=frozenset({"page"}), size=PAGE_SIZE, offset=page * PAGE_SIZE,
                         agg=[CATEGORY_FIELD], interval=interval_for(start, end, now))  # fmt: skip
    result = events_api.search_events(user, params, request, ip, settings, es, audit)
    chosen = {str(c) for c in params.category}
    facets = [
        {"key": b.key, "count": b.count, "on": b.key in chosen,
         "url": _toggle(request, b.key, chosen)}
        for b in result.aggregations.get(CATEGORY_FIELD, [])
    ]  # fmt: skip
    histogram = result.histogram or []
    label = "%m-%d" if params.interval in ("1d", "7d") else "%m-%d %H:%M"
    return render(
        request,
        "search.html",
        user,
        result=result,
        facets=facets,
        chart={"type": "bar", "data": {"labels": [_label(b.key, label, settings) for b in histogram], "datasets": [
                   {"data": [b.count for b in histogram], "backgroundColor": "#1f5fbf"}]},
               "options": {"plugins": {"legend": {"display": False}},
                           "scales": {"x": {"ticks": {"maxTicksLimit": 12}}}}},
        interval=params.interval,
        page=page,
        prev_url=with_query(request, page=page - 1) if page else None,
        next_url=with_query(request, page=page + 1) if (page + 1) * PAGE_SIZE < min(result.count, 10_000) else None,
        **context,
    )  # fmt: skip


def _toggle(request: Request, category: str, chosen: set[str]) -> str:
    """The search with this category added to (or removed from) the filter, from the first page."""
    wanted = sorted(chosen ^ {category})
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in ("category", "page")]
    return f"{request.url.path}?{urlencode(pairs + [('category', c) for c in wanted])}"


def _label(key: str, pattern: str, settings: Settings) -> str:
    """A histogram bucket's start in the configured zone, as short as the interval allows."""
    return datetime.fromisoformat(key).astimezone(settings.zone).strftime(pattern)
