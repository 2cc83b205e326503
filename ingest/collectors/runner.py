"""`Collectors`: the syslog server and the file tailer from settings and the sources file, together.

Each runs in its own thread over one shared Kafka producer (each with its own `KafkaSink`, so the
tailer's checkpoints depend on its own deliveries only). A collector that fails stops the others
and the error is raised from `run`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import partial

from core import clients
from core.errors import CollectorError
from core.settings import Settings
from ingest.collectors.sink import KafkaSink
from ingest.collectors.sources import SourcesConfig, load_sources
from ingest.collectors.syslog_server import SyslogServer
from ingest.collectors.tailer import Tailer

log = logging.getLogger(__name__)


class Collectors:
    def __init__(
        self, settings: Settings, sources: SourcesConfig | None = None, *, syslog: bool = True, files: bool = True
    ) -> None:
        self.settings = settings
        self.sources = sources if sources is not None else load_sources(settings.sources_file)
        self.want_syslog, self.want_files = syslog, files
        self.stop_event = threading.Event()
        self.ready = threading.Event()  # set once the syslog ports are bound (or at start without syslog)
        self.syslog: SyslogServer | None = None
        self.tailer: Tailer | None = None
        self._sinks: list[KafkaSink] = []
        self._failure: BaseException | None = None

    def run(self, idle_exit_s: float | None = None) -> dict[str, int]:
        """Collect until `stop_event` is set (or nothing arrived for `idle_exit_s`); returns the counts."""
        clients.ensure_topics(self.settings)
        producer = clients.producer(self.settings)
        threads: list[threading.Thread] = []
        try:
            if self.want_syslog:
                self.syslog = SyslogServer(self.settings, self.sources, self._sink(producer))
                flush_s = self.settings.collect_flush_interval_s
                threads.append(self._thread("syslog", partial(self.syslog.run, self.stop_event, flush_s)))
            if self.want_files and self.sources.files:
                self.tailer = Tailer(self.settings, self.sources.files, self._sink(producer),
                                     rotate_grace_s=self.settings.tail_rotate_grace_s)  # fmt: skip
                poll_s = self.settings.tail_poll_interval_s
                threads.append(self._thread("tailer", partial(self.tailer.run, self.stop_event, poll_s)))
            for thread in threads:
                thread.start()
            self._wait_ready()
            while not self.stop_event.wait(0.2):
                if idle_exit_s is not None and time.monotonic() - self._last_activity() >= idle_exit_s:
                    break
        finally:
            self.stop_event.set()
            for thread in threads:
                thread.join()
            producer.close()
        if self._failure is not None:
            raise CollectorError(f"a collector stopped: {self._failure}") from self._failure
        return self.counts()

    def counts(self) -> dict[str, int]:
        result = {"sent": sum(s.counts.sent for s in self._sinks), "errors": sum(s.counts.errors for s in self._sinks)}
        if self.syslog is not None:
            result.update({f"syslog_{key}": value for key, value in asdict(self.syslog.counts).items()})
        if self.tailer is not None:
            result.update({f"tail_{key}": value for key, value in asdict(self.tailer.counts).items()})
        return result

    def _sink(self, producer: object) -> KafkaSink:
        sink = KafkaSink(producer)
        self._sinks.append(sink)
        return sink

    def _thread(self, name: str, target: Callable[[], None]) -> threading.Thread:
        def guarded() -> None:
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - surfaced by run(), after the others stopped
                log.exception("collector %s failed", name)
                self._failure = exc
                self.stop_event.set()

        return threading.Thread(target=guarded, name=f"collector-{name}", daemon=True)

    def _wait_ready(self) -> None:
        while self.syslog is not None and not self.syslog.ready.wait(0.1):
            if self.stop_event.is_set():
                return
        self.ready.set()

    def _last_activity(self) -> float:
        parts = [c.last_activity for c in (self.syslog, self.tailer) if c is not None]
        return max(parts, default=0.0)
