"""The playbook engine on the real stack with real local receivers (aiosmtpd, an HTTP webhook receiver).

- End to end: a real attack file (audit log cleared) → the detectors' alerts on `vigil.alerts` → one
  incident with the right playbook → the duty page and the notify step reach the SMTP server and the
  webhook receiver with the right content; the legal hold is readable through the retention module.
- Deadlines with a controllable clock: the unacknowledged duty page escalates at 3 minutes to the next
  person; the 24-hour authority report reminds at T-6 h and T-1 h and alerts when overdue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.models.alert import Alert, Severity
from core.models.incident import StepStatus
from core.names import Topic
from core.settings import Settings
from detectors.registry import build_plan
from detectors.replay import read_events, replay
from detectors.sigma import SigmaEngine
from playbooks import transitions
from playbooks.desk import Desk
from playbooks.engine import Engine
from playbooks.runtime import build_engine
from retention.holds import get_hold, list_holds
from tests.datasets import dataset
from tests.integration.playbooks_support import (
    clear_incidents,
    incidents_about,
    keys_of,
    produce_alerts,
    response_settings,
    start_group_at_end,
    wait_for,
)  # fmt: skip
from tests.support.receivers import SmtpReceiver, WebhookReceiver
from tests.unit.playbook_kit import FakeClock, alert

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]

LOG_CLEARED = ("attack", "mdecrevoisier", "TA0005-Defense Evasion", "T1070.001-Clear Windows event logs",
               "ID104-1102-Event log cleared.jsonl")  # fmt: skip


@pytest.fixture
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(settings)
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _no_earlier_incidents(es: Elasticsearch) -> None:
    clear_incidents(es)


def _replayed_alerts(settings: Settings) -> list[Alert]:
    engine = SigmaEngine.from_paths([dataset("sigma", "rules", "windows", "builtin", "security")])
    pipeline = build_plan(settings, engine).replay_pipeline()
    return replay(read_events([dataset(*LOG_CLEARED)], "auto", settings.zone), pipeline).alerts


def test_a_replayed_attack_opens_one_incident_and_notifies_by_mail_and_webhook(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, group="pb-e2e")
    alerts = _replayed_alerts(config)
    assert {a.rule.id for a in alerts} >= {"vigil-policy-audit-log-cleared", "d99b79d2-0a6f-4f46-ad8b-260b6e17f982"}
    assert {a.entity.key for a in alerts} == {"user:admmig"}
    start_group_at_end(config)
    engine = build_engine(config, alert_sink=lambda _alert: None)
    worker = threading.Thread(target=engine.run, kwargs={"idle_exit_s": 120}, daemon=True)
    worker.start()
    try:
        produce_alerts(config, alerts)

        def settled() -> object:
            found = incidents_about(es, "admmig")
            steps = ("notify-team", "gather-context")
            return found and all(found[0].step(s).status is StepStatus.DONE for s in steps) and found

        incidents = wait_for("the incident's first response", settled)
    finally:
        engine.stop_event.set()
        worker.join(30)
    assert isinstance(incidents, list) and len(incidents) == 1  # three alerts, one entity, minutes apart: one
    incident = incidents[0]
    assert incident.playbook == "audit-log-cleared" and sorted(incident.alert_ids) == sorted(a.id for a in alerts)
    assert incident.step("page-on-duty").status is StepStatus.WAITING  # for alice's acknowledgement
    assert incident.step("triage").status is StepStatus.PENDING
    assert incident.step("gather-context").attachments[0].name == "around"
    assert engine.metrics["opened"] == 1 and engine.metrics["grouped"] == len(alerts) - 1

    pages = [m for m in smtp_receiver.messages if "值班响应" in m.subject]
    notices = [m for m in smtp_receiver.messages if m.subject.startswith("[Vigil] 日志源静默/审计日志被清除：")]
    assert [m.rcpt_tos for m in pages] == [["alice@test.local"]] and len(notices) == 1
    assert notices[0].rcpt_tos == ["alice@test.local"]
    assert "user:admmig" in notices[0].body and incident.id in notices[0].body
    assert f"http://console.test/incidents/{incident.id}" in notices[0].body
    hooks = [r.json for r in webhook_receiver.requests]
    notice = next(h for h in hooks if h["fields"]["purpose"] == "notify")
    assert notice["incident_id"] == incident.id and notice["severity"] == "high" and not notice["drill"]
    assert "user:admmig" in notice["text"] and notice["recipients"] == ["alice-chat"]
    mails, webhooks = keys_of(smtp_receiver, webhook_receiver)
    assert len(set(mails)) == len(mails) == 2 and len(set(webhooks)) == len(webhooks) == 2
    assert f"{incident.id}:notify-team:1:email" in mails and f"{incident.id}:notify-team:1:webhook" in webhooks


def test_the_preserve_step_places_a_hold_the_retention_module_reads(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, group="pb-hold")
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    engine = build_engine(config, clock=clock, es=es, alert_sink=lambda _alert: None)
    engine.store.ensure()
    desk = Desk(config, es, clock=clock)
    raised = alert("vigil-policy-audit-log-cleared", entity="user:hold-test", at=clock.now, tags=("attack.t1070.001",),
                   hint="audit-log-cleared")  # fmt: skip
    (incident_id,) = engine.on_alerts([raised])
    desk.act(incident_id, None, lambda inc, _c, now: transitions.acknowledge(inc, actor="carol", now=now))
    desk.act(incident_id, None, lambda inc, ctx, now: transitions.complete_step(
        inc, ctx, "triage", actor="alice", evidence={"scope": "hold-test", "assessment": "true"}, comment=None,
        now=now))  # fmt: skip
    engine.process(incident_id)
    incident = engine.store.get(incident_id).incident
    preserve = incident.step("preserve-evidence")
    assert preserve.status is StepStatus.DONE, preserve.detail
    hold = get_hold(es, preserve.attachments[0].ref or "")
    assert hold.incident_id == incident_id and hold.entity == "user:hold-test" and hold.active
    assert hold.from_ == raised.first_seen - timedelta(days=7) and hold.to is None
    assert hold.id in {h.id for h in list_holds(es)}
    engine.process(incident_id)  # nothing left to do: no second hold, no second message
    assert engine.store.get(incident_id).incident.step("preserve-evidence").attachments == preserve.attachments


def test_duty_escalation_after_3_minutes_and_the_24_hour_report_reminders(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, group="pb-clock")
    clock = FakeClock(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    overdue: list[Alert] = []
    engine: Engine = build_engine(config, clock=clock, es=es, alert_sink=overdue.append)
    engine.store.ensure()
    desk = Desk(config, es, clock=clock)
    raised = alert(entity="user:clock-test", at=clock.now - timedelta(minutes=5), severity=Severity.CRITICAL)
    (incident_id,) = engine.on_alerts([raised])  # critical brute force: serious, the 24-hour report applies

    def mailed_to() -> list[str]:
        return [m.rcpt_tos[0] for m in smtp_receiver.messages]

    assert mailed_to().count("alice@test.local") == 2  # the page and the team notice
    clock.advance(minutes=2, seconds=59)
    engine.tick()
    assert "bob@test.local" not in mailed_to()
    clock.advance(seconds=1)
    engine.tick()
    assert mailed_to()[-1] == "bob@test.local" and "escalation level 1" in smtp_receiver.messages[-1].body
    assert engine.store.get(incident_id).incident.contacts[-1].person == "bob"
    desk.act(incident_id, None, lambda inc, _c, now: transitions.acknowledge(inc, actor="bob", now=now))
    clock.advance(minutes=10)
    engine.tick()
    assert mailed_to().count("bob@test.local") == 1 and "carol@test.local" not in mailed_to()

    desk.act(incident_id, None, lambda inc, ctx, now: transitions.complete_step(
        inc, ctx, "triage", actor="bob", evidence={"scope": "clock-test", "assessment": "true"}, comment=None,
        now=now))  # fmt: skip
    engine.process(incident_id)
    incident = engine.store.get(incident_id).incident
    assert incident.serious and incident.step("report-to-authority").status is StepStatus.READY
    due = next(d.due for d in incident.deadlines if d.name == "report-to-authority")
    assert due == raised.timestamp + timedelta(hours=24)

    def reminders() -> list[str]:
        return [m.subject for m in smtp_receiver.messages if "期限提醒" in m.subject or "已超时" in m.subject]

    for at, expected in [(due - timedelta(hours=6, seconds=1), 0), (due - timedelta(hours=6), 1),
                         (due - timedelta(hours=1, seconds=1), 1), (due - timedelta(hours=1), 2),
                         (due - timedelta(seconds=1), 2), (due, 3), (due + timedelta(hours=3), 3)]:  # fmt: skip
        clock.now = at
        engine.tick()
        assert len(reminders()) == expected, (at, reminders())
    assert "已超时 OVERDUE" in reminders()[-1] and all("期限提醒" in s for s in reminders()[:2])
    assert len(overdue) == 1 and overdue[0].rule.id == "vigil-response-overdue"
    assert overdue[0].context["incident"] == incident_id
    hooks = [r.json["fields"]["purpose"] for r in webhook_receiver.requests]
    assert hooks.count("remind") == 2 and hooks.count("overdue") == 1
    incident = engine.store.get(incident_id).incident
    assert [e.action for e in incident.timeline].count("reminded") == 2
    assert incident.reported_at is None and next(d for d in incident.deadlines if d.name == "report-to-authority")


def test_an_overdue_alert_reaches_vigil_alerts(settings: Settings) -> None:
    """The overdue alert the engine sends goes to the real topic, keyed and encoded like every alert."""
    from playbooks.runtime import kafka_alert_sink

    sent = alert("vigil-response-overdue", entity="user:overdue-topic", tags=("vigil.response",), hint=None)
    clients.ensure_topics(settings)
    kafka_alert_sink(settings)(sent)
    consumer = clients.consumer(settings, "pb-overdue-reader", Topic.ALERTS.value, consumer_timeout_ms=5_000)
    try:
        values = [json.loads(r.value) for r in consumer if r.key == b"user:overdue-topic"][:1]
    finally:
        consumer.close()
    assert values and Alert.model_validate(values[0]).id == sent.id


def test_vigil_incident_drill_marks_the_drill_in_every_message(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, group="pb-drill")
    env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": config.kafka_bootstrap, "VIGIL_ES_URL": config.es_url,
           "VIGIL_ROSTER_FILE": str(config.roster_file), "VIGIL_NOTIFY_FILE": str(config.notify_file),
           "VIGIL_DATA_DIR": str(tmp_path)}  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "core.cli", "incident", "drill", "data-leak", "--actor", "drill-lead"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    printed = json.loads(run.stdout)
    assert printed["drill"] and printed["steps"]["notify-team"] == "done"
    assert printed["steps"]["page-on-duty"] == "waiting"
    stored = build_engine(config, es=es).store.get(printed["incident"]).incident
    assert stored.drill and stored.opened_by == "drill-lead" and stored.title.startswith("演练")
    assert stored.serious  # a drill walks the worst case: data-leak incidents are serious from high
    assert smtp_receiver.messages and all("演练" in m.subject for m in smtp_receiver.messages)
    assert all(m.message["X-Vigil-Drill"] == "true" and "演练" in m.body for m in smtp_receiver.messages)
    assert webhook_receiver.requests and all(r.json["drill"] for r in webhook_receiver.requests)


def test_a_failed_delivery_is_tried_again_with_the_same_key_then_the_step_completes(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, group="pb-retry")
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    engine = build_engine(config, clock=clock, es=es, alert_sink=lambda _alert: None)
    engine.store.ensure()
    webhook_receiver.respond(503)
    raised = alert(entity="user:retry-test", at=clock.now, severity=Severity.HIGH)
    (incident_id,) = engine.on_alerts([raised])
    notify = engine.store.get(incident_id).incident.step("notify-team")
    assert notify.status is StepStatus.RUNNING  # the mail went out, the webhook did not
    failed = [r.headers["x-vigil-delivery"] for r in webhook_receiver.requests]
    assert f"{incident_id}:notify-team:1:webhook" in failed
    clock.advance(seconds=29)
    engine.tick()
    assert len(webhook_receiver.requests) == len(failed)  # not before the pause is over
    webhook_receiver.respond(200)
    clock.advance(seconds=1)
    engine.tick()
    incident = engine.store.get(incident_id).incident
    assert incident.step("notify-team").status is StepStatus.DONE
    again = [r.headers["x-vigil-delivery"] for r in webhook_receiver.requests[len(failed) :]]
    assert sorted(again) == sorted(failed)  # the same messages, the same keys
    entry = next(o for o in incident.outbox if o.key == f"{incident_id}:notify-team:1:webhook")
    assert entry.ok and entry.attempts == 2 and entry.sent_at == clock.now
    assert [e.action for e in incident.timeline].count("delivery_failed") == len(failed)
