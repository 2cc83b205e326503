"""API tokens: created once, shown once, stored only as a SHA-256 hash in a YAML file.

A token is `vgl_<id>_<secret>`: `id` (8 hex) finds the record without scanning, `secret` carries
256 random bits. With that much entropy a fast hash is the norm (GitHub, Stripe, GitLab tokens):
slow password hashes (bcrypt, argon2) defend guessable secrets, and these are not guessable.
Verification compares digests in constant time.

The store re-reads the file when it changes, so `vigil token revoke` takes effect in a running
API at the next request (policy 4: departed staff lose access quickly).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from api.permissions import Role
from api.yaml_file import YamlFile
from core.errors import ConfigError

TOKEN_PREFIX = "vgl"
TOKEN_RE = re.compile(rf"^{TOKEN_PREFIX}_(?P<id>[0-9a-f]{{8}})_(?P<secret>[A-Za-z0-9_-]{{43}})$")

TokenName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w.@-]+$")]


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """(token id, full token string)."""
    token_id = secrets.token_hex(4)
    return token_id, f"{TOKEN_PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"


class TokenRecord(BaseModel):
    """One token as stored: never the secret itself."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[0-9a-f]{8}$")
    name: TokenName
    role: Role
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    created_at: AwareDatetime
    expires_at: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def status(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.active(now) else "expired"


class TokensFile(BaseModel):
    """The YAML document at `Settings.tokens_path()`."""

    model_config = ConfigDict(extra="forbid")

    version: int = 1
    tokens: list[TokenRecord] = Field(default_factory=list)


class Principal(BaseModel):
    """Who is calling: what routes and the audit trail see of a verified token."""

    model_config = ConfigDict(frozen=True)

    token_id: str
    name: str
    role: Role


class TokenStore:
    """The tokens file, parsed once per change (mtime + size) and validated by pydantic."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = YamlFile(path, TokensFile, "tokens file")

    def records(self) -> list[TokenRecord]:
        return list(self._file.current().tokens)

    def active_count(self, now: datetime | None = None) -> int:
        moment = now or datetime.now(UTC)
        return sum(1 for record in self.records() if record.active(moment))

    def verify(self, token: str, now: datetime | None = None) -> Principal | None:
        """The principal of a valid, active token; None for anything else (the caller says 401)."""
        match = TOKEN_RE.match(token)
        if not match:
            return None
        record = self._by_key().get(match["id"])
        if record is None or not hmac.compare_digest(record.hash, hash_token(token)):
            return None
        if not record.active(now or datetime.now(UTC)):
            return None
        return Principal(token_id=record.id, name=record.name, role=record.role)

    def lookup(self, token_id: str, now: datetime | None = None) -> Principal | None:
        """The principal of an active token by id (a console session names its token by id only)."""
        record = self._by_key().get(token_id)
        if record is None or not record.active(now or datetime.now(UTC)):
            return None
        return Principal(token_id=record.id, name=record.name, role=record.role)

    def create(self, name: str, role: Role, expires_in: timedelta | None = None) -> tuple[TokenRecord, str]:
        """Add a token; returns the record and the secret token, which is never stored or shown again."""
        now = datetime.now(UTC)
        with self._file.lock:
            document = self._file.read()
            if any(r.name == name and r.active(now) for r in document.tokens):
                raise ConfigError(f"an active token named {name!r} exists: revoke it first or pick another name")
            token_id, token = new_token()
            while any(r.id == token_id for r in document.tokens):
                token_id, token = new_token()
            record = TokenRecord(
                id=token_id,
                name=name,
                role=role,
                hash=hash_token(token),
                created_at=now,
                expires_at=now + expires_in if expires_in else None,
            )
            document.tokens.append(record)
            self._file.write(document)
        return record, token

    def revoke(self, key: str) -> TokenRecord:
        """Revoke by id or name; the record stays in the file (who held which token is history)."""
        now = datetime.now(UTC)
        with self._file.lock:
            document = self._file.read()
            matches = [i for i, r in enumerate(document.tokens) if key in (r.id, r.name) and r.revoked_at is None]
            if not matches:
                raise ConfigError(f"no unrevoked token with id or name {key!r} in {self.path}")
            if len(matches) > 1:
                raise ConfigError(f"{key!r} names {len(matches)} tokens: revoke by id")
            index = matches[0]
            document.tokens[index] = document.tokens[index].model_copy(update={"revoked_at": now})
            self._file.write(document)
        return document.tokens[index]

    def _by_key(self) -> dict[str, TokenRecord]:
        return {record.id: record for record in self._file.current().tokens}
