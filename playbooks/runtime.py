"""Build the engine and its parts from settings: the one place that reads the configuration files."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from core import clients
from core.errors import ConfigError
from core.models.alert import Alert
from core.names import Topic
from core.settings import Settings
from playbooks.actions import ActionsConfig, Executor
from playbooks.delivery import AlertSink, Dispatcher
from playbooks.engine import Engine
from playbooks.loader import Catalog, load_dir
from playbooks.notify import NotifyConfig
from playbooks.roster_file import RosterFile
from playbooks.store import IncidentStore


def system_clock() -> datetime:
    return datetime.now(UTC)


def catalog(settings: Settings) -> Catalog:
    return load_dir(settings.playbooks_dir)


def roster(settings: Settings) -> RosterFile:
    """The roster file, re-read when it changes; a roster without its own calendar uses the organisation's."""
    from reports.calendar import ReportSettings, load_calendar

    calendar_file = ReportSettings().calendar_file
    return RosterFile(settings.roster_file, load_calendar(calendar_file) if calendar_file else None)


def notify_config(settings: Settings) -> NotifyConfig:
    return NotifyConfig.load(settings.notify_file) if settings.notify_file else NotifyConfig()


def kafka_alert_sink(settings: Settings) -> AlertSink:
    """Overdue alerts on `vigil.alerts`, keyed by entity like every alert; sent and flushed one by one (rare)."""
    producer = clients.producer(settings)

    def send(alert: Alert) -> None:
        value = json.dumps(alert.to_document()).encode()
        producer.send(Topic.ALERTS.value, key=alert.entity.key.encode(), value=value).get(timeout=30)

    return send


def build_engine(settings: Settings, *, clock: Callable[[], datetime] = system_clock,
                 es: Elasticsearch | None = None, alert_sink: AlertSink | None = None) -> Engine:  # fmt: skip
    loaded = catalog(settings)
    if not loaded.playbooks:
        raise ConfigError("no playbook loaded: " + "; ".join(str(p) for p in loaded.problems))
    es = es or clients.es_client(settings)
    store = IncidentStore(es, settings)
    duty = roster(settings)
    dispatcher = Dispatcher(notify_config(settings), duty, alert_sink, settings.console_url)
    executor = Executor(es, settings, store, ActionsConfig.load(settings.playbook_actions_file))
    return Engine(settings, catalog=loaded, roster=duty, clock=clock, store=store, executor=executor,
                  dispatcher=dispatcher)  # fmt: skip
