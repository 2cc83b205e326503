"""The API against the real stack: real loghub lines through POST /ingest → Kafka → normaliser →
indexer → Elasticsearch, then searched through GET /events, with every read audited in
`vigil-audit`. Expected results come from the dataset itself (grep-style counts) and from the
record ids the batches must produce, not from Elasticsearch."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from api.ingest_batch import Origin, split_batch
from api.models.ingest import TextBatch
from api.permissions import Role
from api.tokens import TokenStore
from core.models.ecs import EcsEvent
from core.models.envelope import RawEnvelope
from core.names import AUDIT_INDEX
from core.settings import Settings
from ingest.normaliser import normalise
from stack.local import LocalStack
from tests.datasets import dataset
from tests.integration.events_support import start_pipeline_at_end
from tests.integration.test_pipeline_e2e import run_workers
from tests.integration.test_pipeline_faults import garbage_lines

pytestmark = pytest.mark.integration

NDJSON = {"Content-Type": "application/x-ndjson"}
OPENSSH_SOURCE, LINUX_SOURCE = "api-openssh", "api-linux"


@dataclass
class Corpus:
    openssh_lines: list[str]
    openssh_events: dict[str, EcsEvent]  # what the normaliser must make of the posted lines, by record id
    linux_events: dict[str, EcsEvent]
    linux_sent: int
    garbage_sent: int
    responses: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def api_settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # vigil-* group names: /health must find them by that prefix.
    return Settings(
        kafka_bootstrap=stack.config.kafka_bootstrap,
        es_url=stack.config.es_url,
        data_dir=tmp_path_factory.mktemp("api"),
        normaliser_group="vigil-apitest-normaliser",
        indexer_group="vigil-apitest-indexer",
    )


@pytest.fixture(scope="module")
def tokens(api_settings: Settings) -> dict[Role, str]:
    store = TokenStore(api_settings.tokens_path())
    return {role: store.create(f"api-{role.value}", role)[1] for role in Role}


@pytest.fixture(scope="module")
def client(api_settings: Settings, tokens: dict[Role, str]) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def es(api_settings: Settings) -> Elasticsearch:
    return Elasticsearch(api_settings.es_url)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def oracle(body: bytes, text: TextBatch | None, settings: Settings, default_source: str) -> dict[str, EcsEvent]:
    """The events the pipeline must index for a batch: same split, same parsers, same zone."""
    origin = Origin(default_source, datetime.now(UTC), "testclient", settings.max_line_bytes)
    batch = split_batch(body, text=text, origin=origin)
    events = {}
    for line in batch.lines:
        if isinstance(line.item, RawEnvelope):
            result = normalise(line.item, settings.zone)
            if isinstance(result, EcsEvent):
                events[line.item.id] = result
    return events


@pytest.fixture(scope="module")
def corpus(client: TestClient, tokens: dict[Role, str], api_settings: Settings, es: Elasticsearch) -> Corpus:
    start_pipeline_at_end(api_settings)
    admin = {**auth(tokens[Role.ADMIN]), **NDJSON}
    responses = {}
    # OpenSSH as plain text lines of one source.
    openssh_body = dataset("loghub", "OpenSSH", "OpenSSH_2k.log").read_bytes()
    reply = client.post(f"/ingest?source={OPENSSH_SOURCE}", headers=admin, content=openssh_body)
    assert reply.status_code == 200, reply.text
    responses["openssh"] = reply.json()
    # Linux as JSON records, interleaved with garbage lines that must be dead-lettered, not lost.
    linux = dataset("loghub", "Linux", "Linux_2k.log").read_text(encoding="utf-8").split("\n")
    linux = [line for line in linux if line.strip()]
    garbage = [line for line in garbage_lines(600, seed=11) if line.strip()]
    mixed: list[bytes] = []
    for i, line in enumerate(linux):
        mixed.append(json.dumps({"message": line, "source": LINUX_SOURCE}).encode())
        if i < len(garbage):
            mixed.append(garbage[i])
    linux_body = b"\n".join(mixed) + b"\n"
    reply = client.post("/ingest", headers=admin, content=linux_body)
    assert reply.status_code == 200, reply.text
    responses["linux"] = reply.json()

    run_workers(api_settings)
    es.indices.refresh(index="logs-*,vigil-deadletter-*")
    text = TextBatch(source=OPENSSH_SOURCE)
    return Corpus(
        openssh_lines=[line for line in openssh_body.decode().split("\n") if line.strip()],
        openssh_events=oracle(openssh_body, text, api_settings, "unused"),
        linux_events=oracle(linux_body, None, api_settings, "http-api-admin"),
        linux_sent=len(linux),
        garbage_sent=len(garbage),
        responses=responses,
    )


def search(client: TestClient, token: str, **params: Any) -> dict[str, Any]:
    reply = client.get("/events", headers=auth(token), params=params)
    assert reply.status_code == 200, reply.text
    result: dict[str, Any] = reply.json()
    return result


def test_ingest_reports_every_line(corpus: Corpus) -> None:
    openssh, linux = corpus.responses["openssh"], corpus.responses["linux"]
    assert openssh == {"accepted": 2000, "deadlettered": 0, "blank": 0, "deadletters": []}
    assert linux["accepted"] == corpus.linux_sent == 2000
    assert linux["deadlettered"] == corpus.garbage_sent
    # Line numbers: garbage sits on every even line of the body, up to the last garbage line.
    assert [d["line"] for d in linux["deadletters"]] == [2 * i + 2 for i in range(corpus.garbage_sent)]
    assert all(d["reason"].startswith(f"line {d['line']}: ") for d in linux["deadletters"])


def test_events_equal_what_was_indexed(client: TestClient, tokens: dict[Role, str], corpus: Corpus) -> None:
    officer = tokens[Role.OFFICER]
    # Every OpenSSH line parses (2,000 events); page through all of them with the cursor.
    assert len(corpus.openssh_events) == 2000
    seen: list[str] = []
    params: dict[str, Any] = {"source": OPENSSH_SOURCE, "size": 500, "sort": "@timestamp"}
    while True:
        page = search(client, officer, **params)
        assert page["count"] == 2000
        seen += [event["id"] for event in page["data"]]
        if not page["next"]:
            break
        params["after"] = page["next"]
    assert len(seen) == len(set(seen)) == 2000
    assert set(seen) == set(corpus.openssh_events)
    # Linux records: exactly the events the parsers make of them, the rest dead-lettered by the normaliser.
    linux = search(client, officer, source=LINUX_SOURCE, size=0)
    assert linux["count"] == len(corpus.linux_events)


def test_query_string_and_structured_filters(client: TestClient, tokens: dict[Role, str], corpus: Corpus) -> None:
    token = tokens[Role.RESPONDER]
    lines = corpus.openssh_lines
    failed = sum("Failed password" in line for line in lines)
    assert failed == 520  # grep -c "Failed password" OpenSSH_2k.log
    assert search(client, token, q='"Failed password"', source=OPENSSH_SOURCE, size=0)["count"] == failed
    invalid = sum("Failed password for invalid user" in line for line in lines)
    hits = search(client, token, q='"Failed password for invalid user"', source=OPENSSH_SOURCE, size=0)
    assert hits["count"] == invalid
    root = sum("Failed password for root " in line for line in lines)
    hits = search(client, token, q='"Failed password"', user="root", source=OPENSSH_SOURCE, size=0)
    assert hits["count"] == root
    by_outcome = Counter(e.event.outcome for e in corpus.openssh_events.values())
    for outcome, count in by_outcome.items():
        if outcome:
            assert search(client, token, outcome=outcome, source=OPENSSH_SOURCE, size=0)["count"] == count
    ip = next(e.source.ip for e in corpus.openssh_events.values() if e.source and e.source.ip)
    from_ip = sum(1 for e in corpus.openssh_events.values() if e.source and e.source.ip == ip)
    assert search(client, token, source_ip=ip, source=OPENSSH_SOURCE, size=0)["count"] == from_ip
    page = search(client, token, q="sshd AND root", source=OPENSSH_SOURCE, size=3)
    assert len(page["data"]) == 3 and all(e["document"]["vigil"]["source"] == OPENSSH_SOURCE for e in page["data"])


def test_time_range(client: TestClient, tokens: dict[Role, str], corpus: Corpus) -> None:
    token = tokens[Role.OFFICER]
    times = sorted(e.timestamp for e in corpus.openssh_events.values())
    pivot = times[len(times) // 2]
    after = sum(1 for t in times if t >= pivot)
    assert search(client, token, source=OPENSSH_SOURCE, size=0, **{"from": pivot.isoformat()})["count"] == after
    before = search(client, token, source=OPENSSH_SOURCE, size=0, to=pivot.isoformat())["count"]
    assert before == 2000 - after
    # A local time without an offset is read in the server's zone (Asia/Shanghai).
    local = pivot.astimezone(corpus_zone()).replace(tzinfo=None).isoformat()
    assert search(client, token, source=OPENSSH_SOURCE, size=0, **{"from": local})["count"] == after
    assert search(client, token, source=OPENSSH_SOURCE, size=0, **{"from": "now-100y"})["count"] == 2000
    assert search(client, token, source=OPENSSH_SOURCE, size=0, to="now-100y")["count"] == 0


ZONE = Settings().zone  # the default display zone (Asia/Shanghai); api_settings keeps it


def corpus_zone() -> Any:
    return ZONE


def test_aggregations(client: TestClient, tokens: dict[Role, str], corpus: Corpus) -> None:
    token = tokens[Role.ADMIN]
    result = search(client, token, source=LINUX_SOURCE, size=0, agg=["event.dataset", "vigil.category"],
                    agg_size=100, interval="1d")  # fmt: skip
    datasets = Counter(e.event.dataset for e in corpus.linux_events.values())
    assert {b["key"]: b["count"] for b in result["aggregations"]["event.dataset"]} == dict(datasets)
    categories = Counter(e.vigil.category.value for e in corpus.linux_events.values())
    assert {b["key"]: b["count"] for b in result["aggregations"]["vigil.category"]} == dict(categories)
    days = Counter(e.timestamp.astimezone(corpus_zone()).date().isoformat() for e in corpus.linux_events.values())
    histogram = {b["key"][:10]: b["count"] for b in result["histogram"] if b["count"]}
    assert histogram == dict(days)


def test_garbage_ndjson_lines_end_in_the_dead_letter_index(
    corpus: Corpus, es: Elasticsearch, api_settings: Settings
) -> None:
    letters = corpus.responses["linux"]["deadletters"]
    stored = es.search(index="vigil-deadletter-*", size=1000, query={"bool": {"filter": [
        {"term": {"source": "http-api-admin"}}, {"term": {"stage": "collect"}}]}})["hits"]  # fmt: skip
    assert stored["total"]["value"] == corpus.garbage_sent
    by_id = {hit["_id"]: hit["_source"] for hit in stored["hits"]}
    assert set(by_id) == {d["id"] for d in letters}
    for letter in letters:
        doc = by_id[letter["id"]]
        assert doc["reason"] == letter["reason"] and doc["transport"] == "http" and doc["raw"]
    # And the Linux lines no parser understands were dead-lettered by the normaliser, with a reason.
    normalised = es.count(index="vigil-deadletter-*", query={"term": {"source": LINUX_SOURCE}})["count"]
    assert normalised == corpus.linux_sent - len(corpus.linux_events)


def test_10k_garbage_lines_through_http_are_dead_lettered_and_good_lines_indexed(
    client: TestClient, tokens: dict[Role, str], api_settings: Settings, es: Elasticsearch
) -> None:
    """Issue 2 §6 "bad input through HTTP": random, invalid UTF-8 and oversized plain-text lines
    between real OpenSSH lines, posted in batches under the body limit as a shipper would."""
    source = "api-garbage"
    good = dataset("loghub", "OpenSSH", "OpenSSH_2k.log").read_bytes().splitlines()
    mixed: list[bytes] = []
    for i, line in enumerate(garbage_lines(10_000)):
        mixed.append(line)
        if i % 5 == 0 and good:
            mixed.append(good.pop())
    mixed.extend(good)
    records = sum(1 for line in mixed if line.strip())
    admin = {**auth(tokens[Role.ADMIN]), **NDJSON}
    accepted, batch, size = 0, [], 0
    for line in [*mixed, None]:
        if line is None or size + len(line) > api_settings.api_max_body_bytes // 2:
            reply = client.post(f"/ingest?source={source}", headers=admin, content=b"\n".join(batch))
            assert reply.status_code == 200, reply.text
            accepted += reply.json()["accepted"]
            batch, size = [], 0
        if line is not None:
            batch.append(line)
            size += len(line) + 1
    assert accepted == records

    run_workers(api_settings)
    es.indices.refresh(index="logs-*,vigil-deadletter-*")
    assert es.count(index="logs-*", query={"term": {"vigil.source": source}})["count"] == 2000
    letters = es.count(index="vigil-deadletter-*", query={"term": {"source": source}})["count"]
    assert letters == records - 2000
    search = client.get("/events", headers=auth(tokens[Role.OFFICER]), params={"source": source, "size": 0})
    assert search.json()["count"] == 2000


def audit_entries(es: Elasticsearch, **terms: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=AUDIT_INDEX)
    filters = [{"term": {field.replace("__", "."): value}} for field, value in terms.items()]
    hits = es.search(index=AUDIT_INDEX, size=100, query={"bool": {"filter": filters}}, sort=[{"@timestamp": "asc"}])
    return [hit["_source"] for hit in hits["hits"]["hits"]]


def test_every_search_is_audited(
    client: TestClient, tokens: dict[Role, str], corpus: Corpus, es: Elasticsearch
) -> None:
    q = '"Failed password" AND audit-probe-1'  # unique: finds this test's entries
    officer = search(client, tokens[Role.OFFICER], q=q, source=OPENSSH_SOURCE, outcome="failure", size=5,
                     **{"from": "now-100y"})  # fmt: skip
    responder = search(client, tokens[Role.RESPONDER], q='"Failed password"', user="root", size=7)
    entries = audit_entries(es, query__raw=q)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["actor"] == {"token_id": tokens[Role.OFFICER].split("_")[1], "name": "api-officer", "role": "officer"}
    assert (entry["action"], entry["method"], entry["endpoint"]) == ("events.search", "GET", "/events")
    assert entry["hits"] == officer["count"] and entry["returned"] == len(officer["data"])
    assert entry["filters"] == {"source": [OPENSSH_SOURCE], "outcome": ["failure"], "size": 5}
    assert entry["time_range"] == {"from": "now-100y", "to": None}
    assert entry["client_ip"] == "testclient"
    mine = audit_entries(es, actor__name="api-responder", query__raw='"Failed password"')
    assert mine[-1]["hits"] == responder["count"] > 0 and mine[-1]["filters"] == {"user": ["root"], "size": 7}

    # Auditors read the trail through the API; that read is itself audited.
    trail = client.get("/audit", headers=auth(tokens[Role.AUDITOR]), params={"actor": "api-officer", "size": 500})
    assert trail.status_code == 200, trail.text
    assert any(e["query"] == q and e["hits"] == officer["count"] for e in trail.json()["data"])
    assert trail.json()["count"] == len(audit_entries(es, actor__name="api-officer"))
    read = audit_entries(es, actor__name="api-auditor", action="audit.search")
    assert read and read[-1]["filters"] == {"actor": ["api-officer"], "size": 500}
    assert read[-1]["hits"] == trail.json()["count"]


def test_refused_reads_are_audited_as_overreach(client: TestClient, tokens: dict[Role, str], es: Elasticsearch) -> None:
    reply = client.get("/audit", headers=auth(tokens[Role.OFFICER]), params={"actor": "api-admin", "from": "now-1d"})
    assert reply.status_code == 403
    reply = client.get("/events", headers=auth(tokens[Role.AUDITOR]), params={"q": "secret-probe", "host": "db01"})
    assert reply.status_code == 403
    officer = audit_entries(es, actor__name="api-officer", action="denied:audit:read")
    assert officer[-1]["status"] == 403 and officer[-1]["filters"] == {"actor": "api-admin"}
    assert officer[-1]["time_range"] == {"from": "now-1d", "to": None} and officer[-1]["hits"] == 0
    auditor = audit_entries(es, actor__name="api-auditor", action="denied:logs:search")
    assert [(e["query"], e["filters"]) for e in auditor][-1] == ("secret-probe", {"host": "db01"})


def test_an_audit_failure_withholds_the_logs(client: TestClient, tokens: dict[Role, str], es: Elasticsearch) -> None:
    search(client, tokens[Role.OFFICER], size=1)  # the audit index exists
    es.indices.put_settings(index=AUDIT_INDEX, settings={"index.blocks.write": True})
    try:
        reply = client.get("/events", headers=auth(tokens[Role.OFFICER]), params={"q": "audit-blocked", "size": 1})
        assert reply.status_code == 503
        assert "audit trail" in reply.json()["detail"] and "withheld" in reply.json()["detail"]
        assert "data" not in reply.json()
    finally:
        es.indices.put_settings(index=AUDIT_INDEX, settings={"index.blocks.write": False})
    assert audit_entries(es, query__raw="audit-blocked") == []
    assert client.get("/events", headers=auth(tokens[Role.OFFICER]), params={"size": 1}).status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"q": "user.name:(root"}, "Elasticsearch refused the query"),
        ({"q": "*ssh"}, "Elasticsearch refused the query"),  # leading wildcards are refused
        ({"from": "yesterday"}, "is not a time"),
        ({"size": 501}, "maximum page size 500"),
        ({"after": "bm90LWEtY3Vyc29y"}, "after:"),
        # Linux_2k spans weeks: one bucket per second would be millions.
        ({"source": LINUX_SOURCE, "interval": "1s", "size": 0}, "buckets"),
    ],
)
def test_bad_search_input_is_422(
    client: TestClient, tokens: dict[Role, str], corpus: Corpus, params: dict[str, Any], message: str
) -> None:
    reply = client.get("/events", headers=auth(tokens[Role.OFFICER]), params=params)
    assert reply.status_code == 422, reply.text
    assert message in reply.json()["detail"]


# Who may call what: written out here, not derived from the table it checks.
MATRIX = {
    ("GET", "/health"): {Role.ADMIN, Role.OFFICER, Role.RESPONDER, Role.AUDITOR},
    ("POST", "/ingest"): {Role.ADMIN},
    ("GET", "/events"): {Role.ADMIN, Role.OFFICER, Role.RESPONDER},
    ("GET", "/audit"): {Role.ADMIN, Role.AUDITOR},
}


@pytest.mark.parametrize(("method", "path"), list(MATRIX))
def test_auth_matrix(client: TestClient, tokens: dict[Role, str], method: str, path: str) -> None:
    def call(headers: dict[str, str]) -> int:
        if method == "POST":
            body = b"Dec 10 06:55:46 LabSZ sshd[24200]: matrix probe\n"
            return client.post(f"{path}?source=api-matrix", headers={**headers, **NDJSON}, content=body).status_code
        return client.get(path, headers=headers, params={"size": 1} if path != "/health" else None).status_code

    for role in Role:
        assert call(auth(tokens[role])) == (200 if role in MATRIX[(method, path)] else 403), (role, method, path)
    assert call({}) == 401
    assert call(auth("vgl_deadbeef_" + "x" * 43)) == 401
    assert call({"Authorization": f"Token {tokens[Role.ADMIN]}"}) == 401


def test_a_revoked_token_is_refused_at_once(client: TestClient, api_settings: Settings) -> None:
    store = TokenStore(api_settings.tokens_path())
    _, token = store.create("api-leaver", Role.OFFICER)
    assert client.get("/health", headers=auth(token)).status_code == 200
    store.revoke("api-leaver")
    assert client.get("/health", headers=auth(token)).status_code == 401


def group_lag(client: TestClient, token: str, group: str) -> dict[str, Any]:
    reply = client.get("/health", headers=auth(token))
    assert reply.status_code == 200, reply.text
    return next(g for g in reply.json()["consumer_groups"] if g["group"] == group)


def test_health_shows_consumer_lag(client: TestClient, tokens: dict[Role, str], corpus: Corpus) -> None:
    reply = client.get("/health", headers=auth(tokens[Role.AUDITOR]))
    body = reply.json()
    assert body["status"] == "ok" and body["kafka"]["reachable"] and body["kafka"]["brokers"] == 1
    # green: every Vigil index (the audit index too) has the configured 0 replicas on this one node.
    assert body["elasticsearch"]["reachable"] and body["elasticsearch"]["status"] == "green"
    groups = {g["group"]: g for g in body["consumer_groups"]}
    assert {"vigil-apitest-normaliser", "vigil-apitest-indexer"} <= set(groups)
    assert groups["vigil-apitest-normaliser"]["started"] and groups["vigil-apitest-indexer"]["started"]
    assert {p["topic"] for p in groups["vigil-apitest-indexer"]["partitions"]} == {"vigil.events", "vigil.deadletter"}
    # New records nobody has consumed yet: the normaliser's lag grows by exactly their number.
    before = group_lag(client, tokens[Role.OFFICER], "vigil-apitest-normaliser")["lag"]
    lines = dataset("loghub", "OpenSSH", "OpenSSH_2k.log").read_bytes().split(b"\n")[:37]
    admin = {**auth(tokens[Role.ADMIN]), **NDJSON}
    assert client.post("/ingest?source=api-lag", headers=admin, content=b"\n".join(lines)).json()["accepted"] == 37
    after = group_lag(client, tokens[Role.OFFICER], "vigil-apitest-normaliser")
    assert after["lag"] == before + 37
    assert sum(p["end"] - (p["committed"] or 0) for p in after["partitions"]) >= after["lag"]


def test_docs_are_served(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    assert "/events" in client.get("/openapi.json").json()["paths"]
