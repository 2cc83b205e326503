"""Syslog receiver on UDP and TCP: every message becomes a `RawEnvelope` on `vigil.raw`, unparsed.

Messages (RFC 3164 or 5424) pass on raw; the normaliser's `syslog` parser (or the source's configured
format) reads them later, so a message the parser rejects still reaches the dead-letter index. TCP
framing (octet counting or LF) is detected per frame (`framing.FrameDecoder`); a UDP datagram is one
message. Network input cannot be replayed, so the position is the sender, the receive time (ns) and a
sequence number: two identical messages in the same nanosecond still get two ids.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from core.models.envelope import RawEnvelope
from core.settings import Settings
from ingest.collectors.framing import FrameDecoder
from ingest.collectors.lines import decode_line, is_blank
from ingest.collectors.sink import Sink
from ingest.collectors.sources import SourcesConfig

log = logging.getLogger(__name__)

Transport = Literal["syslog-udp", "syslog-tcp"]
Address = tuple[str, int] | tuple[str, int, int, int]  # (host, port) or IPv6 (host, port, flow, scope)

READ_BYTES = 256 * 1024
# Ask for a large receive buffer: UDP has no flow control, so a burst the loop has not read yet is
# dropped by the kernel once this is full (Linux caps the request at net.core.rmem_max).
UDP_RECEIVE_BUFFER = 8 * 1024 * 1024


@dataclass
class SyslogCounts:
    received: int = 0  # messages turned into envelopes
    udp: int = 0
    tcp: int = 0
    blank: int = 0  # empty messages, skipped
    cut: int = 0  # longer than max_line_bytes: kept cut, the normaliser explains them
    connections: int = 0
    refused: int = 0  # messages the sink would not even queue (logged); delivery failures: KafkaSink.counts


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: SyslogServer) -> None:
        self.server = server

    def datagram_received(self, data: bytes, addr: Address) -> None:
        body = data[:-1] if data.endswith(b"\n") else data  # some senders end datagrams with LF / CR LF
        body = body[:-1] if body.endswith(b"\r") else body
        self.server.accept(body, len(body), addr, "syslog-udp")

    def error_received(self, exc: Exception) -> None:
        log.warning("syslog UDP socket error: %s", exc)


class SyslogServer:
    """Listens on `settings.syslog_host` (UDP and TCP ports; 0 picks free ones, see `ports`)."""

    def __init__(self, settings: Settings, sources: SourcesConfig, sink: Sink) -> None:
        self.settings = settings
        self.sources = sources
        self.sink = sink
        self.counts = SyslogCounts()
        self.ready = threading.Event()
        self.ports: tuple[int, int] = (0, 0)  # (udp, tcp) once ready
        self.last_activity = time.monotonic()
        self._sequence = itertools.count()
        self._writers: set[asyncio.StreamWriter] = set()

    def run(self, stop: threading.Event, flush_interval_s: float = 0.5) -> None:
        """Serve until `stop` is set; flushes the sink every `flush_interval_s` and once more at the end."""
        asyncio.run(self._serve(stop, flush_interval_s))

    def accept(self, body: bytes, size: int, addr: Address, transport: Transport) -> None:
        """One received message → one envelope (blank ones are skipped and counted)."""
        received_ns = time.time_ns()
        self.last_activity = time.monotonic()
        if is_blank(body):
            self.counts.blank += 1
            return
        host, port = addr[0], addr[1]
        peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        source = self.sources.for_peer(host)
        envelope = RawEnvelope.build(
            source=source.source,
            transport=transport,
            raw=decode_line(body, self.settings.max_line_bytes),
            position=f"{peer}:{received_ns}:{next(self._sequence)}",
            format=source.format,
            received_at=datetime.fromtimestamp(received_ns / 1e9, UTC),
            timezone=source.timezone,
            peer=peer,
            category=source.category,
        )
        try:
            self.sink.send(envelope)
        except Exception:  # noqa: BLE001 - one refused record must not stop the listener
            log.exception("syslog message from %s could not be queued for vigil.raw", peer)
            self.counts.refused += 1
            return
        self.counts.received += 1
        self.counts.cut += size > self.settings.max_line_bytes
        if transport == "syslog-udp":
            self.counts.udp += 1
        else:
            self.counts.tcp += 1

    async def _serve(self, stop: threading.Event, flush_interval_s: float) -> None:
        loop = asyncio.get_running_loop()
        host = self.settings.syslog_host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        udp_socket = socket.socket(family, socket.SOCK_DGRAM)
        udp_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        udp_socket.bind((host, self.settings.syslog_udp_port))
        udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=udp_socket)
        tcp = await asyncio.start_server(self._connection, host, self.settings.syslog_tcp_port, family=family)
        self.ports = (udp_socket.getsockname()[1], tcp.sockets[0].getsockname()[1])
        log.info("syslog listening on %s udp/%d tcp/%d", host, *self.ports)
        self.ready.set()
        try:
            while not stop.is_set():
                await asyncio.sleep(flush_interval_s)
                await self._flush(loop)
        finally:
            udp.close()
            tcp.close()
            for writer in list(self._writers):  # (Server.wait_closed waits for open connections)
                writer.close()
            await tcp.wait_closed()
            await self._flush(loop)

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        # In a worker thread: the loop keeps reading sockets while Kafka acknowledges. Records that
        # failed are counted and logged by the sink: a syslog sender cannot be asked to send again.
        await loop.run_in_executor(None, self.sink.flush)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        addr = writer.get_extra_info("peername") or ("0.0.0.0", 0)  # None if the peer already left
        decoder = FrameDecoder(self.settings.max_line_bytes)
        self.counts.connections += 1
        self._writers.add(writer)
        try:
            while data := await reader.read(READ_BYTES):
                for frame in decoder.feed(data):
                    self.accept(frame.data, frame.size, addr, "syslog-tcp")
            for frame in decoder.close():
                self.accept(frame.data, frame.size, addr, "syslog-tcp")
        except ConnectionError as exc:
            log.info("syslog TCP connection from %s ended: %s", addr, exc)
        finally:
            self._writers.discard(writer)
            writer.close()
