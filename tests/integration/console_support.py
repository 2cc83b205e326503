"""The web console on the real stack: seeded logs, alerts, users and tokens, and the app served by
uvicorn on a free port (the browser tests and `python -m tests.integration.console_support` for a
look by hand share it)."""

from __future__ import annotations

import socket
import threading
import time as clock
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import uvicorn
import yaml
from elasticsearch import Elasticsearch

from api.app import create_app
from api.ingest_batch import Origin, split_batch
from api.models.ingest import TextBatch
from api.permissions import Role
from api.tokens import TokenStore
from api.users import UserStore
from core.clients import es_client
from core.index_templates import install_templates
from core.ledger_store import LedgerWriter
from core.models.alert import Alert, AlertDraft, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from core.models.envelope import RawEnvelope
from core.names import ALERTS_INDEX, Topic
from core.settings import Settings
from detectors.alert_store import write_alerts
from ingest.indexer import bulk_actions, bulk_create, ledger_docs
from ingest.normaliser import normalise
from reports.calendar import ReportSettings, load_calendar, previous_working_day
from tests.datasets import dataset
from tests.integration.playbooks_support import ROSTER

RULES = ("sigma", "rules", "windows", "builtin", "security", "account_management")  # 16 files: quick to load
RDP_RULE = "0f63e1ef-1eb9-4226-9d54-8927ca08520a"  # Admin User Remote Logon, in RULES
PASSWORD = "correct-horse-battery"


@dataclass(frozen=True)
class Console:
    url: str
    settings: Settings
    tokens: dict[Role, str]
    users: dict[Role, str]  # role → user name (password: PASSWORD)
    alerts: list[Alert]
    event_ids: list[str]


def console_settings(es_url: str, kafka: str, data_dir: Path) -> Settings:
    """The duty roster of the playbook tests; notifications printed (console channels), not sent."""
    (data_dir / "roster.yml").write_text(yaml.safe_dump(ROSTER, allow_unicode=True), encoding="utf-8")
    notify = {"channels": {"email": {"type": "console"}, "webhook": {"type": "console"}}}
    (data_dir / "notify.yml").write_text(yaml.safe_dump(notify), encoding="utf-8")
    return Settings(kafka_bootstrap=kafka, es_url=es_url, data_dir=data_dir, sigma_rule_dirs=[dataset(*RULES)],
                    roster_file=data_dir / "roster.yml", notify_file=data_dir / "notify.yml")  # fmt: skip


def real_lines(family: tuple[str, ...], count: int) -> bytes:
    return b"\n".join(dataset(*family).read_bytes().split(b"\n")[:count])


def patrol_day_lines(day: date, zone: ZoneInfo) -> bytes:
    """RFC 5424 sshd lines over the working hours of `day`, so its patrol record has logs to chart."""
    start = datetime.combine(day, time(8), zone)
    lines = [f"<86>1 {(start + timedelta(minutes=13 * i)).isoformat()} web0{i % 3} sshd {4000 + i} - - "
             f"Failed password for {'root' if i % 2 else 'admin'} from 10.0.0.{i % 7} port {40000 + i} ssh2"
             for i in range(48)]  # fmt: skip
    return "\n".join(lines).encode()


def index_lines(es: Elasticsearch, settings: Settings, body: bytes, source: str, fmt: str | None = None) -> list[str]:
    """Log lines through the normaliser and the indexer's bulk path into `logs-*`, recorded in the
    integrity ledger as the indexer records them (one chain); their ids."""
    batch = split_batch(body, text=TextBatch(source=source, format=fmt),
                        origin=Origin("console-test", datetime.now(UTC), None, 65536))  # fmt: skip
    events = [normalise(line.item, settings.zone) for line in batch.lines if isinstance(line.item, RawEnvelope)]
    parsed = [e for e in events if isinstance(e, EcsEvent)]
    docs = [bulk_actions(Topic.EVENTS.value, e.model_dump_json(by_alias=True, exclude_none=True).encode())
            for e in parsed]  # fmt: skip
    result = bulk_create(es, docs)
    assert result.rejected == []
    LedgerWriter(es, "console-test").record(ledger_docs(es, docs, ["p0"] * len(docs), result))
    es.indices.refresh(index="logs-*")
    return [doc_id for _, doc_id, _ in docs]


def seed_alerts(es: Elasticsearch, settings: Settings, events: list[str], now: datetime, day: date) -> list[Alert]:
    """Twelve alerts of every severity pointing at seeded events: four on `day`, eight in the last hours."""
    titles = ["Admin User Remote Logon", "SSH brute force", "Mass copy to removable media", "Off-hours access"]
    kinds = [DetectorKind.SIGMA, DetectorKind.POLICY, DetectorKind.POLICY, DetectorKind.POLICY]
    alerts = []
    for i in range(12):
        first = datetime.combine(day, time(9 + 2 * i), settings.zone) if i < 4 else now - timedelta(hours=12 - i)
        rule = RDP_RULE if i % 4 == 0 else f"vigil-policy-console-{i % 4}"
        ids = events[i * 3 : i * 3 + 3]
        entity = EntityRef.parse(f"user:{['alice', 'bob', 'carol'][i % 3]}")
        draft = AlertDraft(
            rule=RuleRef(id=rule, title=titles[i % 4], kind=kinds[i % 4], version=None),
            severity=list(Severity)[i % 5],
            tags=["attack.t1078", "attack.initial-access"] if i % 4 == 0 else ["attack.t1052"],
            entity=entity,
            dedup_key=f"{rule}|{entity.key}|{i}",
            event_ids=ids,
            event_count=len(ids) or 1,
            first_seen=first,
            last_seen=first + timedelta(minutes=2),
            summary=Summary(en=f"{titles[i % 4]} by {entity.value}", zh=f"{entity.value} 触发：{titles[i % 4]}"),
            playbook="unauthorized-access" if i % 2 else None,
        )
        alerts.append(Alert.of(draft, origin=AlertOrigin.STREAM, raised_at=first + timedelta(minutes=3)))
    write_alerts(es, {a.id: a for a in alerts}, settings.alert_max_event_ids)
    es.indices.refresh(index=ALERTS_INDEX)
    return alerts


def patrol_day(settings: Settings, now: datetime) -> date:
    """The day the patrol page opens by default: the previous working day in the configured zone."""
    today = now.astimezone(settings.zone).date()
    return previous_working_day(load_calendar(ReportSettings().calendar_file), today)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app under uvicorn in a thread, on a free 127.0.0.1 port; stopped on exit."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="console-uvicorn", daemon=True)
    thread.start()
    deadline = clock.monotonic() + 30
    while not server.started:
        if clock.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        clock.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def console(settings: Settings) -> Iterator[Console]:
    es = es_client(settings)
    install_templates(es, settings)
    now = datetime.now(UTC).replace(microsecond=0)
    day = patrol_day(settings, now)
    events = index_lines(es, settings, patrol_day_lines(day, settings.zone), "console-web", "syslog")
    events += index_lines(
        es, settings, real_lines(("loghub", "OpenSSH", "OpenSSH_2k.log"), 400), "console-ssh", "syslog"
    )
    events += index_lines(es, settings, real_lines(("loghub", "Proxifier", "Proxifier_2k.log"), 200), "console-proxy",
                          "proxifier")  # fmt: skip
    alerts = seed_alerts(es, settings, events, now, day)
    tokens = TokenStore(settings.tokens_path())
    users = UserStore(settings.users_path())
    issued = {role: tokens.create(f"console-{role.value}", role)[1] for role in Role}
    names = {role: f"{role.value}1" for role in Role}
    for role, name in names.items():
        users.create(name, role, PASSWORD)
    try:
        with serve(settings) as url:
            yield Console(url=url, settings=settings, tokens=issued, users=names, alerts=alerts, event_ids=events)
    finally:
        es.close()


if __name__ == "__main__":  # a console to look at by hand: python3 -m tests.integration.console_support
    import signal
    import sys
    import tempfile

    from stack.local import LocalStack, StackConfig

    local = LocalStack(StackConfig.ephemeral(Path(tempfile.mkdtemp(prefix="vigil-console-"))))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stop the stack on `kill PID` too
    local.up()
    try:
        base = console_settings(local.config.es_url, local.config.kafka_bootstrap, Path(tempfile.mkdtemp()))
        with console(base) as running:
            print(running.url, running.tokens[Role.ADMIN], base.es_url, base.kafka_bootstrap, base.data_dir, flush=True)  # noqa: T201
            threading.Event().wait()
    finally:
        local.down()
