"""The syslog server over real loopback sockets, into a fake sink (Kafka is the integration tests' job)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from ingest.collectors.sources import SourcesConfig
from ingest.collectors.syslog_server import SyslogServer
from tests.unit.test_collectors_tailer import ListSink

LINE = b"<38>Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 173.234.31.186 port 38926 ssh2"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[SyslogServer, ListSink]]:
    settings = Settings(data_dir=tmp_path, syslog_udp_port=0, syslog_tcp_port=0, max_line_bytes=1024)
    sources = SourcesConfig.model_validate({"syslog": [{"peer": "127.0.0.0/8", "source": "loop", "timezone": "UTC"}]})
    sink = ListSink()
    server = SyslogServer(settings, sources, sink)
    stop = threading.Event()
    thread = threading.Thread(target=server.run, args=(stop, 0.05))
    thread.start()
    assert server.ready.wait(10)
    yield server, sink
    stop.set()
    thread.join(10)


def wait_for(sink: ListSink, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(sink.sent) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.1)  # and nothing more arrives


def test_udp_and_tcp_messages_become_envelopes_with_peer_and_unique_ids(server: tuple[SyslogServer, ListSink]) -> None:
    srv, sink = server
    udp_port, tcp_port = srv.ports
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(LINE, ("127.0.0.1", udp_port))
        udp.sendto(LINE + b"\n", ("127.0.0.1", udp_port))  # trailing LF is not part of the message
        udp.sendto(b"  ", ("127.0.0.1", udp_port))  # blank: skipped, counted
    with socket.create_connection(("127.0.0.1", tcp_port)) as tcp:
        tcp.sendall(
            b"%d %s" % (len(LINE), LINE) + LINE + b"\n" + b"\xff\xfe not utf-8\n" + b"<13>" + b"Q" * 3000 + b"\n"
        )
    wait_for(sink, 6)
    assert [e.transport for e in sink.sent].count("syslog-udp") == 2
    assert [e.raw for e in sink.sent if e.transport == "syslog-tcp"] == [
        LINE.decode(),
        LINE.decode(),
        "\\udcff\\udcfe not utf-8",
        "<13>" + "Q" * 1020,
    ]
    assert {e.source for e in sink.sent} == {"loop"} and {e.timezone for e in sink.sent} == {"UTC"}
    assert {e.format for e in sink.sent} == {"syslog"}
    assert all(e.peer and e.peer.startswith("127.0.0.1:") for e in sink.sent)
    assert len({e.id for e in sink.sent}) == 6  # identical messages still get their own ids
    assert (srv.counts.received, srv.counts.blank, srv.counts.cut, srv.counts.connections) == (6, 1, 1, 1)
    assert sink.flushes > 0


def test_a_connection_closed_mid_line_still_delivers_the_last_message(server: tuple[SyslogServer, ListSink]) -> None:
    srv, sink = server
    with socket.create_connection(("127.0.0.1", srv.ports[1])) as tcp:
        tcp.sendall(LINE + b"\n" + LINE)
    wait_for(sink, 2)
    assert [e.raw for e in sink.sent] == [LINE.decode()] * 2
