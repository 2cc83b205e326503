"""Shared pieces of the playbook engine's integration tests: configuration files pointing at the real
local receivers, the engine's consumer group placed at the end of the session's `vigil.alerts`, alerts
put on the topic, and waiting for an incident's state in Elasticsearch."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import yaml
from elasticsearch import Elasticsearch
from kafka import TopicPartition

from core import clients
from core.models.alert import Alert
from core.models.incident import Incident
from core.names import INCIDENTS_INDEX, Topic
from core.settings import Settings
from tests.support.receivers import SmtpReceiver, WebhookReceiver

ROSTER = {
    "people": {
        "alice": {"name": "Alice 值班", "email": "alice@test.local", "webhook": "alice-chat"},
        "bob": {"name": "Bob 备班", "email": "bob@test.local", "webhook": "bob-chat"},
        "carol": {"name": "Carol 主任", "email": "carol@test.local", "role": "officer"},
    },
    "shifts": [{"name": "all-day", "days": "all", "hours": "00:00-00:00", "people": ["alice", "bob"]}],
    "escalation": ["carol"],
}


def response_settings(settings: Settings, tmp_path: Path, smtp: SmtpReceiver, webhook: WebhookReceiver, *,
                      playbooks_dir: Path | None = None, group: str) -> Settings:  # fmt: skip
    """Settings of a test's engine: notify channels `email` (the aiosmtpd receiver) and `webhook` (the HTTP
    receiver, generic JSON), the roster above, a consumer group of the test's own."""
    notify = {
        "channels": {
            "email": {"type": "smtp", "host": smtp.host, "port": smtp.port, "security": "none",
                      "from": "Vigil 安全值班 <vigil@test.local>", "recipients": ["soc@test.local"], "timeout_s": 5},
            "webhook": {"type": "webhook", "format": "json", "url": webhook.url_for("/hook"), "timeout_s": 5},
        }
    }  # fmt: skip
    (tmp_path / "notify.yml").write_text(yaml.safe_dump(notify), encoding="utf-8")
    (tmp_path / "roster.yml").write_text(yaml.safe_dump(ROSTER, allow_unicode=True), encoding="utf-8")
    return settings.model_copy(update={
        "notify_file": tmp_path / "notify.yml", "roster_file": tmp_path / "roster.yml", "playbooks_dir": playbooks_dir,
        "playbooks_group": group, "playbook_tick_s": 0.2, "console_url": "http://console.test",
    })  # fmt: skip


def start_group_at_end(settings: Settings) -> None:
    """Earlier tests of the session left alerts on `vigil.alerts`; the engine under test starts after them."""
    clients.ensure_topics(settings)
    consumer = clients.consumer(settings, settings.playbooks_group)
    try:
        parts = [TopicPartition(Topic.ALERTS.value, p) for p in consumer.partitions_for_topic(Topic.ALERTS.value)]
        consumer.assign(parts)
        consumer.seek_to_end(*parts)
        for part in parts:
            consumer.position(part)
        consumer.commit()
    finally:
        consumer.close()


def produce_alerts(settings: Settings, alerts: Sequence[Alert]) -> None:
    producer = clients.producer(settings)
    for alert in alerts:
        producer.send(Topic.ALERTS.value, key=alert.entity.key.encode(), value=json.dumps(alert.to_document()).encode())
    producer.flush()
    producer.close()


def clear_incidents(es: Elasticsearch) -> None:
    """Earlier tests of the session leave open incidents whose timers keep coming due on the real clock. An
    engine works on every incident it finds, so a test that counts its engine's messages starts from none."""
    # The index, not its documents: the local node has no reindex module, so no _delete_by_query. The store
    # creates it again through the template.
    es.indices.delete(index=INCIDENTS_INDEX, ignore_unavailable=True)


def incidents_about(es: Elasticsearch, entity_value: str) -> list[Incident]:
    if not es.indices.exists(index=INCIDENTS_INDEX):
        return []
    es.indices.refresh(index=INCIDENTS_INDEX)
    found = es.search(index=INCIDENTS_INDEX, query={"term": {"entity.value": entity_value}}, size=50)
    return [Incident.model_validate(h["_source"]) for h in found["hits"]["hits"]]


def wait_for(what: str, check: Callable[[], object], timeout_s: float = 60.0, every_s: float = 0.2) -> object:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(every_s)


def keys_of(smtp: SmtpReceiver, webhook: WebhookReceiver) -> tuple[list[str], list[str]]:
    """The idempotency keys the receivers got, in order, duplicates kept (a duplicate is a defect)."""
    mails = [_unescape(str(m.message["Message-ID"]).strip("<>").removesuffix("@vigil")) for m in smtp.messages]
    hooks = [r.headers.get("x-vigil-delivery", "") for r in webhook.requests]
    return mails, hooks


def _unescape(text: str) -> str:
    """The inverse of playbooks.notify.smtp.message_id's `=XX` escaping."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "=":
            out += bytes.fromhex(text[i + 1 : i + 3])
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return out.decode()


def later(a: datetime | None, b: datetime | None) -> bool:
    return a is not None and b is not None and a >= b
