"""What every console page shares: templates, the language and time zone, who is logged in, what
they may see, and reading query strings into the API's own parameter models."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar, get_origin
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ValidationError

from api.console.i18n import LANGUAGES, translator
from api.deps import RequireRole
from api.errors import ApiError, BadRequest, Forbidden
from api.permissions import Permission, allowed
from api.session import COOKIE, CSRF_HEADER, Sessions
from api.tokens import Principal
from core.settings import Settings
from reports.i18n import duration

HERE = Path(__file__).parent
LANG_COOKIE = "vigil_lang"
DEFAULT_LANG = "zh-CN"
templates = Jinja2Templates(directory=HERE / "templates")

M = TypeVar("M", bound=BaseModel)


class LoginRequired(ApiError):
    """No valid session: the console answers with the login page (a redirect), not a bare 401."""

    status_code = 401


class PageForbidden(ApiError):
    """The role lacks the page's permission: a 403 page naming the roles that have it."""

    status_code = 403


def language(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE, DEFAULT_LANG)
    return chosen if chosen in LANGUAGES else DEFAULT_LANG


def session_user(request: Request) -> Principal:
    sessions: Sessions = request.app.state.sessions
    principal = sessions.authenticate(request)
    if principal is None:
        raise LoginRequired("log in first")
    request.state.principal = principal  # the error page shows the navigation of who is logged in
    return principal


ConsoleUser = Annotated[Principal, Depends(session_user)]


class Page:
    """`Depends(Page(Permission.X))`: the logged-in user, if their role holds X. The check is the
    API's own `RequireRole` (same table, and a refused log read is audited as the API audits it)."""

    def __init__(self, permission: Permission) -> None:
        self.check = RequireRole(permission)

    def __call__(self, user: ConsoleUser, request: Request) -> Principal:
        try:
            return self.check(user, request)
        except Forbidden as exc:
            raise PageForbidden(exc.detail) from None


# Navigation: (path, label key, the permission that shows it). A link is shown only to roles that may open it.
NAV: tuple[tuple[str, str, Permission], ...] = (
    ("/console/alerts", "nav.alerts", Permission.READ_ALERTS),
    ("/console/incidents", "nav.incidents", Permission.READ_INCIDENTS),
    ("/console/search", "nav.search", Permission.SEARCH_LOGS),
    ("/console/patrol", "nav.patrol", Permission.READ_REPORTS),
    ("/console/health", "nav.health", Permission.READ_HEALTH),
    ("/console/audit", "nav.audit", Permission.READ_AUDIT),
    ("/console/admin/rules", "nav.rules", Permission.READ_RULES),
    ("/console/admin/entities", "nav.entities", Permission.READ_ENTITIES),
    ("/console/admin/playbooks", "nav.playbooks", Permission.READ_PLAYBOOKS),
    ("/console/admin/access", "nav.access", Permission.MANAGE_ACCESS),
)


def render(request: Request, template: str, user: Principal | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:  # fmt: skip
    settings: Settings = request.app.state.settings
    lang = language(request)
    t = translator(lang)
    sessions: Sessions = request.app.state.sessions
    session = sessions.read(request.cookies.get(COOKIE))
    zone = settings.zone

    def when(value: datetime | str | None, seconds: bool = False) -> str:
        if value is None:
            return "-"
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    nav = [(path, t(key)) for path, key, perm in NAV if user is not None and allowed(user.role, perm)]
    base = {
        "user": user,
        "lang": lang,
        "languages": LANGUAGES,
        "t": t,
        "when": when,
        "zone": settings.timezone,
        "nav": nav,
        "path": request.url.path,
        "csrf_headers": json.dumps({CSRF_HEADER: session.csrf}) if session else "{}",
        "can": (lambda perm: user is not None and allowed(user.role, Permission(perm))),
        "tojson": lambda value: json.dumps(value, ensure_ascii=False, default=str),
        "htmx": request.headers.get("HX-Request") == "true",
        "dur": duration,
    }
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def query_model(request: Request, model: type[M], *, drop: frozenset[str] = frozenset(), **extra: Any) -> M:
    """The page's query string as the API's parameter model: repeated keys become lists, empty
    form fields are unset. Raises BadRequest naming the field, as the API's 422 does."""
    values: dict[str, Any] = {}
    list_fields = {name for name, field in model.model_fields.items() if get_origin(field.annotation) is list}
    aliases = {field.alias or name: name for name, field in model.model_fields.items()}
    for key in request.query_params:
        if key in drop:
            continue
        items = [v for v in request.query_params.getlist(key) if v.strip()]
        if not items:
            continue
        values[key] = items if aliases.get(key, key) in list_fields else items[-1]
    values.update(extra)
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "query"
        raise BadRequest(f"{where}: {error['msg'].removeprefix('Value error, ')}") from None


def with_query(request: Request, **changes: Any) -> str:
    """This page's URL with some query parameters replaced (pagination links)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    pairs += [(k, str(v)) for k, v in changes.items() if v is not None]
    return f"{request.url.path}?{urlencode(pairs)}"
