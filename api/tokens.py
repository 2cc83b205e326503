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
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from api.permissions import Role
from core.errors import ConfigError
from core.files import write_atomic

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
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._records: dict[str, TokenRecord] = {}

    def records(self) -> list[TokenRecord]:
        self._refresh()
        return list(self._records.values())

    def active_count(self, now: datetime | None = None) -> int:
        moment = now or datetime.now(UTC)
        return sum(1 for record in self.records() if record.active(moment))

    def verify(self, token: str, now: datetime | None = None) -> Principal | None:
        """The principal of a valid, active token; None for anything else (the caller says 401)."""
        match = TOKEN_RE.match(token)
        if not match:
            return None
        self._refresh()
        record = self._records.get(match["id"])
        if record is None or not hmac.compare_digest(record.hash, hash_token(token)):
            return None
        if not record.active(now or datetime.now(UTC)):
            return None
        return Principal(token_id=record.id, name=record.name, role=record.role)

    def lookup(self, token_id: str, now: datetime | None = None) -> Principal | None:
        """The principal of an active token by id (a console session names its token by id only)."""
        self._refresh()
        record = self._records.get(token_id)
        if record is None or not record.active(now or datetime.now(UTC)):
            return None
        return Principal(token_id=record.id, name=record.name, role=record.role)

    def create(self, name: str, role: Role, expires_in: timedelta | None = None) -> tuple[TokenRecord, str]:
        """Add a token; returns the record and the secret token, which is never stored or shown again."""
        now = datetime.now(UTC)
        with self._lock:
            document = self._read()
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
            self._write(document)
        return record, token

    def revoke(self, key: str) -> TokenRecord:
        """Revoke by id or name; the record stays in the file (who held which token is history)."""
        now = datetime.now(UTC)
        with self._lock:
            document = self._read()
            matches = [i for i, r in enumerate(document.tokens) if key in (r.id, r.name) and r.revoked_at is None]
            if not matches:
                raise ConfigError(f"no unrevoked token with id or name {key!r} in {self.path}")
            if len(matches) > 1:
                raise ConfigError(f"{key!r} names {len(matches)} tokens: revoke by id")
            index = matches[0]
            document.tokens[index] = document.tokens[index].model_copy(update={"revoked_at": now})
            self._write(document)
        return document.tokens[index]

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and (stamp is not None or not self._records):
            return
        with self._lock:
            document = self._read()
            self._records = {record.id: record for record in document.tokens}
            self._stamp = stamp

    def _read(self) -> TokensFile:
        if not self.path.exists():
            return TokensFile()
        try:
            data = yaml.safe_load(self.path.read_text(encoding="utf-8")) or {}
            return TokensFile.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"invalid tokens file {self.path}: {exc}") from exc

    def _write(self, document: TokensFile) -> None:
        """Atomic replace, readable by the owner only: even hashes tell an attacker who holds which role."""
        write_atomic(
            self.path,
            yaml.safe_dump(document.model_dump(mode="json", exclude_none=True), sort_keys=False).encode(),
            private=True,
        )
