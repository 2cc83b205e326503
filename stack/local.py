"""Fetch, start, watch and stop a single-node Kafka (KRaft) and a single Elasticsearch node.

No Docker engine on development and CI machines, so the servers run as plain JVM processes.
Elasticsearch is the distribution Elastic publishes to Maven Central for integration tests
(`org.elasticsearch.distribution.integ-test-zip`): the real server with its OSS modules.
It refuses to run as root, so when we are root it runs as `nobody`.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

STACK_DIR = Path(__file__).resolve().parent
LIB_DIR = STACK_DIR / "lib"
KAFKA_LIB = LIB_DIR / "kafka"
ES_LIB = LIB_DIR / "es"
NOBODY = 65534


class StackError(RuntimeError):
    """The stack could not be fetched, started or reached (message says what to do)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _java_home() -> str:
    java = shutil.which("java")
    if not java:
        raise StackError("java not found on PATH: install a JDK 17+ (the stack runs Kafka and Elasticsearch)")
    return str(Path(os.path.realpath(java)).parents[1])


def _mvn(*args: str) -> None:
    if not shutil.which("mvn"):
        raise StackError("mvn not found on PATH: install Maven to fetch the stack from Maven Central")
    cmd = ["mvn", "-B", "-q", "-f", str(STACK_DIR / "pom.xml"), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def es_home() -> Path:
    homes = sorted(ES_LIB.glob("elasticsearch-*")) if ES_LIB.is_dir() else []
    if not homes:
        raise StackError("Elasticsearch is not fetched yet: run `vigil stack fetch`")
    return homes[-1]


def fetch() -> None:
    """Copy the server artifacts from Maven Central (cached in ~/.m2; a second run is a no-op)."""
    if not any(KAFKA_LIB.glob("kafka_2.13-*.jar")):
        _mvn("-Pkafka", "dependency:copy-dependencies", f"-DoutputDirectory={KAFKA_LIB}")
    if not (ES_LIB.is_dir() and any(ES_LIB.glob("elasticsearch-*/bin/elasticsearch"))):
        _mvn("-Pelasticsearch", "dependency:unpack-dependencies", f"-DoutputDirectory={ES_LIB}")


@dataclass
class StackConfig:
    data_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    es_port: int = 9200
    es_transport_port: int = 9300
    es_heap: str = "1g"
    kafka_heap: str = "512m"
    partitions: int = 3

    @classmethod
    def ephemeral(cls, data_dir: Path) -> StackConfig:
        """Free ports and a 2 GB heap: one test session piles up hundreds of daily indices with thousands of
        dynamic `winlog.event_data.*` fields, and the hunt tests query them all (1 GB ran out of heap)."""
        return cls(
            data_dir=data_dir,
            es_heap="2g",
            kafka_port=free_port(),
            kafka_controller_port=free_port(),
            es_port=free_port(),
            es_transport_port=free_port(),
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def es_url(self) -> str:
        return f"http://127.0.0.1:{self.es_port}"


@dataclass
class LocalStack:
    config: StackConfig
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    # -- paths ---------------------------------------------------------------------------
    def _dir(self, name: str) -> Path:
        path = self.config.data_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _pid_file(self, name: str) -> Path:
        return self.config.data_dir / f"{name}.pid"

    # -- lifecycle -----------------------------------------------------------------------
    def up(self, timeout: float = 180.0) -> None:
        fetch()
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        (self.config.data_dir / "endpoints.json").write_text(
            json.dumps({"kafka_bootstrap": self.config.kafka_bootstrap, "es_url": self.config.es_url})
        )
        if not self.kafka_alive():
            self._start_kafka()
        if not self.es_alive():
            self._start_es()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.kafka_alive() and self.es_alive():
                return
            for name, proc in self.processes.items():
                if proc.poll() is not None:
                    log = self.config.data_dir / f"{name}.out"
                    raise StackError(f"{name} exited with {proc.returncode}; last output:\n{_tail(log)}")
            time.sleep(0.5)
        raise StackError(f"stack not healthy after {timeout:.0f}s; see logs in {self.config.data_dir}")

    def down(self) -> None:
        for name in ("kafka", "elasticsearch"):
            self.stop(name)

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 60.0) -> None:
        """Stop one server (SIGKILL after the timeout); used by outage tests too."""
        pid_file = self._pid_file(name)
        proc = self.processes.pop(name, None)
        pid = proc.pid if proc else (int(pid_file.read_text()) if pid_file.exists() else None)
        if pid is None:
            return
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            pid_file.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid, proc):
            time.sleep(0.2)
        if _alive(pid, proc):
            os.killpg(pid, signal.SIGKILL)
            if proc:
                proc.wait(10)
        pid_file.unlink(missing_ok=True)

    def start(self, name: str) -> None:
        """Restart one stopped server and wait until it answers."""
        starter = {"kafka": self._start_kafka, "elasticsearch": self._start_es}[name]
        starter()
        alive = {"kafka": self.kafka_alive, "elasticsearch": self.es_alive}[name]
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not alive():
            time.sleep(0.5)
        if not alive():
            raise StackError(f"{name} did not come back; see {self.config.data_dir / (name + '.out')}")

    def status(self) -> dict[str, object]:
        return {
            "kafka": {"bootstrap": self.config.kafka_bootstrap, "up": self.kafka_alive()},
            "elasticsearch": {"url": self.config.es_url, "up": self.es_alive()},
            "data_dir": str(self.config.data_dir),
        }

    # -- health --------------------------------------------------------------------------
    def kafka_alive(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.config.kafka_port), timeout=1):
                pass
        except OSError:
            return False
        # The port opens before the broker has registered; ask for metadata to be sure.
        from kafka import KafkaAdminClient  # local import: the stack package imports nothing else of ours

        try:
            admin = KafkaAdminClient(bootstrap_servers=self.config.kafka_bootstrap, request_timeout_ms=3000)
        except Exception:  # noqa: BLE001 - any failure means "not ready yet"
            return False
        try:
            admin.list_topics()
            return True
        except Exception:  # noqa: BLE001
            return False
        finally:
            admin.close()

    def es_alive(self) -> bool:
        url = f"{self.config.es_url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        try:
            with urllib.request.urlopen(url, timeout=3) as response:
                return json.loads(response.read()).get("status") in {"green", "yellow"}
        except (OSError, urllib.error.URLError, ValueError):
            return False

    # -- servers -------------------------------------------------------------------------
    def _spawn(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path, as_nobody: bool) -> None:
        out = open(self.config.data_dir / f"{name}.out", "ab")  # noqa: SIM115 - owned by the child
        kwargs: dict[str, object] = {}
        if as_nobody and os.geteuid() == 0:
            kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
        proc = subprocess.Popen(  # type: ignore[call-overload]
            cmd, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, **kwargs
        )
        self.processes[name] = proc
        self._pid_file(name).write_text(str(proc.pid))

    def _start_kafka(self) -> None:
        cfg = self.config
        logs = self._dir("kafka-data")
        props = self.config.data_dir / "kafka.properties"
        props.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{cfg.kafka_controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{cfg.kafka_controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={logs}",
                    f"num.partitions={cfg.partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=10",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "auto.create.topics.enable=false",
                    "log.retention.hours=168",
                    "",
                ]
            )
        )
        log4j = self.config.data_dir / "kafka-log4j.properties"
        log4j.write_text(
            "log4j.rootLogger=WARN, stdout\n"
            "log4j.appender.stdout=org.apache.log4j.ConsoleAppender\n"
            "log4j.appender.stdout.layout=org.apache.log4j.PatternLayout\n"
            "log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
            "log4j.logger.kafka=INFO\n"
        )
        classpath = f"{KAFKA_LIB}/*"
        java = str(Path(_java_home()) / "bin" / "java")
        if not (logs / "meta.properties").exists():
            # An id may start with "-" (1 in 32): passed as "--cluster-id=<id>" it is never read as an option.
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            result = subprocess.run(
                [java, "-cp", classpath, f"-Dlog4j.configuration=file:{log4j}", "kafka.tools.StorageTool",
                 "format", f"--cluster-id={cluster_id}", "-c", str(props)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if result.returncode != 0:
                raise StackError(f"formatting Kafka storage failed: {result.stdout}{result.stderr}")
        cmd = [
            java, f"-Xms{cfg.kafka_heap}", f"-Xmx{cfg.kafka_heap}", "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{log4j}", "-cp", classpath, "kafka.Kafka", str(props),
        ]  # fmt: skip
        self._spawn("kafka", cmd, dict(os.environ), self.config.data_dir, as_nobody=False)

    def _start_es(self) -> None:
        cfg = self.config
        home = es_home()
        root = self._dir("es")
        conf = root / "config"
        if not conf.exists():
            shutil.copytree(home / "config", conf)
            # The stock options log GC to a path relative to the working directory; we keep stderr only.
            options = (home / "config" / "jvm.options").read_text().splitlines()
            kept = [line for line in options if not any(k in line for k in ("Xlog", "HeapDumpPath", "ErrorFile"))]
            (conf / "jvm.options").write_text("\n".join(kept) + "\n")
        for sub in ("data", "logs", "tmp"):
            (root / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                os.chown(path, NOBODY, NOBODY)
            # nobody must be able to reach the data dir through its parents.
            for parent in root.parents:
                if parent == Path("/"):
                    break
                parent.chmod(parent.stat().st_mode | 0o001)
        env = dict(
            os.environ,
            ES_JAVA_HOME=_java_home(),
            ES_PATH_CONF=str(conf),
            ES_TMPDIR=str(root / "tmp"),
            ES_JAVA_OPTS=f"-Xms{cfg.es_heap} -Xmx{cfg.es_heap}",
        )
        env.pop("JAVA_HOME", None)
        settings = {
            "cluster.name": "vigil-local",
            "node.name": "vigil-es-1",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": str(cfg.es_port),
            "transport.port": str(cfg.es_transport_port),
            "path.data": str(root / "data"),
            "path.logs": str(root / "logs"),
            "xpack.security.enabled": "false",
            "action.destructive_requires_name": "true",
            # Small dev disks must not flip indices read-only in the middle of a test run.
            "cluster.routing.allocation.disk.threshold_enabled": "false",
        }
        cmd = [str(home / "bin" / "elasticsearch")]
        for key, value in settings.items():
            cmd += ["-E", f"{key}={value}"]
        self._spawn("elasticsearch", cmd, env, root, as_nobody=True)


def _alive(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    if proc is not None:
        return proc.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _tail(path: Path, limit: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:]
    except OSError:
        return "(no output)"
