"""API tokens: hashed at rest, verified in constant time, revocable and expiring, file validated."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from api.permissions import Role
from api.tokens import TOKEN_RE, TokenStore, hash_token, new_token
from core.errors import ConfigError


@pytest.fixture
def store(tmp_path: Path) -> TokenStore:
    return TokenStore(tmp_path / "tokens.yaml")


def test_token_shape_and_hash() -> None:
    token_id, token = new_token()
    match = TOKEN_RE.match(token)
    assert match and match["id"] == token_id
    assert hash_token(token).startswith("sha256:") and len(hash_token(token)) == 7 + 64
    assert hash_token(token) != hash_token(token[:-1] + ("A" if token[-1] != "A" else "B"))


def test_secret_is_never_stored_and_verifies(store: TokenStore) -> None:
    record, token = store.create("alice", Role.OFFICER)
    text = store.path.read_text()
    assert token not in text and token.split("_", 2)[2] not in text
    assert record.hash in text
    principal = store.verify(token)
    assert principal is not None
    assert (principal.name, principal.role, principal.token_id) == ("alice", Role.OFFICER, record.id)
    # Owner-only file: even the hashes say who holds which role.
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600


def test_wrong_malformed_and_foreign_tokens_fail(store: TokenStore) -> None:
    record, token = store.create("alice", Role.ADMIN)
    tampered = token[:-1] + ("x" if token[-1] != "x" else "y")
    assert store.verify(tampered) is None
    assert store.verify("") is None
    assert store.verify("Bearer " + token) is None
    assert store.verify(token + "x") is None
    _, other = new_token()  # well-formed, unknown id
    assert store.verify(other) is None
    # Same id, another secret: the hash decides.
    assert store.verify(f"vgl_{record.id}_{other.split('_', 2)[2]}") is None


def test_revoke_takes_effect_in_a_running_store(store: TokenStore, tmp_path: Path) -> None:
    _, token = store.create("bob", Role.RESPONDER)
    assert store.verify(token) is not None
    # Another process (the CLI) revokes through its own store on the same file.
    TokenStore(store.path).revoke("bob")
    assert store.verify(token) is None
    assert [r.status(datetime.now(UTC)) for r in store.records()] == ["revoked"]
    with pytest.raises(ConfigError, match="no unrevoked token"):
        store.revoke("bob")


def test_expired_tokens_fail(store: TokenStore) -> None:
    record, token = store.create("temp", Role.AUDITOR, expires_in=timedelta(days=1))
    assert store.verify(token) is not None
    assert record.expires_at is not None
    assert store.verify(token, now=record.expires_at + timedelta(seconds=1)) is None
    assert store.active_count(now=record.expires_at) == 0


def test_names_are_unique_among_active_tokens(store: TokenStore) -> None:
    store.create("carol", Role.OFFICER)
    with pytest.raises(ConfigError, match="active token named 'carol'"):
        store.create("carol", Role.ADMIN)
    store.revoke("carol")
    store.create("carol", Role.ADMIN)  # a revoked name can be reused
    assert [r.status(datetime.now(UTC)) for r in store.records()] == ["revoked", "active"]


def test_invalid_tokens_file_is_a_config_error(store: TokenStore) -> None:
    store.path.write_text(yaml.safe_dump({"tokens": [{"id": "zz", "name": "x", "role": "root"}]}))
    with pytest.raises(ConfigError, match="invalid tokens file"):
        store.records()
    store.path.write_text("tokens: [unclosed")
    with pytest.raises(ConfigError, match="invalid tokens file"):
        store.verify(new_token()[1])


def test_missing_file_means_no_tokens(store: TokenStore) -> None:
    assert store.records() == [] and store.active_count() == 0
