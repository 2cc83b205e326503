"""The alerts, rules, entities and retention routers against the real stack. Alerts are stored
through the alert store's own write path (`detectors.alert_store.write_alerts`, what the store worker
runs per batch), events through the normaliser and the indexer's bulk functions; expected results
come from what was seeded, not from Elasticsearch."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from api.ingest_batch import Origin, split_batch
from api.models.ingest import TextBatch
from api.permissions import Role
from api.tokens import TokenStore
from core.index_templates import install_templates
from core.models.alert import (
    Alert,
    AlertDraft,
    AlertOrigin,
    AlertStatus,
    DetectorKind,
    EntityRef,
    RuleRef,
    Severity,
    Summary,
)  # fmt: skip
from core.models.ecs import EcsEvent
from core.models.envelope import RawEnvelope
from core.names import ALERTS_INDEX, AUDIT_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import write_alerts
from detectors.sigma.engine import SigmaEngine
from ingest.indexer import bulk_actions, index_batch
from ingest.normaliser import normalise
from stack.local import LocalStack
from tests.datasets import dataset

pytestmark = pytest.mark.integration

RULES = ("sigma", "rules", "windows", "builtin", "security", "account_management")  # 16 files: quick to load
CLEARED_RULE = ("sigma", "rules", "windows", "builtin", "security", "win_security_audit_log_cleared.yml")
CLEARED_EVENTS = ("attack", "mdecrevoisier", "TA0005-Defense Evasion", "T1070.001-Clear Windows event logs",
                  "ID104-1102-Event log cleared.jsonl")  # fmt: skip
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def api_settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        kafka_bootstrap=stack.config.kafka_bootstrap,
        es_url=stack.config.es_url,
        data_dir=tmp_path_factory.mktemp("routes"),
        sigma_rule_dirs=[dataset(*RULES)],
    )


@pytest.fixture(scope="module")
def tokens(api_settings: Settings) -> dict[Role, str]:
    store = TokenStore(api_settings.tokens_path())
    return {role: store.create(f"routes-{role.value}", role)[1] for role in Role}


@pytest.fixture(scope="module")
def client(api_settings: Settings, tokens: dict[Role, str]) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def es(api_settings: Settings) -> Iterator[Elasticsearch]:
    client = Elasticsearch(api_settings.es_url)
    install_templates(client, api_settings)
    yield client
    client.close()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def draft(rule: str, entity: str, *, severity: Severity = Severity.MEDIUM, minutes: int = 0,
          event_ids: list[str] | None = None, title: str = "Suspicious logon") -> AlertDraft:  # fmt: skip
    first = T0 + timedelta(minutes=minutes)
    ids = event_ids or [f"{rule}-{entity}-{minutes}"]
    return AlertDraft(
        rule=RuleRef(id=rule, title=title, kind=DetectorKind.SIGMA, version=None),
        severity=severity,
        entity=EntityRef.parse(entity),
        dedup_key=f"{rule}|{entity}",
        event_ids=ids,
        event_count=len(ids),
        first_seen=first,
        last_seen=first + timedelta(seconds=30),
        summary=Summary(en=f"{title} by {entity}", zh=f"可疑登录 {entity}"),
        playbook=None,
    )


def store(es: Elasticsearch, settings: Settings, *alerts: Alert) -> list[Alert]:
    write_alerts(es, {a.id: a for a in alerts}, settings.alert_max_event_ids)
    es.indices.refresh(index=ALERTS_INDEX)
    return list(alerts)


def raise_(d: AlertDraft, origin: AlertOrigin = AlertOrigin.STREAM, minutes: int = 5) -> Alert:
    return Alert.of(d, origin=origin, raised_at=d.first_seen + timedelta(minutes=minutes))


def ssh_events(es: Elasticsearch, settings: Settings, count: int) -> list[EcsEvent]:
    """Real OpenSSH lines through the normaliser and the indexer's bulk path into `logs-*`."""
    body = b"\n".join(dataset("loghub", "OpenSSH", "OpenSSH_2k.log").read_bytes().split(b"\n")[:count])
    batch = split_batch(body, text=TextBatch(source="routes-ssh"), origin=Origin("x", datetime.now(UTC), None, 65536))
    events = [normalise(line.item, settings.zone) for line in batch.lines if isinstance(line.item, RawEnvelope)]
    parsed = [e for e in events if isinstance(e, EcsEvent)]
    docs = [bulk_actions(Topic.EVENTS.value, e.model_dump_json(by_alias=True, exclude_none=True).encode())
            for e in parsed]  # fmt: skip
    assert index_batch(es, docs) == []
    es.indices.refresh(index="logs-*")
    return parsed


def audit_entries(es: Elasticsearch, **terms: str) -> list[dict[str, Any]]:
    es.indices.refresh(index=AUDIT_INDEX)
    filters = [{"term": {field.replace("__", "."): value}} for field, value in terms.items()]
    hits = es.search(index=AUDIT_INDEX, size=100, query={"bool": {"filter": filters}}, sort=[{"@timestamp": "asc"}])
    return [hit["_source"] for hit in hits["hits"]["hits"]]


# --- alerts -------------------------------------------------------------------------------------


def test_alert_filters_and_counts_are_exact(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    seeded = store(es, api_settings, *[
        raise_(draft("list-a", f"user:u{i % 3}", severity=list(Severity)[i % 5], minutes=10 * i,
                     title="Brute force" if i % 2 else "Suspicious logon"),
               origin=AlertOrigin.HUNT if i % 4 == 0 else AlertOrigin.STREAM)
        for i in range(10)
    ], *[raise_(draft("list-b", f"host:ws{i}", severity=Severity.CRITICAL, minutes=5 + i))
         for i in range(3)])  # fmt: skip
    token = tokens[Role.AUDITOR]  # auditors read alerts

    def get(**params: Any) -> dict[str, Any]:
        reply = client.get("/alerts", headers=auth(token), params={"rule": ["list-a", "list-b"], **params})
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    assert get(size=0)["count"] == 13
    high = [a for a in seeded if a.severity.rank >= Severity.HIGH.rank]
    assert get(severity="high", size=0)["count"] == len(high) == 7
    assert get(rule="list-b", size=0)["count"] == 3
    assert get(entity=["user:u1", "host:ws2"], size=0)["count"] == sum(
        a.entity.key in ("user:u1", "host:ws2") for a in seeded)  # fmt: skip
    assert get(entity="host:u1", size=0)["count"] == 0  # the kind counts, not only the value
    assert get(origin="hunt", size=0)["count"] == sum(a.origin is AlertOrigin.HUNT for a in seeded) == 3
    assert get(q="brute", size=0)["count"] == 5
    assert get(q="可疑登录", size=0)["count"] == 13  # the zh-CN summary is searched too
    pivot = T0 + timedelta(minutes=33)  # raised 5 minutes after the first event: 35 is in, 30 is not
    on_first = sum(a.first_seen >= pivot for a in seeded)
    assert get(**{"from": pivot.isoformat(), "time_field": "first_seen"}, size=0)["count"] == on_first
    on_raised = sum(a.timestamp >= pivot for a in seeded)
    assert get(**{"from": pivot.isoformat()}, size=0)["count"] == on_raised != on_first
    page = get(sort="-first_seen", size=4, offset=2)
    expected = [a.id for a in sorted(seeded, key=lambda a: a.first_seen, reverse=True)][2:6]
    assert [a["id"] for a in page["data"]] == expected
    first = page["data"][0]
    assert first["status"] == "new" and first["summary"]["zh-CN"] and first["@timestamp"]
    counts = get(agg=["severity", "status", "rule", "entity", "origin"], agg_size=50, size=0)["aggregations"]
    assert {b["key"]: b["count"] for b in counts["severity"]} == dict(Counter(a.severity.value for a in seeded))
    assert {b["key"]: b["count"] for b in counts["rule"]} == {"list-a": 10, "list-b": 3}
    assert {b["key"]: b["count"] for b in counts["entity"]} == dict(Counter(a.entity.key for a in seeded))
    assert {b["key"]: b["count"] for b in counts["status"]} == {"new": 13}
    assert {b["key"]: b["count"] for b in counts["origin"]} == {"stream": 10, "hunt": 3}
    bad = client.get("/alerts", headers=auth(token), params={"entity": "alice"})
    assert bad.status_code == 422 and "is not 'kind:value'" in bad.json()["detail"]


def test_one_alert_comes_with_its_events_and_the_read_is_audited(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    events = ssh_events(es, api_settings, 12)
    ids = [e.event.id for e in events[:4] if e.event.id]
    [alert] = store(es, api_settings, raise_(draft("one-events", "host:LabSZ", event_ids=ids)))
    reply = client.get(f"/alerts/{alert.id}", headers=auth(tokens[Role.OFFICER]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["id"] == alert.id and body["events_count"] == 4
    assert {e["id"] for e in body["events"]} == set(ids)
    assert all(e["document"]["vigil"]["source"] == "routes-ssh" for e in body["events"])
    [entry] = [e for e in audit_entries(es, action="alerts.events") if e["filters"] == {"alert_id": alert.id}]
    assert entry["actor"]["name"] == "routes-officer" and (entry["hits"], entry["returned"]) == (4, 4)
    assert entry["endpoint"] == f"/alerts/{alert.id}"
    # Auditors read the alert, not the logs: no events, nothing read, nothing to audit.
    reply = client.get(f"/alerts/{alert.id}", headers=auth(tokens[Role.AUDITOR]))
    assert reply.status_code == 200 and reply.json()["events"] is None
    assert [e["actor"]["name"] for e in audit_entries(es, action="alerts.events")
            if e["filters"] == {"alert_id": alert.id}] == ["routes-officer"]  # fmt: skip
    assert client.get("/alerts/no-such-alert", headers=auth(tokens[Role.OFFICER])).status_code == 404


def patch(client: TestClient, token: str, alert_id: str, **body: Any) -> Any:
    return client.patch(f"/alerts/{alert_id}", headers=auth(token), json=body)


def test_triage_transitions_and_history(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    [alert] = store(es, api_settings, raise_(draft("triage", "user:carol")))
    officer, responder = tokens[Role.OFFICER], tokens[Role.RESPONDER]
    before = datetime.now(UTC)
    reply = patch(client, officer, alert.id, status="acknowledged", assignee="dave")
    assert reply.status_code == 200, reply.text
    assert (reply.json()["status"], reply.json()["assignee"]) == ("acknowledged", "dave")
    assert patch(client, responder, alert.id, status="investigating", comment="host isolated").status_code == 200
    refused = patch(client, officer, alert.id, status="new")
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        "an alert cannot go from investigating to new; from investigating it may go to false_positive, resolved"
    )
    assert (
        patch(client, officer, alert.id, status="investigating").json()["detail"]
        == "the alert is already investigating"
    )
    assert patch(client, responder, alert.id, status="resolved", comment="password reset").status_code == 200
    assert patch(client, officer, alert.id).status_code == 422
    assert patch(client, officer, alert.id, status="closed").status_code == 422
    assert patch(client, officer, "no-such-alert", comment="x").status_code == 404
    stored = es.get(index=ALERTS_INDEX, id=alert.id)["_source"]
    assert stored["status"] == "resolved" and stored["assignee"] == "dave"
    history = stored["history"]
    assert [(h["by"], h.get("status"), h.get("assignee"), h.get("comment")) for h in history] == [
        ("routes-officer", "acknowledged", "dave", None),
        ("routes-responder", "investigating", None, "host isolated"),
        ("routes-responder", "resolved", None, "password reset"),
    ]
    times = [datetime.fromisoformat(h["at"]) for h in history]
    assert before <= times[0] <= times[1] <= times[2] <= datetime.now(UTC)
    # Listing finds the new status at once (the change waits for the refresh).
    found = client.get("/alerts", headers=auth(officer), params={"rule": "triage", "status": "resolved"})
    assert found.json()["count"] == 1


def test_a_repeat_through_the_alert_store_keeps_the_triage(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    first = draft("repeat", "user:erin", event_ids=["e1", "e2"])
    [alert] = store(es, api_settings, raise_(first))
    assert patch(client, tokens[Role.OFFICER], alert.id, status="acknowledged", assignee="frank",
                 comment="mine").status_code == 200  # fmt: skip
    repeat = raise_(first.model_copy(update={"event_ids": ["e1", "e2", "e3"], "event_count": 3,
                                             "severity": Severity.HIGH}), minutes=9)  # fmt: skip
    assert repeat.id == alert.id and repeat.status is AlertStatus.NEW  # the detector knows nothing of triage
    store(es, api_settings, repeat)
    stored = es.get(index=ALERTS_INDEX, id=alert.id)["_source"]
    assert (stored["status"], stored["assignee"], len(stored["history"])) == ("acknowledged", "frank", 1)
    assert stored["event_count"] == 3 and stored["event_ids"] == ["e1", "e2", "e3"] and stored["severity"] == "high"


def test_concurrent_changes_lose_nothing(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    base = draft("concurrent", "user:gina", event_ids=["c0"])
    [alert] = store(es, api_settings, raise_(base))
    token = tokens[Role.OFFICER]
    replies: list[int] = []

    def comment(n: int) -> None:
        replies.append(patch(client, token, alert.id, comment=f"note {n}").status_code)

    def repeats() -> None:
        """The alert store merging repeats while officers write: one writer, in order, as the store
        worker is (all versions of an alert share a partition, so one consumer merges them)."""
        for n in range(4):
            again = base.model_copy(update={"event_ids": [f"c{i}" for i in range(n + 2)], "event_count": n + 2})
            write_alerts(es, {alert.id: raise_(again)}, api_settings.alert_max_event_ids)

    threads = [threading.Thread(target=comment, args=(n,)) for n in range(6)]
    threads.append(threading.Thread(target=repeats))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert replies == [200] * 6
    stored = es.get(index=ALERTS_INDEX, id=alert.id)["_source"]
    assert sorted(h["comment"] for h in stored["history"]) == [f"note {n}" for n in range(6)]
    assert stored["event_count"] == 5 and stored["status"] == "new"


def test_bulk_acknowledge(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> None:
    alerts = store(es, api_settings, *[raise_(draft("bulk", f"host:pc{i}")) for i in range(3)])
    token = tokens[Role.RESPONDER]
    assert patch(client, token, alerts[2].id, status="acknowledged").status_code == 200
    ids = [alerts[0].id, alerts[1].id, alerts[2].id, "no-such-alert", alerts[0].id]
    reply = client.post("/alerts/ack", headers=auth(token), json={"ids": ids, "comment": "morning patrol"})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["acknowledged"] == 2
    assert [(r["id"], r["result"], r["status"]) for r in body["data"]] == [
        (alerts[0].id, "acknowledged", "acknowledged"), (alerts[1].id, "acknowledged", "acknowledged"),
        (alerts[2].id, "refused", "acknowledged"), ("no-such-alert", "not_found", None)]  # fmt: skip
    assert body["data"][2]["detail"] == "the alert is already acknowledged"
    history = es.get(index=ALERTS_INDEX, id=alerts[0].id)["_source"]["history"]
    assert [(h["by"], h["status"], h["comment"]) for h in history] == [
        ("routes-responder", "acknowledged", "morning patrol")
    ]
    listed = client.get("/alerts", headers=auth(token), params={"rule": "bulk", "status": "acknowledged", "size": 0})
    assert listed.json()["count"] == 3


# --- rules --------------------------------------------------------------------------------------


def test_rules_list_equals_the_engine_report_and_rules_switch(
    client: TestClient, tokens: dict[Role, str], api_settings: Settings
) -> None:
    engine = SigmaEngine.from_paths(api_settings.sigma_rule_dirs)
    report = engine.report()
    reply = client.get("/rules", headers=auth(tokens[Role.AUDITOR]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["loaded"], body["skipped"], body["correlations"]) == (
        report.loaded,
        report.skipped,
        report.correlations,
    )
    assert body["dirs"] == report.model_dump()["dirs"] and body["skipped_by_reason"] == report.skipped_by_reason
    assert sorted(r["id"] for r in body["data"]) == sorted(r.info.id for r in engine.rules)
    assert len(body["skipped_rules"]) == report.skipped and all(r["enabled"] for r in body["data"])
    rule_id = engine.rules[0].info.id
    admin = auth(tokens[Role.ADMIN])
    off = client.post(f"/rules/{rule_id}/disable", headers=admin, json={"reason": "noisy on the DCs"})
    assert off.status_code == 200, off.text
    assert (off.json()["enabled"], off.json()["changed_by"]) == (False, "routes-admin")
    listed = {r["id"]: r for r in client.get("/rules", headers=admin).json()["data"]}
    assert listed[rule_id]["enabled"] is False and listed[rule_id]["state"]["reason"] == "noisy on the DCs"
    assert sum(not r["enabled"] for r in listed.values()) == 1
    assert client.post(f"/rules/{rule_id}/enable", headers=admin).json()["enabled"] is True
    assert all(r["enabled"] for r in client.get("/rules", headers=admin).json()["data"])
    assert client.post("/rules/no-such-rule/disable", headers=admin).status_code == 404


def windows_records() -> list[dict[str, Any]]:
    text = dataset(*CLEARED_EVENTS).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_rules_test_on_a_real_rule_and_real_events(client: TestClient, tokens: dict[Role, str]) -> None:
    rule = dataset(*CLEARED_RULE).read_text(encoding="utf-8")
    records = windows_records()
    ids = [r["Event"]["System"]["EventID"] for r in records]
    assert 1102 in ids and 104 in ids
    reply = client.post("/rules/test", headers=auth(tokens[Role.OFFICER]), json={"rule": rule, "events": records})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["rule_id"] == "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"
    # The Security log's 1102 matches; the System log's 104 is another rule's business.
    assert [r["matched"] for r in body["results"]] == [i == 1102 for i in ids]
    assert body["matched"] == ids.count(1102)
    # A raw record the Windows parser refuses is that event's error, not a failed request.
    unreadable = {"Event": {"System": {"Channel": "Security"}}}
    reply = client.post("/rules/test", headers=auth(tokens[Role.OFFICER]),
                        json={"rule": rule, "events": [unreadable, records[ids.index(1102)]]})  # fmt: skip
    assert [(r["matched"], r["errors"]) for r in reply.json()["results"]] == [
        (False, ["windows: the record has no event id (System/EventID is missing or empty)"]),
        (True, []),
    ]
    bad = client.post("/rules/test", headers=auth(tokens[Role.OFFICER]),
                      json={"rule": "title: broken\ndetection: [unclosed\n", "events": records[:1]})  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("the rule does not load (parse-error): ")
    no_condition = client.post("/rules/test", headers=auth(tokens[Role.OFFICER]), json={"rule": (
        "title: t\nid: 5d5a4c8e-1a2b-4c3d-9e8f-0123456789ab\nlogsource: {product: windows, service: security}\n"
        "detection: {sel: {EventID: 1}}\n"), "events": records[:1]})  # fmt: skip
    assert no_condition.status_code == 422 and "condition" in no_condition.json()["detail"].lower()


# --- entities -----------------------------------------------------------------------------------

INVENTORY = """\
users:
  - name: alice
    department: finance
    clearance: 机密
    hosts: [ws01]
    ips: [10.0.0.5]
  - name: bob
    status: departed
    status_changed: 2026-11-01
resources:
  - id: hr-share
    kind: share
    classification: confidential
    shares: [hr]
"""


def put_inventory(client: TestClient, token: str, text: str) -> Any:
    return client.put("/entities", headers={**auth(token), "Content-Type": "application/yaml"}, content=text.encode())


def test_entities_upload_read_back_and_refuse_a_bad_file(client: TestClient, tokens: dict[Role, str]) -> None:
    admin = tokens[Role.ADMIN]
    reply = put_inventory(client, admin, INVENTORY)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"indexed": 4, "deleted": 0, "users": 2, "resources": 1, "vendors": 0}  # + the calendar
    officer = auth(tokens[Role.OFFICER])
    users = client.get("/entities", headers=officer, params={"kind": "user"}).json()
    assert users["count"] == 2 and [u["id"] for u in users["data"]] == ["user:alice", "user:bob"]
    alice = client.get("/entities/user:alice", headers=officer).json()
    assert alice["kind"] == "user" and alice["attributes"]["clearance"] == "confidential"
    assert alice["attributes"]["hosts"] == ["ws01"] and alice["attributes"]["department"] == "finance"
    assert client.get("/entities", headers=officer).json()["count"] == 4
    assert client.get("/entities/user:nobody", headers=officer).status_code == 404

    bad = put_inventory(client, admin, INVENTORY.replace("clearance: 机密", "clearance: 超密"))
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("inventory:4: field users.0.clearance: ")
    assert put_inventory(client, admin, "users: [unclosed\n").json()["detail"].startswith("inventory:2: not valid YAML")
    assert "field include" in put_inventory(client, admin, "include: [/etc/passwd]\n").json()["detail"]
    assert client.get("/entities", headers=officer).json()["count"] == 4  # a refused file changes nothing
    smaller = put_inventory(client, admin, INVENTORY.split("  - name: bob")[0])
    assert smaller.json() == {"indexed": 2, "deleted": 2, "users": 1, "resources": 0, "vendors": 0}
    assert client.get("/entities", headers=officer, params={"kind": "user"}).json()["count"] == 1


# --- retention and holds ------------------------------------------------------------------------


def test_retention_status_and_holds(client: TestClient, tokens: dict[Role, str]) -> None:
    reply = client.get("/retention/status", headers=auth(tokens[Role.AUDITOR]))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["floor_days"] == 60 and {s["scope"] for s in body["scopes"]} == {
        "network",
        "system",
        "user",
        "deadletter",
    }
    responder, admin = auth(tokens[Role.RESPONDER]), auth(tokens[Role.ADMIN])
    request = {"entity": "user:alice", "from": "2026-11-01T00:00:00+08:00", "reason": "incident 42: preserve evidence",
               "incident_id": "inc-42", "id": "routes-hold-1"}  # fmt: skip
    placed = client.post("/holds", headers=responder, json=request)
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["id"], hold["created_by"], hold["from"]) == (
        "routes-hold-1",
        "routes-responder",
        "2026-10-31T16:00:00Z",
    )
    assert client.post("/holds", headers=responder, json=request).status_code == 201  # a retry is harmless
    assert client.post("/holds", headers=responder, json={**request, "reason": "other"}).status_code == 409
    assert client.post("/holds", headers=responder, json={**request, "id": None, "entity": "alice"}).status_code == 422
    assert "routes-hold-1" in [h["id"] for h in client.get("/holds", headers=responder).json()["data"]]
    status = client.get("/retention/status", headers=admin).json()
    assert all("routes-hold-1" in s["active_holds"] for s in status["scopes"])
    assert client.post("/holds/routes-hold-1/release", headers=responder, json={"reason": "x"}).status_code == 403
    released = client.post("/holds/routes-hold-1/release", headers=admin, json={"reason": "case closed"})
    assert released.status_code == 200, released.text
    assert (released.json()["released_by"], released.json()["release_reason"]) == ("routes-admin", "case closed")
    again = client.post("/holds/routes-hold-1/release", headers=admin, json={"reason": "again"})
    assert again.status_code == 409 and "already released by routes-admin" in again.json()["detail"]
    assert client.post("/holds/no-such-hold/release", headers=admin, json={"reason": "x"}).status_code == 404
    assert "routes-hold-1" not in [h["id"] for h in client.get("/holds", headers=admin).json()["data"]]
    everything = client.get("/holds", headers=admin, params={"all": "true"}).json()["data"]
    assert "routes-hold-1" in [h["id"] for h in everything]


# --- who may call what --------------------------------------------------------------------------

# Written out here, not derived from the permission table it checks.
ALL = set(Role)
TRIAGE = {Role.ADMIN, Role.OFFICER, Role.RESPONDER}
MATRIX: dict[tuple[str, str], set[Role]] = {
    ("GET", "/alerts"): ALL,
    ("GET", "/alerts/{id}"): ALL,
    ("PATCH", "/alerts/{id}"): TRIAGE,
    ("POST", "/alerts/ack"): TRIAGE,
    ("GET", "/rules"): ALL,
    ("POST", "/rules/{id}/disable"): {Role.ADMIN},
    ("POST", "/rules/{id}/enable"): {Role.ADMIN},
    ("POST", "/rules/test"): {Role.ADMIN, Role.OFFICER},
    ("GET", "/entities"): ALL,
    ("GET", "/entities/{id}"): ALL,
    ("PUT", "/entities"): {Role.ADMIN},
    ("GET", "/retention/status"): {Role.ADMIN, Role.AUDITOR},
    ("GET", "/holds"): {Role.ADMIN, Role.RESPONDER, Role.AUDITOR},
    ("POST", "/holds"): {Role.ADMIN, Role.RESPONDER},
    ("POST", "/holds/{id}/release"): {Role.ADMIN},
}


@pytest.fixture(scope="module")
def matrix_calls(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, api_settings: Settings
) -> dict[tuple[str, str], Callable[[dict[str, str]], int]]:
    [alert] = store(es, api_settings, raise_(draft("matrix", "user:matrix")))
    rule_id = SigmaEngine.from_paths(api_settings.sigma_rule_dirs).rules[0].info.id
    assert put_inventory(client, tokens[Role.ADMIN], INVENTORY).status_code == 200
    rule = dataset(*CLEARED_RULE).read_text(encoding="utf-8")
    holds = iter(range(1000))
    hold = {"entity": "host:ws01", "from": "2026-11-01T00:00:00Z", "reason": "matrix"}

    def release(headers: dict[str, str]) -> int:
        hold_id = f"routes-matrix-{next(holds)}"
        placed = client.post("/holds", headers=auth(tokens[Role.ADMIN]),
                             json={**hold, "entity": "*", "id": hold_id})  # fmt: skip
        assert placed.status_code == 201
        return client.post(f"/holds/{hold_id}/release", headers=headers, json={"reason": "matrix"}).status_code

    yaml_headers = {"Content-Type": "application/yaml"}
    return {
        ("GET", "/alerts"): lambda h: client.get("/alerts", headers=h, params={"size": 1}).status_code,
        ("GET", "/alerts/{id}"): lambda h: client.get(f"/alerts/{alert.id}", headers=h).status_code,
        ("PATCH", "/alerts/{id}"): lambda h: client.patch(f"/alerts/{alert.id}", headers=h,
                                                          json={"comment": "m"}).status_code,
        ("POST", "/alerts/ack"): lambda h: client.post("/alerts/ack", headers=h, json={"ids": ["none"]}).status_code,
        ("GET", "/rules"): lambda h: client.get("/rules", headers=h).status_code,
        ("POST", "/rules/{id}/disable"): lambda h: client.post(f"/rules/{rule_id}/disable", headers=h).status_code,
        ("POST", "/rules/{id}/enable"): lambda h: client.post(f"/rules/{rule_id}/enable", headers=h).status_code,
        ("POST", "/rules/test"): lambda h: client.post("/rules/test", headers=h,
                                                       json={"rule": rule, "events": [{}]}).status_code,
        ("GET", "/entities"): lambda h: client.get("/entities", headers=h).status_code,
        ("GET", "/entities/{id}"): lambda h: client.get("/entities/user:alice", headers=h).status_code,
        ("PUT", "/entities"): lambda h: client.put("/entities", headers={**h, **yaml_headers},
                                                   content=INVENTORY.encode()).status_code,
        ("GET", "/retention/status"): lambda h: client.get("/retention/status", headers=h).status_code,
        ("GET", "/holds"): lambda h: client.get("/holds", headers=h).status_code,
        ("POST", "/holds"): lambda h: client.post("/holds", headers=h, json=hold).status_code,
        ("POST", "/holds/{id}/release"): release,
    }  # fmt: skip


@pytest.mark.parametrize(("method", "path"), list(MATRIX))
def test_auth_matrix(
    matrix_calls: dict[tuple[str, str], Callable[[dict[str, str]], int]],
    tokens: dict[Role, str],
    method: str,
    path: str,
) -> None:
    call = matrix_calls[(method, path)]
    expected_ok = 201 if (method, path) == ("POST", "/holds") else 200
    for role in Role:
        assert call(auth(tokens[role])) == (expected_ok if role in MATRIX[(method, path)] else 403), (
            role,
            method,
            path,
        )
    assert call({}) == 401
    assert call(auth("vgl_deadbeef_" + "x" * 43)) == 401


def test_new_routes_are_documented(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/alerts", "/alerts/{alert_id}", "/alerts/ack", "/rules", "/rules/test", "/entities",
            "/entities/{entity_id}", "/retention/status", "/holds",
            "/holds/{hold_id}/release"} <= set(paths)  # fmt: skip
