"""Console users: a name, a role and a password stored only as a scrypt hash, in a YAML file.

Unlike API tokens (256 random bits, a fast hash suffices), passwords are guessable: scrypt (memory-
hard, in the standard library) with a per-user salt makes each guess expensive. Like the tokens file,
the store re-reads the file when it changes, so `vigil user disable` locks a running console out at
the user's next request (policy 4: departed staff lose access quickly).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.permissions import Role
from api.tokens import Principal, TokenName
from api.yaml_file import YamlFile
from core.errors import ConfigError

# OWASP's scrypt floor (N=2^17, r=8, p=1) needs 128 MiB per check; 2^15 keeps 32 MiB, still far above bcrypt-cost
# guessing rates, without letting a burst of logins exhaust a small API host's memory.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
MIN_PASSWORD = 10
USER_PREFIX = "user:"  # a user's principal id; token ids are 8 hex digits, so the two never collide


def hash_password(password: str, n: int = SCRYPT_N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=SCRYPT_R, p=SCRYPT_P, maxmem=256 * 1024 * 1024)
    encode = base64.b64encode
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    scheme, n, r, p, salt, digest = stored.split("$")
    if scheme != "scrypt":
        return False
    got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                         maxmem=256 * 1024 * 1024)  # fmt: skip
    return hmac.compare_digest(got, base64.b64decode(digest))


@cache
def _dummy_hash() -> str:
    """Checked when the name is unknown, so a wrong name takes as long as a wrong password."""
    return hash_password(secrets.token_urlsafe(16))


class UserRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: TokenName
    role: Role
    password: str = Field(pattern=r"^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$")
    created_at: AwareDatetime
    disabled_at: AwareDatetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def principal(self) -> Principal:
        return Principal(token_id=USER_PREFIX + self.name, name=self.name, role=self.role)


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    users: list[UserRecord] = Field(default_factory=list)


class UserStore:
    """The users file, parsed once per change (mtime + size), written atomically with mode 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = YamlFile(path, UsersFile, "users file")

    def records(self) -> list[UserRecord]:
        return list(self._file.current().users)

    def get(self, name: str) -> UserRecord | None:
        return self._by_key().get(name)

    def authenticate(self, name: str, password: str) -> Principal | None:
        record = self.get(name)
        ok = check_password(password, record.password if record else _dummy_hash())
        return record.principal() if ok and record is not None and record.active else None

    def create(self, name: str, role: Role, password: str) -> UserRecord:
        if len(password) < MIN_PASSWORD:
            raise ConfigError(f"the password must have at least {MIN_PASSWORD} characters")
        with self._file.lock:
            document = self._file.read()
            if any(r.name == name for r in document.users):
                raise ConfigError(f"a user named {name!r} exists in {self.path}")
            record = UserRecord(name=name, role=role, password=hash_password(password), created_at=datetime.now(UTC))
            document.users.append(record)
            self._file.write(document)
        return record

    def disable(self, name: str) -> UserRecord:
        """The record stays (who held which role is history); the user can no longer log in."""
        with self._file.lock:
            document = self._file.read()
            for index, record in enumerate(document.users):
                if record.name == name and record.active:
                    document.users[index] = record.model_copy(update={"disabled_at": datetime.now(UTC)})
                    self._file.write(document)
                    return document.users[index]
        raise ConfigError(f"no active user named {name!r} in {self.path}")

    def _by_key(self) -> dict[str, UserRecord]:
        return {record.name: record for record in self._file.current().users}
