"""Console sessions: a signed, HttpOnly, SameSite=Strict cookie naming who logged in, and its CSRF token.

The cookie holds no secret: the token id or the user name, a random CSRF token and the signing time
(itsdangerous, HMAC-SHA1 over a key only the server knows; older than `console_session_hours` is refused).
Every request resolves it again through the token or user store, so a revoked token or a disabled user
loses a logged-in session at the next request, as the bearer token would.

A request authenticated by the cookie that changes something (POST, PATCH, PUT, DELETE) must also carry
the session's CSRF token in the `X-CSRF-Token` header (the console's htmx sends it on every request):
SameSite=Strict already keeps other sites' forms from sending the cookie, and the token covers
browsers that ignore SameSite.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path
from typing import Literal

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import BaseModel, ConfigDict, ValidationError

from api.errors import Forbidden
from api.tokens import Principal, TokenStore
from api.users import USER_PREFIX, UserStore
from core.settings import Settings

COOKIE = "vigil_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Session(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["token", "user"]
    id: str
    csrf: str

    def csrf_matches(self, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(sent.encode(), self.csrf.encode())


class Sessions:
    """Issues and reads session cookies, and turns one back into the caller it names."""

    def __init__(self, secret: str, max_age_s: float, tokens: TokenStore, users: UserStore) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="vigil-console-session")
        self.max_age_s = max_age_s
        self.tokens = tokens
        self.users = users

    def issue(self, principal: Principal) -> tuple[str, Session]:
        is_user = principal.token_id.startswith(USER_PREFIX)
        session = Session(
            kind="user" if is_user else "token",
            id=principal.name if is_user else principal.token_id,
            csrf=secrets.token_urlsafe(32),
        )
        return self._serializer.dumps(session.model_dump()), session

    def read(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            return Session.model_validate(self._serializer.loads(cookie, max_age=int(self.max_age_s)))
        except (BadSignature, ValidationError):
            return None

    def authenticate(self, request: Request) -> Principal | None:
        """The caller named by the request's session cookie; None without a valid one. A change
        (not GET/HEAD/OPTIONS) without the session's CSRF header is refused (Forbidden)."""
        session = self.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        if request.method not in SAFE_METHODS and not session.csrf_matches(request.headers.get(CSRF_HEADER)):
            raise Forbidden(f"a change made with the console session needs its {CSRF_HEADER} header: reload the page")
        return self.principal(session)

    def principal(self, session: Session) -> Principal | None:
        """Who the session names, if they may still log in now (token active, user not disabled)."""
        if session.kind == "token":
            return self.tokens.lookup(session.id)
        record = self.users.get(session.id)
        return record.principal() if record is not None and record.active else None


def console_secret(settings: Settings) -> str:
    """`VIGIL_CONSOLE_SECRET`, else a random key created once in the data dir (sessions survive restarts)."""
    if settings.console_secret:
        return settings.console_secret
    path: Path = settings.data_dir / "console-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker process created it first
            return path.read_text(encoding="ascii").strip()
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()
