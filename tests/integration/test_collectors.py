"""The syslog server and the file tailer against the real Kafka (and, end to end, Elasticsearch).

Counts are exact. UDP has no flow control: a burst larger than the socket buffer is dropped by the
kernel even on loopback, and this 2-core machine is shared, so the UDP sender is paced closed-loop (it
waits until the server has read what it sent) rather than hoping a fixed sleep is enough.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from kafka import KafkaConsumer, TopicPartition

from core.models.envelope import RawEnvelope
from core.names import Topic
from core.settings import Settings
from ingest.collectors.runner import Collectors
from ingest.collectors.sources import SourcesConfig
from stack.local import free_port
from tests.datasets import lines
from tests.integration.events_support import start_pipeline_at_end
from tests.integration.test_pipeline_e2e import landed, run_workers
from tests.integration.test_pipeline_faults import garbage_lines

pytestmark = pytest.mark.integration

UDP_WINDOW = 50  # datagrams in flight at most: far below any socket buffer


def syslog_sources(source: str) -> SourcesConfig:
    return SourcesConfig.model_validate({"syslog": [{"peer": "127.0.0.1", "source": source}]})


@contextmanager
def running(settings: Settings, sources: SourcesConfig, **kwargs: bool) -> Iterator[Collectors]:
    collectors = Collectors(settings.model_copy(update={"syslog_udp_port": 0, "syslog_tcp_port": 0}), sources,
                            **kwargs)  # fmt: skip
    failure: list[BaseException] = []

    def run() -> None:
        try:
            collectors.run()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread below
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert collectors.ready.wait(60), "collectors did not start"
    try:
        yield collectors
    finally:
        collectors.stop_event.set()
        thread.join(60)
    assert not failure, failure


def wait_until(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def raw_of(settings: Settings, source: str) -> list[RawEnvelope]:
    """Every envelope of `source` on `vigil.raw`, read to the end (the collectors have stopped and flushed)."""
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(Topic.RAW.value, p) for p in consumer.partitions_for_topic(Topic.RAW.value) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        found: list[RawEnvelope] = []
        while any(consumer.position(p) < ends[p] for p in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if record.value and b'"source":"' + source.encode() + b'"' in record.value:
                        envelope = RawEnvelope.model_validate_json(record.value)
                        found += [envelope] if envelope.source == source else []
        return found
    finally:
        consumer.close()


def send_udp(collectors: Collectors, messages: list[bytes]) -> None:
    assert collectors.syslog is not None
    server, port = collectors.syslog, collectors.syslog.ports[0]
    start = server.counts.udp + server.counts.blank
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for i, message in enumerate(messages, start=1):
            sock.sendto(message, ("127.0.0.1", port))
            if i % UDP_WINDOW == 0 or i == len(messages):
                wait_until(lambda i=i: server.counts.udp + server.counts.blank - start >= i, 30, "UDP reads")


def send_tcp(port: int, stream: bytes, rng: random.Random) -> None:
    """One connection; the stream goes out in random-sized writes so frames split across reads."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pos = 0
        while pos < len(stream):
            size = rng.choice((1, 7, 100, 1500, 64 * 1024))
            sock.sendall(stream[pos : pos + size])
            pos += size


def octet(message: bytes) -> bytes:
    return b"%d %s" % (len(message), message)


def test_syslog_udp_and_tcp_land_once_on_kafka_and_in_elasticsearch(settings: Settings) -> None:
    start_pipeline_at_end(settings)
    source = "it-syslog-wire"
    real = [line.encode("utf-8", "surrogateescape") for line in lines("loghub", "OpenSSH", "OpenSSH_2k.log")]
    real += [line.encode("utf-8", "surrogateescape") for line in lines("loghub", "Linux", "Linux_2k.log")]
    with_pri = [b"<38>" + line for line in real]  # authpriv.info, as a relay would send them
    udp, octets, newline, mixed = with_pri[:1000], with_pri[1000:2000], real[2000:3000], with_pri[3000:]
    rng = random.Random(5)
    with running(settings, syslog_sources(source), files=False) as collectors:
        assert collectors.syslog is not None
        tcp_port = collectors.syslog.ports[1]
        send_udp(collectors, udp)
        send_tcp(tcp_port, b"".join(octet(m) for m in octets), rng)
        send_tcp(tcp_port, b"".join(m + b"\n" for m in newline), rng)  # RFC 3164 lines as written, no PRI
        send_tcp(tcp_port, b"".join(octet(m) if i % 2 else m + b"\r\n" for i, m in enumerate(mixed)), rng)
        wait_until(lambda: collectors.syslog is not None and collectors.syslog.counts.received >= 4000, 60, "all")
    counts = collectors.counts()
    assert (counts["syslog_udp"], counts["syslog_tcp"], counts["syslog_connections"]) == (1000, 3000, 3)
    assert (counts["sent"], counts["errors"]) == (4000, 0)

    envelopes = raw_of(settings, source)
    assert Counter(e.raw.encode() for e in envelopes) == Counter(udp + octets + newline + mixed)
    assert len({e.id for e in envelopes}) == 4000  # exactly once, every message its own id
    assert Counter(e.transport for e in envelopes) == {"syslog-udp": 1000, "syslog-tcp": 3000}
    assert {e.format for e in envelopes} == {"syslog"} and all(e.peer for e in envelopes)

    run_workers(settings)
    events, letters = landed(Elasticsearch(settings.es_url), [source])
    assert (events, letters) == (4000, 0)


def test_garbage_over_syslog_is_dead_lettered_and_good_lines_indexed(settings: Settings) -> None:
    start_pipeline_at_end(settings)
    source = "it-syslog-garbage"
    good = [b"<38>" + line.encode("utf-8", "surrogateescape") for line in lines("loghub", "OpenSSH", "OpenSSH_2k.log")]
    bad = garbage_lines(10_000, seed=11)
    # Garbage goes newline-framed, so none of it may look like an octet-counting header (`<digits> <`).
    assert not any(re.match(rb"[1-9]\d{0,9} <", line) for line in bad)
    blank = sum(1 for line in bad if not line.strip())
    oversized = sum(1 for line in bad if len(line) > settings.max_line_bytes)
    rng = random.Random(3)
    udp: list[bytes] = []
    tcp: list[bytes] = []  # already framed: garbage by LF, real lines octet-counted, on one connection
    for i, line in enumerate(bad):
        if i % 2 and len(line) < 60_000:  # a datagram cannot carry the oversized ones (max 65,507 bytes)
            udp.append(line + b"\n" if i % 3 == 0 else line)
        else:
            tcp.append(line + b"\n")
        if i % 5 == 0:
            real = good[i // 5]
            (udp if i % 10 else tcp).append(real if i % 10 else octet(real))
    stream = b"".join(tcp)
    with running(settings, syslog_sources(source), files=False) as collectors:
        assert collectors.syslog is not None
        tcp_port = collectors.syslog.ports[1]
        sender = threading.Thread(target=send_tcp, args=(tcp_port, stream, rng))
        sender.start()  # UDP and TCP at the same time
        send_udp(collectors, udp)
        sender.join()
        expected = len(bad) + len(good) - blank
        wait_until(lambda: collectors.syslog is not None and collectors.syslog.counts.received >= expected, 120)
    counts = collectors.counts()
    assert counts["syslog_received"] == expected and counts["syslog_blank"] == blank
    assert counts["syslog_cut"] == oversized > 0
    assert (counts["sent"], counts["errors"]) == (expected, 0)

    run_workers(settings)
    es = Elasticsearch(settings.es_url)
    events, letters = landed(es, [source])
    assert events == 2000  # every real line, none lost among the garbage
    assert letters == len(bad) - blank  # every garbage message, with its reason
    no_reason = es.count(index="vigil-deadletter-*", query={"bool": {
        "filter": [{"term": {"source": source}}], "must_not": [{"exists": {"field": "reason"}}]}})["count"]  # fmt: skip
    assert no_reason == 0


def test_tailer_follows_rotation_and_truncation_across_a_restart(settings: Settings, tmp_path: Path) -> None:
    source = "it-tail"
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    log = log_dir / "app.log"
    corpus = [line.encode("utf-8", "surrogateescape") for line in lines("loghub", "Linux", "Linux_2k.log")]
    sources = SourcesConfig.model_validate({"files": [{"path": str(log), "source": source, "format": "syslog"}]})
    written = 0

    def write(count: int, path: Path = log) -> None:
        nonlocal written
        with path.open("ab") as handle:
            for line in corpus[written : written + count]:
                handle.write(line + b"\n")
                handle.flush()
        written += count

    def caught_up(collectors: Collectors, lines_before: int = 0) -> None:
        wait_until(lambda: collectors.tailer is not None and collectors.tailer.counts.lines + lines_before >= written,
                   60, "tailer")  # fmt: skip

    write(300)
    with running(settings, sources, syslog=False) as collectors:
        caught_up(collectors)
        with log.open("ab") as handle:  # a line written in two steps waits for its LF
            handle.write(corpus[written][:20])
            handle.flush()
            time.sleep(0.6)
            handle.write(corpus[written][20:] + b"\n")
        written += 1
        write(299)
        log.rename(log_dir / "app.log.1")  # rotation by rename ...
        write(50, log_dir / "app.log.1")  # ... the daemon still writes to the old file before it reopens
        log.touch()
        write(250)
        caught_up(collectors)
        shutil.copyfile(log, log_dir / "app.log.2")  # copytruncate, once the tailer has caught up
        with log.open("r+b") as handle:
            handle.truncate(0)
        write(100)  # fewer bytes than before the truncation, or it could not be told from growth
        caught_up(collectors)
        assert collectors.tailer is not None
        before = collectors.tailer.counts.lines
        assert (collectors.tailer.counts.rotations, collectors.tailer.counts.truncations) == (1, 1)
    # Stopped: more lines, and a rotation the tailer does not see happen.
    write(100)
    log.rename(log_dir / "app.log.3")
    write(100)
    write(800)
    with running(settings, sources, syslog=False) as collectors:
        caught_up(collectors, before)
        assert collectors.tailer is not None and collectors.tailer.counts.lines == written - before
        assert collectors.tailer.counts.rotations == 1  # the one that happened while it was stopped
    assert written == 2000

    envelopes = raw_of(settings, source)
    assert Counter(e.raw.encode() for e in envelopes) == Counter(corpus)  # every line, once: no gap, no re-read
    assert len(envelopes) == 2000 and len({e.id for e in envelopes}) == 2000


def test_vigil_collect_cli_runs_both_collectors_until_idle(settings: Settings, tmp_path: Path) -> None:
    """`python -m core.cli collect --idle-exit`: configured from VIGIL_* and the sources file alone."""
    log = tmp_path / "cli.log"
    corpus = [line.encode("utf-8", "surrogateescape") for line in lines("loghub", "OpenSSH", "OpenSSH_2k.log")]
    log.write_bytes(b"".join(line + b"\n" for line in corpus[:300]))
    sources = tmp_path / "sources.yml"
    sources.write_text(f"syslog:\n  - peer: 127.0.0.1\n    source: it-cli-syslog\nfiles:\n"
                       f"  - path: {log}\n    source: it-cli-file\n    format: syslog\n")  # fmt: skip
    udp_port, tcp_port = free_port(), free_port()
    env = {**os.environ, "VIGIL_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "VIGIL_DATA_DIR": str(tmp_path / "var"),
           "VIGIL_SOURCES_FILE": str(sources), "VIGIL_SYSLOG_UDP_PORT": str(udp_port),
           "VIGIL_SYSLOG_TCP_PORT": str(tcp_port)}  # fmt: skip
    root = Path(__file__).resolve().parents[2]  # this checkout's code, not an installed copy
    cli = subprocess.Popen([sys.executable, "-m", "core.cli", "collect", "--idle-exit", "6"], cwd=root, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # until the server listens
            try:
                sock = socket.create_connection(("127.0.0.1", tcp_port), timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline and cli.poll() is None, cli.stderr.read() if cli.stderr else ""
                time.sleep(0.2)
        with sock:
            sock.sendall(b"".join(octet(b"<38>" + line) for line in corpus[300:500]))
        out, err = cli.communicate(timeout=120)
    finally:
        if cli.poll() is None:
            cli.kill()
    assert cli.returncode == 0, err.decode()[-3000:]
    counts = json.loads(out)
    assert (counts["syslog_tcp"], counts["tail_lines"], counts["sent"], counts["errors"]) == (200, 300, 500, 0)
    assert len(raw_of(settings, "it-cli-syslog")) == 200 and len(raw_of(settings, "it-cli-file")) == 300
