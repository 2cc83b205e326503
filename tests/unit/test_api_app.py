"""The app without backends: start-up rules, authentication and input checks that answer before
Kafka or Elasticsearch would be called (both point at a closed port here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core.errors import ConfigError
from core.settings import Settings


def offline_settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings(data_dir=tmp_path, es_url="http://127.0.0.1:9", kafka_bootstrap="127.0.0.1:9", **overrides)


@pytest.fixture
def tokens(tmp_path: Path) -> dict[Role, str]:
    store = TokenStore(offline_settings(tmp_path).tokens_path())
    return {role: store.create(f"t-{role.value}", role)[1] for role in Role}


@pytest.fixture
def client(tmp_path: Path, tokens: dict[Role, str]) -> Iterator[TestClient]:
    with TestClient(create_app(offline_settings(tmp_path, api_max_body_bytes=2048))) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_production_refuses_to_start_without_tokens(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no active API token"):
        create_app(offline_settings(tmp_path, environment="production"))
    store = TokenStore(offline_settings(tmp_path).tokens_path())
    store.create("ops", Role.ADMIN)
    store.revoke("ops")
    with pytest.raises(ConfigError, match="no active API token"):
        create_app(offline_settings(tmp_path, environment="production"))
    store.create("ops", Role.ADMIN)
    assert create_app(offline_settings(tmp_path, environment="production")).title == "Vigil API"


def test_broken_tokens_file_fails_at_start(tmp_path: Path) -> None:
    (tmp_path / "tokens.yaml").write_text("tokens: [{id: 1}]")
    with pytest.raises(ConfigError, match="invalid tokens file"):
        create_app(offline_settings(tmp_path))


@pytest.mark.parametrize("path", ["/health", "/events", "/audit"])
def test_401_without_or_with_a_bad_token(client: TestClient, path: str) -> None:
    missing = client.get(path)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="vigil", error="invalid_request"'
    assert "Authorization: Bearer" in missing.json()["detail"]
    for header in ({"Authorization": "Bearer vgl_00000000_" + "A" * 43}, {"Authorization": "Basic dXNlcjpwYXNz"},
                   {"Authorization": "Bearer"}):  # fmt: skip
        wrong = client.get(path, headers=header)
        assert wrong.status_code == 401, header
        assert wrong.headers["www-authenticate"].startswith('Bearer realm="vigil"')


def test_401_comes_before_input_validation(client: TestClient) -> None:
    assert client.get("/events?size=-5").status_code == 401


def test_403_names_the_needed_role(client: TestClient, tokens: dict[Role, str]) -> None:
    denied = client.get("/audit", headers=auth(tokens[Role.OFFICER]))
    assert denied.status_code == 403
    assert denied.json()["detail"] == "audit:read needs role admin or auditor; token 't-officer' has role officer"
    denied = client.post("/ingest", headers=auth(tokens[Role.AUDITOR]), content=b"{}")
    assert denied.status_code == 403 and "logs:ingest needs role admin" in denied.json()["detail"]


def test_ingest_refuses_bad_bodies_before_kafka(client: TestClient, tokens: dict[Role, str]) -> None:
    admin = auth(tokens[Role.ADMIN])
    ndjson = {**admin, "Content-Type": "application/x-ndjson"}
    wrong_type = client.post("/ingest", headers={**admin, "Content-Type": "application/xml"}, content=b"<a/>")
    assert wrong_type.status_code == 415 and "application/x-ndjson" in wrong_type.json()["detail"]
    too_big = client.post("/ingest", headers=ndjson, content=b'{"message": "x"}\n' * 200)
    assert too_big.status_code == 413 and "2048-byte limit" in too_big.json()["detail"]
    streamed = client.post("/ingest", headers=ndjson, content=iter([b"x" * 1500, b"y" * 1500]))  # chunked
    assert streamed.status_code == 413
    empty = client.post("/ingest", headers=ndjson, content=b"\n \n")
    assert empty.status_code == 422 and "no records" in empty.json()["detail"]
    orphan = client.post("/ingest?format=syslog", headers=ndjson, content=b"line\n")
    assert orphan.status_code == 422 and "give source=" in orphan.json()["detail"]
    bad_format = client.post("/ingest?source=s&format=klingon", headers=ndjson, content=b"line\n")
    assert bad_format.status_code == 422 and "unknown format 'klingon'" in bad_format.json()["detail"]


def test_search_input_errors_are_422_with_messages(client: TestClient, tokens: dict[Role, str]) -> None:
    officer = auth(tokens[Role.OFFICER])
    over_cap = client.get("/events?size=501", headers=officer)
    assert over_cap.status_code == 422 and over_cap.json()["detail"] == "size 501 is over the maximum page size 500"
    bad_time = client.get("/events?from=last tuesday", headers=officer)
    assert bad_time.status_code == 422
    body = bad_time.json()
    assert body["detail"].startswith("query.from: 'last tuesday' is not a time")
    assert body["errors"][0]["loc"] == ["query", "from"]
    typo = client.get("/events?catgory=user", headers=officer)
    assert typo.status_code == 422 and "catgory" in typo.json()["detail"]


def test_liveness_and_docs_need_no_token(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"/health", "/health/live", "/ingest", "/events", "/audit"} <= set(spec["paths"])


def test_backends_down_mean_degraded_health_and_503(client: TestClient, tokens: dict[Role, str]) -> None:
    admin = auth(tokens[Role.ADMIN])
    health = client.get("/health", headers=admin)
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "degraded" and body["consumer_groups"] == []
    assert not body["kafka"]["reachable"] and "127.0.0.1:9" in body["kafka"]["detail"]
    assert not body["elasticsearch"]["reachable"]
    search = client.get("/events", headers=admin)
    assert search.status_code == 503 and "Elasticsearch did not answer" in search.json()["detail"]
