"""Console users (scrypt hashes), signed sessions, CSRF and the language catalogue, without a stack."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from api.app import create_app
from api.console.i18n import MESSAGES, VALUES, translator
from api.permissions import Role
from api.session import COOKIE, Sessions
from api.tokens import Principal, TokenStore
from api.users import UserStore, check_password, hash_password
from core.errors import ConfigError
from core.settings import Settings

PASSWORD = "correct-horse-battery"


def test_passwords_are_stored_only_as_salted_scrypt(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.yaml")
    store.create("olga", Role.OFFICER, PASSWORD)
    text = (tmp_path / "users.yaml").read_text()
    assert PASSWORD not in text and "scrypt$" in text
    assert (tmp_path / "users.yaml").stat().st_mode & 0o077 == 0
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # salted
    assert check_password(PASSWORD, yaml.safe_load(text)["users"][0]["password"])
    assert store.authenticate("olga", PASSWORD) is not None
    assert store.authenticate("olga", PASSWORD + "x") is None
    assert store.authenticate("nobody", PASSWORD) is None
    with pytest.raises(ConfigError, match="at least"):
        store.create("short", Role.ADMIN, "abc")
    with pytest.raises(ConfigError, match="exists"):
        store.create("olga", Role.ADMIN, PASSWORD)


def test_sessions_are_signed_expire_and_follow_the_stores(tmp_path: Path) -> None:
    tokens, users = TokenStore(tmp_path / "tokens.yaml"), UserStore(tmp_path / "users.yaml")
    users.create("olga", Role.OFFICER, PASSWORD)
    record, token = tokens.create("ops", Role.ADMIN)
    sessions = Sessions("k" * 40, 3600, tokens, users)
    user_cookie, user_session = sessions.issue(users.authenticate("olga", PASSWORD))  # type: ignore[arg-type]
    token_cookie, _ = sessions.issue(tokens.verify(token))  # type: ignore[arg-type]
    assert token not in token_cookie  # the cookie names the token, it does not carry it
    assert sessions.principal(sessions.read(user_cookie)) is not None  # type: ignore[arg-type]
    assert sessions.read(user_cookie[:-2] + "xx") is None  # tampered
    assert Sessions("other-secret" * 4, 3600, tokens, users).read(user_cookie) is None
    assert not user_session.csrf_matches(None) and user_session.csrf_matches(user_session.csrf)
    # Revoking the token or disabling the user ends their sessions at the next request.
    tokens.revoke("ops")
    assert sessions.principal(sessions.read(token_cookie)) is None  # type: ignore[arg-type]
    users.disable("olga")
    assert sessions.principal(sessions.read(user_cookie)) is None  # type: ignore[arg-type]
    expiring = Sessions("k" * 40, 1, tokens, users)
    old, _ = expiring.issue(Principal(token_id=record.id, name=record.name, role=record.role))
    time.sleep(2.1)
    assert expiring.read(old) is None


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path)
    UserStore(settings.users_path()).create("olga", Role.OFFICER, PASSWORD)
    return TestClient(create_app(settings))


def test_login_sets_a_strict_httponly_cookie_and_refuses_changes_without_csrf(client: TestClient) -> None:
    assert client.post("/console/login", data={"username": "olga", "password": "nope"}).status_code == 401
    reply = client.post("/console/login", data={"username": "olga", "password": PASSWORD, "next": "//evil.example"},
                        follow_redirects=False)  # fmt: skip
    assert reply.status_code == 303 and reply.headers["location"] == "/console/alerts"  # no open redirect
    cookie = reply.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    # A change with the session cookie but without its CSRF header is refused before anything runs.
    refused = client.post("/alerts/ack", json={"ids": ["x"]})
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    assert client.get("/console/lang/en", follow_redirects=False).headers["set-cookie"].startswith("vigil_lang=en")


def test_the_catalogue_has_both_languages() -> None:
    assert all(en and zh and en != zh or key in {"attack"} for key, (en, zh) in MESSAGES.items())
    assert all(zh for _, zh in VALUES.values())
    assert translator("en")("alerts.count", n=3) == "3 alerts"
    assert translator("zh-CN")("alerts.count", n=3) == "共 3 条告警"
    assert translator("zh-CN")("findings") == "巡查发现"  # from the reports' catalogue
