"""Logging in (API token, or user name and password), out, and choosing the language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.i18n import LANGUAGES
from api.console.web import LANG_COOKIE, ConsoleUser, render
from api.errors import BadRequest
from api.session import COOKIE, Sessions
from api.tokens import Principal, TokenStore
from api.users import UserStore
from core.settings import Settings

router = APIRouter(prefix="/console", include_in_schema=False)
YEAR_S = 365 * 24 * 3600


def _next(target: str | None) -> str:
    """Only a console path: a login link must not bounce the user to another site."""
    return target if target and target.startswith("/console/") and not target.startswith("//") else "/console/alerts"


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(_user: ConsoleUser) -> RedirectResponse:
    return RedirectResponse("/console/alerts", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the public parameter
    return render(request, "login.html", None, next=_next(next), failed=False)


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",  # noqa: A002
) -> Response:
    tokens: TokenStore = request.app.state.tokens
    users: UserStore = request.app.state.users
    principal: Principal | None = None
    if token.strip():
        principal = tokens.verify(token.strip())
    elif username.strip() and password:
        principal = users.authenticate(username.strip(), password)
    if principal is None:
        return render(request, "login.html", None, status_code=401, next=_next(next), failed=True)
    sessions: Sessions = request.app.state.sessions
    settings: Settings = request.app.state.settings
    cookie, _ = sessions.issue(principal)
    response = RedirectResponse(_next(next), status_code=303)
    response.set_cookie(COOKIE, cookie, max_age=int(sessions.max_age_s), httponly=True, samesite="strict",
                        secure=settings.environment == "production", path="/")  # fmt: skip
    return response


@router.post("/logout")
def logout(_user: ConsoleUser) -> Response:
    response = Response(status_code=204, headers={"HX-Redirect": "/console/login"})
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def choose_language(request: Request, lang: str, next: str | None = None) -> RedirectResponse:  # noqa: A002
    if lang not in LANGUAGES:
        raise BadRequest(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    response = RedirectResponse(_next(next) if next != "/console/login" else "/console/login", status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=YEAR_S, samesite="lax", path="/")
    return response
