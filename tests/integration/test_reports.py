"""Patrol records and evaluations from seeded data in the real Elasticsearch: every number asserted.

Seeded (Asia/Shanghai): events of a fixed Tuesday, 2026-11-10, across the zone's day boundaries, a
source silent that day, dead letters, alerts with triage histories, health samples; then the record,
its sign-off versions, the unsigned days, the PDF, the monthly and quarterly evaluations, the API and
the scheduler across a restart.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from elasticsearch import Elasticsearch
from fastapi.testclient import TestClient
from PIL import ImageStat

from api.app import create_app
from api.permissions import Role
from api.tokens import TokenStore
from core import daily_runs
from core.daily_runs import DailyRunner, install_runs_template
from core.index_templates import install_templates
from core.models.alert import Alert, AlertChange, AlertStatus, EntityRef, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from core.models.entity import WorkCalendar
from core.models.envelope import DeadLetter
from core.names import ALERTS_INDEX, INCIDENTS_INDEX, REPORTS_INDEX, deadletter_index, logs_index
from core.settings import Settings
from detectors.rule_state import store_rules_summary
from ingest.indexer import index_batch
from reports import evaluation, health, patrol, render
from reports.calendar import ReportSettings, quarter_period
from reports.indices import HEALTH_INDEX, install_report_templates
from reports.models import RulesSummary, SignOff
from reports.scheduler import ReportJobs, build
from stack.local import LocalStack, StackConfig

pytestmark = pytest.mark.integration

ZONE = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 10)  # a Tuesday
NOW = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)  # 08:30 local on 1 December: November is over
CALENDAR = WorkCalendar()
PNG_OUT = Path("/tmp/vigil-reports-patrol-page1.png")


def local(day: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=ZONE)


def event(n: int, at: datetime, category: str, source: str) -> tuple[str, str, dict[str, Any]]:
    ev = EcsEvent.model_validate({"@timestamp": at, "message": f"seed {n}", "event": {"id": f"ev-{n}"},
                                  "vigil": {"category": category, "source": source, "parser": "seed"}})  # fmt: skip
    return logs_index(category, ev.timestamp), f"ev-{n}", ev.to_document()


# (local time, category, source): the day's events, the day's neighbours, and the silent/old sources.
EVENTS = [
    *[(local(DAY, 9, i), "network", "fw01") for i in range(5)],
    *[(local(DAY, 14, i), "network", "proxy01") for i in range(3)],
    (local(DAY, 0, 30), "system", "web01"),  # 16:30 UTC the day before: the local day counts, not the UTC one
    *[(local(DAY, 11, i), "system", "web01") for i in range(3)],
    *[(local(DAY, 23, 50 + i), "user", "ad01") for i in range(2)],
    (local(DAY + timedelta(days=1), 0, 10), "network", "fw01"),  # the next local day
    (local(DAY - timedelta(days=1), 23, 59), "system", "web01"),  # the previous local day
    (local(DAY - timedelta(days=5), 12), "network", "old-fw"),  # silent on the day
    (local(DAY - timedelta(days=9), 12), "network", "ancient"),  # outside the 7-day look-back
]


def letter(n: int, at: datetime, reason: str, source: str) -> tuple[str, str, dict[str, Any]]:
    fields = {"stage": "normalise", "reason": reason, "source": source, "transport": "file", "format": "auto"}
    doc = DeadLetter.model_validate({"id": f"dl-{n}", "@timestamp": at, "raw": "garbage", **fields})
    return deadletter_index(doc.timestamp), doc.id, doc.to_document()


LETTERS = [
    *[(local(DAY, 10, i), f"no parser matched: line {i}", "fw01") for i in range(3)],
    *[(local(DAY, 15, i), f"invalid envelope on vigil.raw: field {i}", "unknown") for i in range(2)],
    (local(DAY + timedelta(days=1), 9), "no parser matched: later", "fw01"),
]


def alert(n: int, severity: Severity, rule: str, entity: str, status: AlertStatus,
          changes: list[tuple[int, AlertStatus]], raised: datetime | None = None) -> Alert:  # fmt: skip
    raised = raised or local(DAY, 10, n)
    kind, value = entity.split(":")
    return Alert.model_validate({
        "id": f"alert-{n}", "@timestamp": raised, "origin": "stream", "status": status, "severity": severity,
        "rule": RuleRef(id=rule, title=f"Rule {rule}", kind="sigma"), "entity": EntityRef(kind=kind, value=value),
        "dedup_key": f"k{n}", "first_seen": raised, "last_seen": raised,
        "summary": Summary.model_validate({"en": "seeded", "zh-CN": "种子"}),
        "history": [AlertChange(at=raised + timedelta(seconds=s), by="officer1", status=st) for s, st in changes],
    })  # fmt: skip


A, R, FP, INV = AlertStatus.ACKNOWLEDGED, AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE, AlertStatus.INVESTIGATING
ALERTS = [
    alert(1, Severity.HIGH, "r1", "user:alice", R, [(60, A), (600, R)]),
    alert(2, Severity.HIGH, "r1", "user:alice", FP, [(120, A), (300, FP)]),
    alert(3, Severity.MEDIUM, "r2", "host:ws01", AlertStatus.NEW, []),
    alert(4, Severity.CRITICAL, "r3", "user:bob", INV, [(240, INV)]),
    alert(5, Severity.LOW, "r2", "host:ws01", FP, [(30, FP)]),
    alert(6, Severity.CRITICAL, "r3", "user:bob", AlertStatus.NEW, []),
    alert(7, Severity.HIGH, "r1", "user:carol", R, [(900, A), (1800, R)], raised=local(date(2026, 10, 20), 10)),
]
# Health: Elasticsearch ok every minute of DAY (and 10 failed minutes the day after), Kafka ok half of DAY.
ES_OK, KAFKA_OK, NOVEMBER_MINUTES = 1440, 720, 30 * 1440


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of this module's own: patrol records and evaluations count the whole cluster (they are
    organisation-wide), so the events other tests leave in the session's cluster would change every number."""
    local = LocalStack(StackConfig.ephemeral(tmp_path_factory.mktemp("reports-stack")))
    local.up()
    try:
        yield local
    finally:
        local.down()


@pytest.fixture(scope="module")
def settings(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(kafka_bootstrap=stack.config.kafka_bootstrap, es_url=stack.config.es_url,
                    data_dir=tmp_path_factory.mktemp("reports"))  # fmt: skip


@pytest.fixture(scope="module")
def es(settings: Settings) -> Elasticsearch:
    return Elasticsearch(settings.es_url, request_timeout=60)


@pytest.fixture(scope="module")
def seeded(es: Elasticsearch, settings: Settings) -> None:
    install_templates(es, settings)
    install_report_templates(es, settings)
    docs = [event(n, at, cat, src) for n, (at, cat, src) in enumerate(EVENTS)]
    docs += [letter(n, at, reason, src) for n, (at, reason, src) in enumerate(LETTERS)]
    assert index_batch(es, docs) == []
    ops: list[dict[str, Any]] = []
    for a in ALERTS:
        ops += [{"index": {"_index": ALERTS_INDEX, "_id": a.id}}, a.to_document()]
    start = local(DAY, 0)
    samples = [
        health.HealthSample(component="elasticsearch", ok=True, at=start + timedelta(minutes=m)) for m in range(ES_OK)
    ]
    samples += [health.HealthSample(component="elasticsearch", ok=False, at=start + timedelta(days=1, minutes=m))
                for m in range(10)]  # fmt: skip
    samples += [
        health.HealthSample(component="kafka", ok=m % 2 == 0, at=start + timedelta(minutes=m)) for m in range(1440)
    ]
    for s in samples:
        ops += [{"index": {"_index": HEALTH_INDEX, "_id": s.id}}, s.model_dump(mode="json")]
    assert not es.bulk(operations=ops, refresh=True)["errors"]
    store_rules_summary(es, settings, RulesSummary(loaded=120, skipped=7, correlations=3, at=local(DAY, 8),
                                         skipped_by_reason={"unsupported_logsource": 7}, disabled=["rule-a"]))
    es.indices.refresh(index="logs-*,vigil-deadletter-*,vigil-reports")


@pytest.fixture(scope="module")
def record(es: Elasticsearch, settings: Settings, seeded: None) -> patrol.PatrolRecord:
    made, created = patrol.ensure_record(es, settings, DAY, NOW)
    assert created
    return made


def test_patrol_record_numbers(record: patrol.PatrolRecord) -> None:
    c = record.content
    assert (record.version, record.signed, c.day, c.zone) == (1, False, DAY, "Asia/Shanghai")
    logs = c.logs
    assert {x.key: x.count for x in logs.by_category} == {"network": 8, "system": 4, "user": 2}
    assert logs.events_total == 14
    assert {(v.source, v.category): v.events for v in logs.by_source} == {
        ("fw01", "network"): 5, ("web01", "system"): 4, ("proxy01", "network"): 3, ("ad01", "user"): 2}  # fmt: skip
    hourly = logs.hourly
    assert all(len(v) == 24 for v in hourly.values())
    assert hourly["network"][9] == 5 and hourly["network"][14] == 3 and sum(hourly["network"]) == 8
    assert hourly["system"][0] == 1 and hourly["system"][11] == 3 and hourly["user"][23] == 2
    assert logs.silent_sources == ["old-fw"]
    assert logs.deadletters_total == 5
    assert {x.key: x.count for x in logs.deadletters_by_reason} == {"no parser matched": 3,
                                                                     "invalid envelope on vigil.raw": 2}  # fmt: skip
    assert {x.key: x.count for x in logs.deadletters_by_source} == {"fw01": 3, "unknown": 2}

    al = c.alerts
    assert al.total == 6
    assert {x.key: x.count for x in al.by_severity} == {"critical": 2, "high": 2, "medium": 1, "low": 1,
                                                        "informational": 0}  # fmt: skip
    assert [(x.key, x.count) for x in al.by_rule] == [("r1", 2), ("r2", 2), ("r3", 2)]
    assert {x.key: x.count for x in al.by_status} == {"new": 2, "acknowledged": 0, "investigating": 1,
                                                      "resolved": 1, "false_positive": 2}  # fmt: skip
    assert (al.response.alerts, al.response.acknowledged, al.response.resolved) == (6, 4, 3)
    assert al.response.mtta_s == pytest.approx((60 + 120 + 240 + 30) / 4)
    assert al.response.mttr_s == pytest.approx((600 + 300 + 30) / 3)
    assert al.response.max_tta_s == 240
    assert al.unacknowledged_high == 1  # alert 6: critical and new
    assert [(x.key, x.count) for x in c.notable_users] == [("alice", 2), ("bob", 2)]
    assert [(x.key, x.count) for x in c.notable_hosts] == [("ws01", 2)]

    assert c.incidents.configured is False and c.incidents.open == []
    # Seeded straight into Elasticsearch, not through the indexer: no ledger entry, nothing verified.
    assert c.integrity.available and c.integrity.checks == [] and c.integrity.unverified == []
    assert c.integrity.days == [DAY - timedelta(days=1), DAY]  # the Shanghai day spans two UTC days
    assert c.rules is not None and (c.rules.loaded, c.rules.skipped, c.rules.correlations) == (120, 7, 3)
    assert c.rules.skipped_by_reason == {"unsupported_logsource": 7} and c.rules.disabled == ["rule-a"]
    ret = c.retention
    assert ret.available and ret.compliant is False  # 9 seeded days are far from 60 kept days
    network = next(s for s in ret.scopes if s.scope == "network")
    assert (network.oldest_day, network.newest_day, network.retention_days) == (date(2026, 11, 1), DAY, 60)
    assert {s.scope for s in ret.scopes} == {"network", "system", "user", "deadletter"}


def test_generating_again_returns_the_stored_record(es: Elasticsearch, settings: Settings,
                                                    record: patrol.PatrolRecord) -> None:  # fmt: skip
    again, created = patrol.ensure_record(es, settings, DAY, NOW + timedelta(hours=5))
    assert not created and again == record and len(patrol.versions(es, DAY)) == 1


@pytest.fixture(scope="module")
def signed(es: Elasticsearch, settings: Settings, record: patrol.PatrolRecord) -> list[patrol.PatrolRecord]:
    first = patrol.sign(es, settings, DAY, SignOff(findings="无异常", actions="none"), "zhang.wei", NOW)
    second = patrol.sign(es, settings, DAY, SignOff(findings="补充: 3 failed sudo on web01", actions="ticket 42"),
                         "li.na", NOW + timedelta(hours=2))  # fmt: skip
    other = patrol.sign(es, settings, date(2026, 11, 11), SignOff(findings="ok"), "zhang.wei", NOW)  # no record yet
    return [first, second, other]


def test_signoff_is_immutable_and_versioned(es: Elasticsearch, record: patrol.PatrolRecord,
                                            signed: list[patrol.PatrolRecord]) -> None:  # fmt: skip
    first, second, other = signed
    assert (first.version, first.signed_by, first.findings, first.content) == (1, "zhang.wei", "无异常", record.content)
    assert (second.version, second.signed_by, second.previous_hash) == (2, "li.na", first.content_hash)
    stored = patrol.versions(es, DAY)
    assert stored == [first, second]  # version 1 kept exactly as signed, beside version 2
    assert patrol.chain_breaks(stored) == []
    assert (other.day, other.version, other.signed_by) == (date(2026, 11, 11), 1, "zhang.wei")
    unsigned = patrol.unsigned_days(es, CALENDAR, date(2026, 11, 9), date(2026, 11, 16))
    # Mon 9, Thu 12, Fri 13 have no record; Tue 10 and Wed 11 are signed; the weekend is not a working day.
    assert [(u.day, u.latest_version) for u in unsigned] == [(date(2026, 11, 9), None), (date(2026, 11, 12), None),
                                                            (date(2026, 11, 13), None)]  # fmt: skip


def test_pdf_renders_with_chinese(signed: list[patrol.PatrolRecord]) -> None:
    pdf = render.pdf(render.patrol_html(signed[1], "zh-CN", "png"))
    assert pdf.startswith(b"%PDF")
    document = pypdfium2.PdfDocument(pdf)
    assert len(document) >= 2
    text = document[0].get_textpage().get_text_range()
    assert "日常巡查记录" in text and "2026-11-10" in text
    image = document[0].render(scale=1.5).to_pil()
    image.save(PNG_OUT)  # for a person to look at
    stat = ImageStat.Stat(image.convert("L"))
    assert stat.var[0] > 500  # a blank page has variance 0; text, tables and charts give thousands
    html = render.patrol_html(signed[1], "en", "svg")
    assert "Daily patrol record" in html and "<svg" in html and "incident engine not configured" in html
    assert "1 disabled" in html and "disabled: rule-a" in html and "unsupported_logsource 7" in html


def test_monthly_and_quarterly_evaluations(es: Elasticsearch, settings: Settings,
                                           signed: list[patrol.PatrolRecord]) -> None:  # fmt: skip
    nov = evaluation.monthly(es, settings, CALENDAR, "2026-11", NOW)
    avail = {a.component: a for a in nov.availability}
    assert (avail["elasticsearch"].ok, avail["elasticsearch"].expected) == (ES_OK, NOVEMBER_MINUTES)
    assert avail["elasticsearch"].ratio == pytest.approx(ES_OK / NOVEMBER_MINUTES)
    assert avail["kafka"].ratio == pytest.approx(KAFKA_OK / NOVEMBER_MINUTES) and avail["scheduler"].ok == 0
    # Every seeded event and dead letter is in November, local time (1 November noon is the oldest).
    assert nov.events == len(EVENTS) and nov.deadletters == len(LETTERS)
    assert nov.deadletter_ratio == pytest.approx(len(LETTERS) / (len(EVENTS) + len(LETTERS)))
    assert nov.response.alerts == 6 and nov.response.mtta_s == pytest.approx(112.5)
    assert nov.response.mttr_s == pytest.approx(310.0)
    assert nov.response_by_severity["critical"].acknowledged == 1
    assert {r.rule: (r.alerts, r.false_positives, r.ratio) for r in nov.false_positives} == {
        "r1": (2, 1, 0.5), "r2": (2, 1, 0.5), "r3": (2, 0, 0.0)}  # fmt: skip
    assert (nov.working_days, nov.signed_days) == (21, 2) and nov.signoff_ratio == pytest.approx(2 / 21)
    assert date(2026, 11, 10) not in nov.unsigned_days and len(nov.unsigned_days) == 19
    assert nov.incidents.configured is False and nov.retention.compliant is False

    q4 = evaluation.quarterly(es, settings, CALENDAR, quarter_period("2026Q4", settings.timezone), NOW)
    assert [m.period for m in q4.monthly] == ["2026-10", "2026-11", "2026-12"]
    oct_, dec = q4.monthly[0], q4.monthly[2]
    assert oct_.response.alerts == 1 and oct_.response.mtta_s == 900 and oct_.response.mttr_s == 1800
    assert q4.response.alerts == 7 and q4.response.mtta_s == pytest.approx((60 + 120 + 240 + 30 + 900) / 5)
    assert [(r.rule, r.alerts, r.false_positives) for r in q4.false_positives] == [("r2", 2, 1), ("r1", 3, 1),
                                                                                   ("r3", 2, 0)]  # fmt: skip
    # December has just begun at NOW (08:30 local on the 1st): 510 minutes expected, no working day over yet.
    assert dec.availability[0].expected == 8 * 60 + 30 and dec.working_days == 0 and dec.signoff_ratio is None
    quarter_minutes = NOVEMBER_MINUTES + 31 * 1440 + 8 * 60 + 30
    assert {a.component: a.expected for a in q4.availability}["elasticsearch"] == quarter_minutes
    assert q4.working_days == 22 + 21 and q4.signed_days == 2
    pdf = render.pdf(render.evaluation_html(q4, "zh-CN", "png"))
    assert pypdfium2.PdfDocument(pdf)[0].get_textpage().get_text_range().count("季度服务质量评估") >= 1


def test_incidents_when_the_engine_exists(es: Elasticsearch, settings: Settings, seeded: None) -> None:
    opened = local(DAY, 10)
    docs = [
        {"id": "inc-1", "title": "ransomware on ws01", "severity": "critical", "status": "open", "serious": True,
         "opened_at": opened, "contacted_at": opened + timedelta(minutes=2),
         "reported_at": opened + timedelta(hours=20),
         "deadlines": [{"name": "report", "due": opened + timedelta(hours=24)}]},
        {"id": "inc-2", "title": "outage", "status": "closed", "serious": True, "opened_at": opened,
         "contacted_at": opened + timedelta(minutes=5), "reported_at": opened + timedelta(hours=30)},
        # A drill is measured apart: its late contact and missing report are not the organisation's misses.
        {"id": "drill-1", "title": "drill: brute force", "status": "open", "serious": True, "drill": True,
         "opened_at": opened, "contacted_at": opened + timedelta(minutes=1)},
    ]  # fmt: skip
    try:
        for doc in docs:
            body = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in doc.items()}
            es.index(index=INCIDENTS_INDEX, id=str(doc["id"]), document=body, refresh=True)
        content = patrol.build_content(es, settings, DAY, NOW)
        assert content.incidents.configured
        assert {(i.id, i.drill) for i in content.incidents.open} == {("inc-1", False), ("drill-1", True)}
        assert [d.name for d in content.incidents.open[0].deadlines] == ["report"]
        nov = evaluation.monthly(es, settings, CALENDAR, "2026-11", NOW)
        expected = {"configured": True, "incidents": 2, "contact_checked": 2, "contact_in_3_min": 1,
                    "report_checked": 2, "report_in_24_h": 1, "drills": 1, "drill_contact_in_3_min": 1}  # fmt: skip
        assert nov.incidents.model_dump() == expected
    finally:
        es.indices.delete(index=INCIDENTS_INDEX, ignore_unavailable=True)


@pytest.fixture(scope="module")
def client(settings: Settings, signed: list[patrol.PatrolRecord]) -> Iterator[tuple[TestClient, dict[Role, str]]]:
    store = TokenStore(settings.tokens_path())
    tokens = {role: store.create(f"reports-{role.value}", role)[1] for role in Role}
    with TestClient(create_app(settings)) as test_client:
        yield test_client, tokens


def test_api(client: tuple[TestClient, dict[Role, str]], es: Elasticsearch) -> None:
    http, tokens = client

    def auth(role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[role]}"}

    got = http.get(f"/reports/patrol/{DAY}", headers=auth(Role.AUDITOR))
    assert got.status_code == 200 and got.json()["version"] == 2 and got.json()["signed_by"] == "li.na"
    assert http.get(f"/reports/patrol/{DAY}?version=1", headers=auth(Role.AUDITOR)).json()["findings"] == "无异常"
    html = http.get(f"/reports/patrol/{DAY}?format=html&lang=en", headers=auth(Role.OFFICER))
    assert html.headers["content-type"].startswith("text/html") and "Daily patrol record" in html.text
    pdf = http.get(f"/reports/patrol/{DAY}?format=pdf", headers=auth(Role.AUDITOR))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert http.get(f"/reports/patrol/{DAY}", headers=auth(Role.RESPONDER)).status_code == 403
    body = {"findings": "late data reviewed", "actions": "", "remarks": "v3"}
    assert http.post(f"/reports/patrol/{DAY}/signoff", json=body, headers=auth(Role.AUDITOR)).status_code == 403
    assert http.post(f"/reports/patrol/{DAY}/signoff", json=body, headers=auth(Role.ADMIN)).status_code == 403
    signed = http.post(f"/reports/patrol/{DAY}/signoff", json=body, headers=auth(Role.OFFICER))
    assert signed.status_code == 200 and signed.json()["version"] == 3
    assert signed.json()["signed_by"] == "reports-officer"
    versions = http.get(f"/reports/patrol/{DAY}/versions", headers=auth(Role.AUDITOR)).json()
    assert [v["version"] for v in versions["data"]] == [1, 2, 3]
    unsigned = http.get("/reports/patrol/unsigned?from=2026-11-09&to=2026-11-12", headers=auth(Role.AUDITOR)).json()
    assert [u["day"] for u in unsigned["data"]] == ["2026-11-09"]
    future = http.get("/reports/patrol/2099-01-01", headers=auth(Role.AUDITOR))
    assert future.status_code == 422


def test_scheduler_runs_the_patrol_job_once_per_day_across_a_restart(es: Elasticsearch, settings: Settings,
                                                                    seeded: None) -> None:  # fmt: skip
    friday, monday = date(2026, 11, 20), date(2026, 11, 23)
    jobs = ReportJobs(es, settings, CALENDAR, ReportSettings())
    install_runs_template(es, 0)
    # No catch-up here: the module's other days must keep the records (or their absence) they have.
    first = DailyRunner(es, [jobs.patrol_job()], jobs.zone, catch_up_days=0)
    assert first.tick(local(monday, 8, 29)) == []  # 08:29: not yet
    made = first.tick(local(monday, 8, 30))  # Monday 08:30: the previous working day is Friday
    assert [(r.job, r.day, r.status, r.summary) for r in made] == [
        ("patrol", friday, "done", {"version": 1, "generated": True})]  # fmt: skip
    assert first.tick(local(monday, 8, 31)) == []  # the same day again: nothing new
    restarted = DailyRunner(es, [jobs.patrol_job()], jobs.zone, catch_up_days=0)
    assert restarted.tick(local(monday, 9, 15)) == []  # the catch-up tick after a restart finds the run
    assert [r.version for r in patrol.versions(es, friday)] == [1]
    assert [(r.day, r.attempt) for r in daily_runs.runs(es, "patrol")] == [(friday, 1)]
    assert restarted.tick(local(date(2026, 11, 21), 8, 30)) == []  # Saturday: no record due
    scheduler = build(jobs, first)
    triggers = {job.id: job.trigger for job in scheduler.get_jobs()}
    assert set(triggers) == {"daily", "health-sample"}
    assert triggers["daily"].interval == timedelta(seconds=settings.scheduler_tick_s)
    # The health sampler against the live stack: three samples, the same minute twice stays three.
    at = datetime(2027, 2, 1, 1, 0, 5, tzinfo=UTC)  # outside the evaluated quarter
    first = health.sample(es, settings, at)
    health.sample(es, settings, at + timedelta(seconds=20))
    assert {s.component: s.ok for s in first} == {"elasticsearch": True, "kafka": True, "scheduler": True}
    es.indices.refresh(index=HEALTH_INDEX)
    count = es.count(index=HEALTH_INDEX, query={"range": {"at": {"gte": "2027-02-01T01:00:00Z",
                                                                  "lt": "2027-02-01T01:01:00Z"}}})["count"]  # fmt: skip
    assert count == 3


def test_reports_index_holds_one_doc_per_version(es: Elasticsearch, signed: list[patrol.PatrolRecord]) -> None:
    es.indices.refresh(index=REPORTS_INDEX)
    ids = {h["_id"] for h in es.search(index=REPORTS_INDEX, query={"term": {"day": DAY.isoformat()}}, size=50,
                                       source=False)["hits"]["hits"]}  # fmt: skip
    assert {"patrol:2026-11-10:v1", "patrol:2026-11-10:v2"} <= ids


def test_cli(settings: Settings, signed: list[patrol.PatrolRecord], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from typer.testing import CliRunner

    from core.cli import app
    from core.settings import get_settings

    monkeypatch.setenv("VIGIL_ES_URL", settings.es_url)
    monkeypatch.setenv("VIGIL_KAFKA_BOOTSTRAP", settings.kafka_bootstrap)
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        out = tmp_path / "patrol.json"
        result = runner.invoke(app, ["report", "patrol", "--date", "2026-11-10", "--format", "json", "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert patrol.PatrolRecord.model_validate_json(out.read_text()).content.logs.events_total == 14
        result = runner.invoke(app, ["report", "sign", "--date", "2026-11-12", "--by", "wang.fang", "--findings", "ok"])
        assert result.exit_code == 0 and "version 1 by wang.fang" in result.output
        pdf = tmp_path / "m.pdf"
        result = runner.invoke(app, ["report", "monthly", "--month", "2026-11", "--lang", "en", "--format", "pdf",
                                     "--out", str(pdf)])  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "Monthly evaluation" in pypdfium2.PdfDocument(pdf.read_bytes())[0].get_textpage().get_text_range()
        result = runner.invoke(app, ["report", "quarterly", "--quarter", "2026Q5"])
        assert result.exit_code == 1 and "not a quarter" in result.output
    finally:
        get_settings.cache_clear()
