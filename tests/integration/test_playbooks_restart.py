"""kill -9 the `playbooks` worker in the middle of a playbook, twice, and restart it: the incident goes on
where it was, timers included, and the receivers got every message exactly once (counted by idempotency key).

The worker runs as a user runs it (`vigil workers --role playbooks`, a subprocess) against the real stack,
the aiosmtpd server and the webhook receiver; the acknowledgement comes through the desk the API uses.
Short timers (seconds) stand in for the 3 minutes: the mechanism is the same stored due times.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from elasticsearch import Elasticsearch

from core import clients
from core.models.incident import Incident, StepStatus
from core.settings import Settings
from playbooks import transitions
from playbooks.desk import Desk
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
from tests.unit.playbook_kit import alert

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
ACK_WITHIN_S = 6

PLAYBOOK = {
    "id": "restart-test",
    "title": {"en": "Restart test", "zh-CN": "重启测试"},
    "trigger": {"rules": ["test-restart-rule"]},
    "steps": [
        {"id": "page", "kind": "escalate", "group": "first", "title": {"en": "Page", "zh-CN": "呼叫"},
         "channels": ["email", "webhook"], "ack_within": f"{ACK_WITHIN_S}s"},
        {"id": "first-notice", "kind": "notify", "group": "first", "title": {"en": "First", "zh-CN": "首报"},
         "channels": ["email", "webhook"], "to": ["on_duty"], "subject": {"en": "first {id}", "zh-CN": "首报 {id}"},
         "text": {"en": "first notice", "zh-CN": "首报"}},
        {"id": "pause", "kind": "wait", "title": {"en": "Pause", "zh-CN": "等待"}, "duration": "4s"},
        {"id": "second-notice", "kind": "notify", "title": {"en": "Second", "zh-CN": "续报"},
         "channels": ["email", "webhook"], "to": ["on_duty"], "subject": {"en": "second {id}", "zh-CN": "续报 {id}"},
         "text": {"en": "second notice", "zh-CN": "续报"}},
        {"id": "check", "kind": "manual", "title": {"en": "Check", "zh-CN": "检查"}},
    ],
}  # fmt: skip


@pytest.fixture
def es(settings: Settings) -> Iterator[Elasticsearch]:
    client = clients.es_client(settings)
    yield client
    client.close()


class Worker:
    """`vigil workers --role playbooks` in a subprocess, killable with SIGKILL."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIL_ES_URL": settings.es_url,
                    "VIGIL_DATA_DIR": str(settings.data_dir), "VIGIL_PLAYBOOKS_GROUP": settings.playbooks_group,
                    "VIGIL_PLAYBOOKS_DIR": str(settings.playbooks_dir), "VIGIL_ROSTER_FILE": str(settings.roster_file),
                    "VIGIL_NOTIFY_FILE": str(settings.notify_file), "VIGIL_PLAYBOOK_TICK_S": "0.2",
                    "VIGIL_CONSOLE_URL": "http://console.test"}  # fmt: skip
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "core.cli", "workers", "--role", "playbooks"],
                                            cwd=REPO, env=self.env, stdout=out, stderr=out)  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()[-3000:]
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(autouse=True)
def _no_earlier_incidents(es: Elasticsearch) -> None:
    clear_incidents(es)


def _incident(es: Elasticsearch, entity: str) -> Incident | None:
    found = incidents_about(es, entity)
    return found[0] if found else None


def test_kill_9_mid_timer_and_mid_wait_then_restart_repeats_nothing_and_skips_nothing(
    settings: Settings, tmp_path: Path, smtp_receiver: SmtpReceiver, webhook_receiver: WebhookReceiver,
    es: Elasticsearch,
) -> None:  # fmt: skip
    books = tmp_path / "playbooks"
    books.mkdir()
    (books / "restart-test.yml").write_text(yaml.safe_dump(PLAYBOOK, allow_unicode=True), encoding="utf-8")
    config = response_settings(settings, tmp_path, smtp_receiver, webhook_receiver, playbooks_dir=books,
                               group=f"pb-restart-{uuid.uuid4().hex[:6]}")  # fmt: skip
    start_group_at_end(config)
    entity = f"restart-{uuid.uuid4().hex[:8]}"
    produce_alerts(config, [alert("test-restart-rule", entity=f"user:{entity}", at=datetime.now(UTC), hint=None)])
    worker = Worker(config, tmp_path / "worker.log")
    try:
        worker.start()

        def first_response_recorded() -> Incident | None:
            inc = _incident(es, entity)
            sent = inc is not None and len(inc.outbox) == 4 and all(o.sent_at for o in inc.outbox)
            return inc if sent else None

        # Generous: under a loaded CI machine the worker's imports and group join alone took over a minute.
        incident = wait_for("the page and the first notice, recorded as sent", first_response_recorded, 180)
        assert isinstance(incident, Incident)
        escalation_due = next(t.due for t in incident.timers if t.kind.value == "escalate" and t.pending)
        worker.kill()  # 1: mid-timer, the escalation to bob pending
        assert [c.person for c in incident.contacts] == ["alice"]
        time.sleep(max(0.0, (escalation_due - datetime.now(UTC)).total_seconds()) + 1)  # it falls due while down
        worker.start()
        incident = wait_for("bob paged by the restarted worker", lambda: (i := _incident(es, entity)) and
                            len(i.contacts) == 2 and all(o.sent_at for o in i.outbox) and i, 180)  # fmt: skip
        assert isinstance(incident, Incident) and incident.contacts[1].person == "bob"
        desk = Desk(config, es)
        desk.act(incident.id, None, lambda inc, _c, now: transitions.acknowledge(inc, actor="bob", now=now))

        def pausing() -> Incident | None:
            inc = _incident(es, entity)
            return inc if inc is not None and inc.step("pause").status is StepStatus.WAITING else None

        incident = wait_for("the wait step running", pausing, 30)
        assert isinstance(incident, Incident)
        worker.kill()  # 2: mid-playbook, inside the wait
        worker.start()

        def finished() -> Incident | None:
            inc = _incident(es, entity)
            ready = inc is not None and inc.step("check").status is StepStatus.READY
            return inc if ready and all(o.sent_at for o in inc.outbox) else None

        incident = wait_for("the second notice after the restart", finished, 180)
        assert isinstance(incident, Incident)
    finally:
        worker.stop()
    iid = incident.id
    expected = {f"{iid}:page:page0:email", f"{iid}:page:page1:email", f"{iid}:first-notice:1:email",
                f"{iid}:second-notice:1:email"}  # fmt: skip
    mails, hooks = keys_of(smtp_receiver, webhook_receiver)
    assert sorted(mails) == sorted(expected)  # each exactly once: nothing repeated, nothing skipped
    assert sorted(hooks) == sorted(k.replace(":email", ":webhook") for k in expected)
    assert [m.rcpt_tos for m in smtp_receiver.messages if m.subject.startswith("[Vigil] 值班响应")] == [
        ["alice@test.local"], ["bob@test.local"]]  # fmt: skip
    pause = incident.step("pause")
    assert pause.completed_at is not None and pause.started_at is not None
    assert pause.completed_at - pause.started_at >= timedelta(seconds=4)
    actions = [e.action for e in incident.timeline]
    assert actions.count("paged") == 1 and actions.count("escalated") == 1 and actions.count("opened") == 1
    assert [s.attempts for s in incident.steps] == [1, 1, 1, 1, 1]
    assert len(incidents_about(es, entity)) == 1
