"""`vigil token create|list|revoke`: the secret is printed once, never listed, and revocation sticks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.tokens import TOKEN_RE, TokenStore
from core.cli import app
from core.settings import get_settings

runner = CliRunner()


@pytest.fixture
def tokens_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "tokens.yaml"
    monkeypatch.setenv("VIGIL_TOKENS_FILE", str(path))
    get_settings.cache_clear()
    yield path
    get_settings.cache_clear()


def test_create_list_revoke(tokens_file: Path) -> None:
    created = runner.invoke(app, ["token", "create", "alice", "--role", "officer", "--expires-days", "30"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert TOKEN_RE.match(token)
    principal = TokenStore(tokens_file).verify(token)
    assert principal is not None and principal.role == "officer"

    listed = runner.invoke(app, ["token", "list"])
    assert listed.exit_code == 0 and "alice" in listed.output and "active" in listed.output
    assert token.split("_", 2)[2] not in listed.output and token.split("_", 2)[2] not in tokens_file.read_text()

    revoked = runner.invoke(app, ["token", "revoke", "alice"])
    assert revoked.exit_code == 0 and "revoked token" in revoked.output
    assert TokenStore(tokens_file).verify(token) is None
    assert "revoked" in runner.invoke(app, ["token", "list"]).output


def test_bad_role_is_refused(tokens_file: Path) -> None:
    result = runner.invoke(app, ["token", "create", "bob", "--role", "root"])
    assert result.exit_code != 0 and "role must be one of admin, officer, responder" in result.output
    assert not tokens_file.exists()
