"""`/incidents`, `/playbooks` and `/duty` on the real stack: a responder, an officer and an auditor work one
incident through its playbook (with the engine doing the automated steps), RBAC at each step, 409 on a
stale or racing write, the report exports, drills, playbook validation and the roster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core import clients
from core.index_templates import install_templates
from core.models.alert import Alert, AlertDraft, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.names import ALERTS_INDEX, logs_index
from core.settings import Settings
from playbooks.engine import Engine
from playbooks.runtime import build_engine
from stack.local import LocalStack
from tests.integration.playbooks_support import ROSTER

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root: Path = tmp_path_factory.mktemp("incidents-api")
    (root / "roster.yml").write_text(yaml.safe_dump(ROSTER, allow_unicode=True), encoding="utf-8")
    notify = {"channels": {"email": {"type": "console"}, "webhook": {"type": "console"}}}
    (root / "notify.yml").write_text(yaml.safe_dump(notify), encoding="utf-8")
    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url, data_dir=root,
                    roster_file=root / "roster.yml", notify_file=root / "notify.yml")  # fmt: skip


@pytest.fixture(scope="module")
def tokens(api_settings: Settings) -> dict[Role, str]:
    store = TokenStore(api_settings.tokens_path())
    return {role: store.create(f"incidents-{role.value}", role)[1] for role in Role}


@pytest.fixture(scope="module")
def client(api_settings: Settings, tokens: dict[Role, str]) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def es(api_settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(api_settings)
    install_templates(client, api_settings)
    yield client
    client.close()


@pytest.fixture(scope="module")
def engine(api_settings: Settings, es: Elasticsearch) -> Engine:
    return build_engine(api_settings, es=es, alert_sink=lambda _alert: None)


def as_(tokens: dict[Role, str], role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[role]}"}


def test_an_incident_worked_through_its_playbook(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, engine: Engine
) -> None:
    user = f"api-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    es.index(index=logs_index("system", now), refresh=True, document={
        "@timestamp": now.isoformat(), "user": {"name": user}, "message": f"failed logon for {user}",
        "event": {"code": "4625", "category": ["authentication"]}})  # fmt: skip
    responder, officer, auditor = (as_(tokens, r) for r in (Role.RESPONDER, Role.OFFICER, Role.AUDITOR))
    body = {"title": f"Phone report: {user} locked out", "severity": "critical", "entity": f"user:{user}",
            "playbook": "brute-force"}  # fmt: skip
    assert client.post("/incidents", headers=auditor, json=body).status_code == 403
    opened = client.post("/incidents", headers=responder, json=body)
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    iid = incident["id"]
    assert incident["serious"] and opened.headers["ETag"] == f'"{incident["version"]}"'
    assert {s["step_id"]: s["status"] for s in incident["steps"]}["page-on-duty"] == "waiting"
    listed = client.get("/incidents", headers=auditor, params={"entity": f"user:{user}"}).json()
    assert listed["count"] == 1 and listed["data"][0]["id"] == iid

    assert client.post(f"/incidents/{iid}/acknowledge", headers=responder).status_code == 403
    acked = client.post(f"/incidents/{iid}/acknowledge", headers=officer)
    assert acked.status_code == 200 and acked.json()["contacted_at"] is not None
    engine.process(iid)  # the worker's part: notify, enrich
    current = client.get(f"/incidents/{iid}", headers=responder).json()
    assert {s["step_id"]: s["status"] for s in current["steps"]}["triage"] == "ready"

    triage = f"/incidents/{iid}/steps/triage/complete"
    missing = client.post(triage, headers=responder, json={"evidence": {"scope": "x"}})
    assert missing.status_code == 422 and "assessment" in missing.json()["detail"]
    stale = {**responder, "If-Match": incident["version"]}  # the version before the acknowledgement
    assert client.post(triage, headers=stale, json={"evidence": {"scope": "x", "assessment": "y"}}).status_code == 409
    fresh = {**responder, "If-Match": current["version"]}
    evidence = {"scope": user, "assessment": "true positive"}
    done = client.post(triage, headers=fresh, json={"evidence": evidence, "comment": "seen in the logs"})
    assert done.status_code == 200, done.text
    again = client.post(triage, headers=fresh, json={"evidence": evidence})  # the same version, now stale
    assert again.status_code == 409
    engine.process(iid)  # the authority report draft is rendered
    steps = {s["step_id"]: s for s in client.get(f"/incidents/{iid}", headers=responder).json()["steps"]}
    assert steps["authority-report"]["status"] == "done", steps["authority-report"]["detail"]
    assert steps["contain"]["status"] == "awaiting_approval" and steps["report-to-authority"]["status"] == "ready"

    decision = f"/incidents/{iid}/steps/contain/decision"
    assert client.post(decision, headers=responder, json={"decision": "approve"}).status_code == 403
    assert client.post(decision, headers=officer, json={"decision": "approve", "comment": "go"}).status_code == 200
    engine.process(iid)  # no containment action configured: the step fails, visibly
    contain = next(s for s in client.get(f"/incidents/{iid}", headers=responder).json()["steps"]
                   if s["step_id"] == "contain")  # fmt: skip
    assert contain["status"] == "failed" and "not configured" in contain["detail"]
    by_hand = client.post(f"/incidents/{iid}/steps/contain/complete", headers=responder,
                          json={"evidence": {"how": "account disabled in AD"}, "comment": "done by hand"})  # fmt: skip
    assert by_hand.status_code == 200

    shown = {r: client.get(f"/incidents/{iid}/evidence", headers=h).json() for r, h in
             ((Role.RESPONDER, responder), (Role.AUDITOR, auditor))}  # fmt: skip
    logons = {
        r: next(a for s in e["steps"] for a in s["attachments"] if a["name"] == "logons") for r, e in shown.items()
    }
    assert logons[Role.RESPONDER]["count"] == 1 and logons[Role.RESPONDER]["rows"][0]["user.name"] == user
    assert logons[Role.AUDITOR]["count"] == 1 and logons[Role.AUDITOR]["rows"] == []  # auditors read no logs
    assert next(s for s in shown[Role.AUDITOR]["steps"] if s["step_id"] == "triage")["evidence"] == evidence

    html = client.get(f"/incidents/{iid}/report", headers=auditor, params={"kind": "authority", "lang": "en"})
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html") and iid in html.text
    pdf = client.get(f"/incidents/{iid}/report", headers=auditor, params={"format": "pdf", "lang": "zh-CN"})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    review = {"cause": "weak password", "impact": "none", "lessons": "lockout policy"}
    assert client.post(f"/incidents/{iid}/close", headers=responder, json=review).status_code == 403
    closed = client.post(f"/incidents/{iid}/close", headers=officer, json=review)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["review"]["cause"] == "weak password"
    assert client.post(f"/incidents/{iid}/assign", headers=responder, json={"assignee": "bob"}).status_code == 409
    actions = [e["action"] for e in client.get(f"/incidents/{iid}/timeline", headers=auditor).json()["data"]]
    assert actions[0] == "opened" and actions[-1] == "closed" and "containment_approved" in actions


def test_a_drill_is_marked_everywhere(client: TestClient, tokens: dict[Role, str], engine: Engine) -> None:
    drill = client.post("/incidents/drill", headers=as_(tokens, Role.RESPONDER), json={"playbook": "malware"})
    assert drill.status_code == 201, drill.text
    incident = drill.json()
    assert incident["drill"] and incident["title"].startswith("演练") and incident["playbook"] == "malware"
    engine.process(incident["id"])
    found = client.get("/incidents", headers=as_(tokens, Role.AUDITOR), params={"drill": True}).json()
    assert incident["id"] in {d["id"] for d in found["data"]} and all(d["drill"] for d in found["data"])
    timings = client.get(f"/incidents/{incident['id']}/timings", headers=as_(tokens, Role.AUDITOR)).json()
    assert timings["drill"] and timings["contact_seconds"] is None
    assert {s["step_id"]: s["seconds"] is not None for s in timings["steps"]}["notify-team"]
    missing = client.post("/incidents/drill", headers=as_(tokens, Role.RESPONDER), json={"playbook": "nope"})
    assert missing.status_code == 404


def test_playbooks_and_roster(client: TestClient, tokens: dict[Role, str]) -> None:
    auditor, admin = as_(tokens, Role.AUDITOR), as_(tokens, Role.ADMIN)
    listed = client.get("/playbooks", headers=auditor).json()
    assert listed["count"] == 10 and listed["problems"] == []
    book = client.get("/playbooks/data-leak", headers=auditor).json()
    assert book["trigger"]["rules"][0] == "vigil-policy-mass-copy" and book["steps"][0]["kind"] == "escalate"
    assert client.get("/playbooks/nope", headers=auditor).status_code == 404
    broken = {"yaml": "id: x\ntitle: {en: X, zh-CN: X}\ntrigger: {}\nsteps:\n  - id: a\n    kind: dance\n"}
    assert client.post("/playbooks/validate", headers=auditor, json=broken).status_code == 403
    checked = client.post("/playbooks/validate", headers=admin, json=broken).json()
    assert not checked["valid"] and checked["problems"][0]["line"] == 6 and "dance" in checked["problems"][0]["message"]
    roster = client.get("/duty/roster", headers=auditor).json()
    assert roster["on_duty"] == ["alice", "bob"] and roster["chain"] == ["alice", "bob", "carol"]


def stored_alert(es: Elasticsearch, user: str) -> Alert:
    now = datetime.now(UTC)
    draft = AlertDraft(rule=RuleRef(id="vigil-policy-gaps", title="Gaps test", kind=DetectorKind.POLICY, version=None),
                       severity=Severity.HIGH, tags=[], entity=EntityRef.parse(f"user:{user}"), dedup_key=user,
                       event_ids=[], event_count=1, first_seen=now, last_seen=now,
                       summary=Summary(en=f"about {user}", zh=f"{user} 测试告警"), playbook=None)  # fmt: skip
    alert = Alert.of(draft, origin=AlertOrigin.STREAM, raised_at=now)
    es.index(index=ALERTS_INDEX, id=alert.id, document=alert.to_document(), refresh=True)
    return alert


def test_an_alert_lists_the_incidents_that_contain_it(client: TestClient, tokens: dict[Role, str],
                                                      es: Elasticsearch) -> None:  # fmt: skip
    user = f"grouped-{uuid.uuid4().hex[:8]}"
    alert, alone = stored_alert(es, user), stored_alert(es, f"{user}-alone")
    responder, auditor = as_(tokens, Role.RESPONDER), as_(tokens, Role.AUDITOR)
    assert client.get(f"/alerts/{alert.id}", headers=auditor).json()["incidents"] == []
    opened = [client.post("/incidents", headers=responder, json={
        "title": f"{user} #{n}", "severity": "high", "alert_ids": [alert.id], "playbook": playbook}).json()
        for n, playbook in enumerate(("brute-force", None))]  # fmt: skip
    client.post(f"/incidents/{opened[1]['id']}/cancel", headers=as_(tokens, Role.OFFICER), json={"reason": "duplicate"})
    for headers in (responder, auditor):  # auditors read incidents too (not the events)
        listed = client.get(f"/alerts/{alert.id}", headers=headers).json()["incidents"]
        assert {i["id"]: (i["playbook"], i["status"]) for i in listed} == {
            opened[0]["id"]: ("brute-force", opened[0]["status"]),
            opened[1]["id"]: (None, "cancelled"),
        }
        assert all(set(i) == {"id", "title", "playbook", "status", "severity", "drill", "opened_at"} for i in listed)
    assert client.get(f"/alerts/{alone.id}", headers=auditor).json()["incidents"] == []


def test_an_admin_replaces_the_roster_and_the_running_engine_pages_from_it(
    client: TestClient, tokens: dict[Role, str], es: Elasticsearch, engine: Engine, api_settings: Settings
) -> None:
    admin, responder = as_(tokens, Role.ADMIN), as_(tokens, Role.RESPONDER)
    original = api_settings.roster_file.read_bytes() if api_settings.roster_file else b""
    read = client.get("/duty/roster/file", headers=responder)
    assert read.status_code == 200 and read.headers["content-type"].startswith("application/yaml")
    version = read.headers["ETag"]
    assert client.get("/duty/roster", headers=responder).json()["version"] == version.strip('"')
    roster = yaml.safe_load(read.text)
    roster["people"]["dave"] = {"name": "Dave 新值班", "email": "dave@test.local"}
    roster["shifts"][0]["people"] = ["dave", "alice"]
    text = "# edited through the API\n" + yaml.safe_dump(roster, allow_unicode=True)
    yaml_body = {"Content-Type": "application/yaml"}
    try:
        refused = client.put("/duty/roster", headers={**responder, **yaml_body, "If-Match": version}, content=text)
        assert refused.status_code == 403 and "admin" in refused.json()["detail"]
        bad = yaml.safe_dump({**roster, "shifts": [{**roster["shifts"][0], "people": ["dave", "zed"]}]})
        for body, says in ((bad, "not in people: zed"), ("people: [", "not YAML"), ("- a list", "expected a mapping"),
                           (yaml.safe_dump({**roster, "shifts": []}), "shifts")):  # fmt: skip
            answer = client.put("/duty/roster", headers={**admin, **yaml_body, "If-Match": version}, content=body)
            assert answer.status_code == 422 and says in answer.json()["detail"], answer.text
        assert client.get("/duty/roster/file", headers=admin).headers["ETag"] == version  # nothing was written

        saved = client.put("/duty/roster", headers={**admin, **yaml_body, "If-Match": version}, content=text)
        assert saved.status_code == 200, saved.text
        assert saved.json()["on_duty"] == ["dave", "alice"] and saved.headers["ETag"] != version
        assert api_settings.roster_file is not None and api_settings.roster_file.read_text(encoding="utf-8") == text
        stale = client.put("/duty/roster", headers={**admin, **yaml_body, "If-Match": version}, content=text)
        assert stale.status_code == 409 and "read it again" in stale.json()["detail"]
        assert client.get("/duty/roster", headers=responder).json()["chain"] == ["dave", "alice", "carol"]
        # The engine (built before the change, reading the same file) pages from the new roster, no restart.
        assert engine.roster.on_duty(datetime.now(UTC)) == ["dave", "alice"]
        assert engine.dispatcher.rosters.current().person("dave").email == "dave@test.local"
        es.indices.refresh(index="vigil-audit")
        audited = es.search(index="vigil-audit", query={"term": {"action": "duty.roster.replace"}})["hits"]["hits"]
        assert [h["_source"]["filters"] for h in audited] == [
            {"from_version": version.strip('"'), "to_version": saved.headers["ETag"].strip('"')}
        ]
        assert audited[0]["_source"]["actor"]["role"] == "admin"
    finally:
        assert api_settings.roster_file is not None
        api_settings.roster_file.write_bytes(original)  # the other tests of the module page alice first
