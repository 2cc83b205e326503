"""docker-compose.yml and the Dockerfile agree with the code they deploy.

Pure and fast: no Docker, no servers. The local stack's Kafka properties and Elasticsearch settings
are captured from stack/local.py itself (its spawn and java lookups replaced), so production and
the development stack cannot drift apart unnoticed.
"""

from __future__ import annotations

import os
import re
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from core.settings import Settings
from stack import local

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}

Service = dict[str, Any]
Services = dict[str, Service]
Named = tuple[str, Service]  # (service name, service)

# Environment variables the apache/kafka image reads itself instead of turning into server properties.
KAFKA_IMAGE_ENV = {
    "CLUSTER_ID", "KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME", "KAFKA_JMX_PORT",
}  # fmt: skip
# Kafka properties that name hosts, ports or paths: compared by structure, not by value.
KAFKA_ADDRESS_PROPS = {
    "listeners", "advertised.listeners", "controller.quorum.voters", "listener.security.protocol.map",
    "log.dirs",
}  # fmt: skip
# Elasticsearch settings of the local stack that production sets differently on purpose.
ES_LOCAL_ONLY = {
    "cluster.name", "node.name", "network.host", "http.port", "transport.port", "path.data", "path.logs",
    # Small dev disks must not flip indices read-only; production keeps the disk watermarks.
    "cluster.routing.allocation.disk.threshold_enabled",
}  # fmt: skip


# -- parsing helpers --------------------------------------------------------------------------------
def env_of(service: Service) -> dict[str, str]:
    """A service's environment as a str -> str mapping (compose allows a list or a mapping)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def kafka_properties(env: dict[str, str]) -> dict[str, str]:
    """The server properties the apache/kafka image writes from KAFKA_* variables.

    Its rule: drop the prefix, lowercase; `___` is `-`, `__` is `_`, `_` is `.`.
    """
    props = {}
    for key, value in env.items():
        if not key.startswith("KAFKA_") or key in KAFKA_IMAGE_ENV:
            continue
        name = key.removeprefix("KAFKA_").lower()
        name = name.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")
        props[name] = value
    return props


def listener_ports(value: str) -> dict[str, int]:
    """`NAME://host:port,...` -> {NAME: port}."""
    ports = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        name, _, address = item.partition("://")
        ports[name] = int(address.rsplit(":", 1)[1])
    return ports


def listener_hosts(value: str) -> dict[str, str]:
    """`NAME://host:port,...` -> {NAME: "host:port"}."""
    return {item.partition("://")[0]: item.partition("://")[2] for item in value.split(",") if item.strip()}


def protocol_map(value: str) -> dict[str, str]:
    return dict(item.split(":", 1) for item in value.split(",") if item.strip())


def image_tag(service: Service) -> str:
    return str(service["image"]).rsplit(":", 1)[1]


def settings_field(env_name: str) -> str:
    """VIGIL_KAFKA_BOOTSTRAP -> kafka_bootstrap (nested `__` names address their top-level field)."""
    return env_name.removeprefix("VIGIL_").split("__", 1)[0].lower()


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            pairs.append((keyword.upper(), args.strip()))
    return pairs


def dockerfile_env() -> dict[str, str]:
    env = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            for match in re.finditer(r"(\w+)=(\"[^\"]*\"|\S+)", args):
                env[match.group(1)] = match.group(2).strip('"')
    return env


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> Services:
    return compose["services"]


@pytest.fixture(scope="module")
def pom() -> dict[str, str]:
    properties = ET.parse(ROOT / "stack" / "pom.xml").getroot().find("m:properties", POM_NS)
    assert properties is not None, "stack/pom.xml has no <properties>"
    return {child.tag.split("}", 1)[1]: (child.text or "").strip() for child in properties}


@pytest.fixture(scope="module")
def kafka_service(services: Services) -> Named:
    [(name, service)] = [
        (n, s) for n, s in services.items() if str(s.get("image", "")).startswith("apache/kafka:")
    ]
    return name, service


@pytest.fixture(scope="module")
def es_service(services: Services) -> Named:
    [(name, service)] = [
        (n, s) for n, s in services.items()
        if str(s.get("image", "")).startswith("docker.elastic.co/elasticsearch/elasticsearch:")
    ]  # fmt: skip
    return name, service


@pytest.fixture(scope="module")
def vigil_services(services: Services) -> Services:
    built = {name: service for name, service in services.items() if "build" in service}
    assert built, "no service is built from the Dockerfile"
    return built


@pytest.fixture
def local_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """What stack/local.py starts with its default StackConfig, captured instead of spawned."""
    spawned: dict[str, tuple[list[str], dict[str, str]]] = {}

    def spawn(
        self: local.LocalStack, name: str, cmd: list[str], env: dict[str, str], *_: Any, **__: Any
    ) -> None:
        spawned[name] = (cmd, env)

    es_home = tmp_path / "es-home"
    (es_home / "config").mkdir(parents=True)
    (es_home / "config" / "jvm.options").write_text("-Xms1g\n-Xmx1g\n")
    formatted = SimpleNamespace(returncode=0, stdout="", stderr="")
    monkeypatch.setattr(local.LocalStack, "_spawn", spawn)
    monkeypatch.setattr(local, "_java_home", lambda: str(tmp_path / "jdk"))
    monkeypatch.setattr(local, "es_home", lambda: es_home)
    monkeypatch.setattr(local, "subprocess", SimpleNamespace(run=lambda *args, **kwargs: formatted))
    monkeypatch.setattr(local.os, "geteuid", lambda: 1000)  # no chown/chmod outside tmp_path

    config = local.StackConfig(data_dir=tmp_path / "stack")
    stack = local.LocalStack(config)
    stack._start_kafka()
    stack._start_es()

    lines = (config.data_dir / "kafka.properties").read_text().splitlines()
    kafka_props = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    es_cmd, es_env = spawned["elasticsearch"]
    es_settings = dict(es_cmd[i + 1].split("=", 1) for i, arg in enumerate(es_cmd) if arg == "-E")
    kafka_cmd, _ = spawned["kafka"]
    return SimpleNamespace(
        config=config,
        kafka=kafka_props,
        kafka_heap=[arg for arg in kafka_cmd if arg.startswith(("-Xms", "-Xmx"))],
        es=es_settings,
        es_java_opts=es_env["ES_JAVA_OPTS"].split(),
    )


# -- Vigil's own settings ---------------------------------------------------------------------------
def test_vigil_env_names_are_settings_fields(compose: dict[str, Any], services: Services) -> None:
    names = {key for service in services.values() for key in env_of(service) if key.startswith("VIGIL_")}
    extensions = [value for key, value in compose.items() if key.startswith("x-") and isinstance(value, dict)]
    names |= {key for extension in extensions for key in extension if key.startswith("VIGIL_")}
    names |= {key for key in dockerfile_env() if key.startswith("VIGIL_")}
    assert names, "no VIGIL_* variables found"
    unknown = sorted(name for name in names if settings_field(name) not in Settings.model_fields)
    assert not unknown, f"not fields of core.settings.Settings (prefix VIGIL_): {unknown}"


def test_vigil_env_values_are_valid_settings(
    vigil_services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [key for key in os.environ if key.startswith("VIGIL_")]:
        monkeypatch.delenv(name)  # validate the image's and compose's values, not this shell's
    for service_name, service in vigil_services.items():
        env = {**dockerfile_env(), **env_of(service)}
        with monkeypatch.context() as scoped:
            for key, value in env.items():
                if key.startswith("VIGIL_"):
                    scoped.setenv(key, str(value))
            # Read as the container reads it (JSON lists included); raises on a bad zone, environment or number.
            settings = Settings()
        assert settings.environment == "production", f"{service_name} does not run as production"


def test_every_vigil_service_carries_the_shared_env(
    compose: dict[str, Any], vigil_services: Services
) -> None:
    shared = compose.get("x-vigil-env")
    assert isinstance(shared, dict) and shared, "the shared VIGIL_ env anchor (x-vigil-env) is missing"
    for name, service in vigil_services.items():
        env = env_of(service)
        assert {key: str(value) for key, value in shared.items()} == {
            key: env[key] for key in shared if key in env
        }, f"{name} does not merge the shared x-vigil-env"


def test_every_vigil_role_is_a_cli_command(vigil_services: Services) -> None:
    import typer.main

    from core.cli import WORKER_ROLES, app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    for name, service in vigil_services.items():
        command = [str(arg) for arg in service["command"]]
        assert command[0] in commands, f"{name}: `vigil {command[0]}` does not exist"
        if command[0] == "workers" and "--role" in command:
            role = command[command.index("--role") + 1]
            assert role in WORKER_ROLES, f"{name}: unknown worker role {role}"


def test_workers_run_the_cli_command(services: Services) -> None:
    import typer.main

    from core.cli import app

    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    workers = services["workers"]
    assert workers["command"] == ["workers"]
    assert workers["command"][0] in commands
    assert workers["build"] in (".", {"context": "."}), (
        "workers must be built from the repository's Dockerfile"
    )


# -- versions ---------------------------------------------------------------------------------------
def test_kafka_image_matches_pom(kafka_service: Named, pom: dict[str, str]) -> None:
    assert image_tag(kafka_service[1]) == pom["kafka.version"]


def test_es_image_matches_pom(es_service: Named, pom: dict[str, str]) -> None:
    assert image_tag(es_service[1]) == pom["es.version"]


# -- Kafka --------------------------------------------------------------------------------------------
def test_kafka_properties_mirror_local_stack(kafka_service: Named, local_stack: SimpleNamespace) -> None:
    props = kafka_properties(env_of(kafka_service[1]))
    missing = sorted(set(local_stack.kafka) - set(props))
    assert not missing, f"stack/local.py sets Kafka properties that docker-compose.yml does not: {missing}"
    differ = {key: (props[key], value) for key, value in local_stack.kafka.items()
              if key not in KAFKA_ADDRESS_PROPS and props[key] != value}  # fmt: skip
    assert not differ, f"compose vs stack/local.py: {differ}"


def test_kafka_topics_are_created_by_vigil_with_settings_partitions(
    kafka_service: Named, local_stack: SimpleNamespace, vigil_services: Services
) -> None:
    props = kafka_properties(env_of(kafka_service[1]))
    assert props["auto.create.topics.enable"] == "false"
    default = Settings.model_fields["kafka_partitions"].default
    for service in vigil_services.values():
        partitions = int(env_of(service).get("VIGIL_KAFKA_PARTITIONS", default))
        assert int(props["num.partitions"]) == partitions
    assert local_stack.config.partitions == default


def test_kafka_kraft_single_node(kafka_service: Named, local_stack: SimpleNamespace) -> None:
    name, service = kafka_service
    props = kafka_properties(env_of(service))
    assert env_of(service).get("CLUSTER_ID"), "KRaft storage needs a CLUSTER_ID to format"
    assert props["process.roles"] == local_stack.kafka["process.roles"] == "broker,controller"

    listeners = listener_ports(props["listeners"])
    local_listeners = listener_ports(local_stack.kafka["listeners"])
    for listener, port in local_listeners.items():
        assert listeners.get(listener) == port, (
            f"listener {listener} is {listeners.get(listener)}, locally {port}"
        )
    protocols = protocol_map(props["listener.security.protocol.map"])
    assert protocol_map(local_stack.kafka["listener.security.protocol.map"]).items() <= protocols.items()
    assert set(listeners) <= set(protocols), "every listener needs a security protocol"

    controller = props["controller.listener.names"]
    [voter] = props["controller.quorum.voters"].split(",")
    voter_id, _, voter_address = voter.partition("@")
    voter_host, voter_port = voter_address.rsplit(":", 1)
    assert voter_id == props["node.id"]
    assert voter_host in {name, service.get("hostname")}
    assert int(voter_port) == listeners[controller]

    advertised = listener_ports(props["advertised.listeners"])
    assert controller not in advertised
    for listener, port in advertised.items():
        assert listeners.get(listener) == port, f"advertised {listener} is not a listener on port {port}"
    assert set(listener_ports(local_stack.kafka["advertised.listeners"])) <= set(advertised)


def test_kafka_heap_mirrors_local_stack(kafka_service: Named, local_stack: SimpleNamespace) -> None:
    assert sorted(env_of(kafka_service[1])["KAFKA_HEAP_OPTS"].split()) == sorted(local_stack.kafka_heap)


def test_kafka_data_on_a_named_volume(compose: dict[str, Any], kafka_service: Named) -> None:
    log_dirs = kafka_properties(env_of(kafka_service[1]))["log.dirs"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in kafka_service[1].get("volumes", [])}
    assert mounts.get(log_dirs) in compose.get("volumes", {}), f"log.dirs {log_dirs} is not on a named volume"


def test_workers_bootstrap_is_kafkas_internal_listener(
    kafka_service: Named, vigil_services: Services
) -> None:
    name, service = kafka_service
    props = kafka_properties(env_of(service))
    advertised = {
        address: listener for listener, address in listener_hosts(props["advertised.listeners"]).items()
    }
    protocols = protocol_map(props["listener.security.protocol.map"])
    for service_name, vigil in vigil_services.items():
        bootstrap = env_of(vigil)["VIGIL_KAFKA_BOOTSTRAP"]
        for address in bootstrap.split(","):
            assert address in advertised, f"{service_name}: {address} is not an advertised Kafka listener"
            assert address.rsplit(":", 1)[0] in {name, service.get("hostname")}, (
                f"{service_name}: {address} is not reachable on the compose network"
            )
            # core.clients configures no TLS or SASL.
            assert protocols[advertised[address]] == "PLAINTEXT"


# -- Elasticsearch ------------------------------------------------------------------------------------
def test_es_settings_mirror_local_stack(es_service: Named, local_stack: SimpleNamespace) -> None:
    env = env_of(es_service[1])
    expected = {key: value for key, value in local_stack.es.items() if key not in ES_LOCAL_ONLY}
    assert {key: env.get(key) for key in expected} == expected
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == local_stack.es["xpack.security.enabled"]
    assert env["action.destructive_requires_name"] == "true"


def test_es_heap_mirrors_local_stack(es_service: Named, local_stack: SimpleNamespace) -> None:
    assert sorted(env_of(es_service[1])["ES_JAVA_OPTS"].split()) == sorted(local_stack.es_java_opts)


def test_es_data_on_a_named_volume(compose: dict[str, Any], es_service: Named) -> None:
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in es_service[1].get("volumes", [])}
    assert mounts.get("/usr/share/elasticsearch/data") in compose.get("volumes", {})


def test_workers_es_url_is_the_es_service(es_service: Named, vigil_services: Services) -> None:
    name, service = es_service
    env = env_of(service)
    for service_name, vigil in vigil_services.items():
        url = urlsplit(env_of(vigil)["VIGIL_ES_URL"])
        assert url.hostname in {name, service.get("hostname")}, (
            f"{service_name}: {url.hostname} is not {name}"
        )
        assert url.port == int(env.get("http.port", 9200))
        assert url.scheme == ("http" if env["xpack.security.enabled"] == "false" else "https")


# -- start order and health ---------------------------------------------------------------------------
def test_every_service_is_healthchecked_or_waits_for_healthy(services: Services) -> None:
    def healthchecked(service: dict[str, Any]) -> bool:
        check = service.get("healthcheck") or {}
        return bool(check.get("test")) and not check.get("disable") and check["test"] != ["NONE"]

    for name, service in services.items():
        if healthchecked(service):
            continue
        depends = service.get("depends_on")
        assert isinstance(depends, dict) and depends, f"{name}: no healthcheck and no depends_on conditions"
        for dependency, condition in depends.items():
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            assert (condition or {}).get("condition") == "service_healthy", (
                f"{name} starts before {dependency}"
            )
            assert healthchecked(services[dependency]), (
                f"{name} waits for {dependency}, which has no healthcheck"
            )


def test_named_volumes_are_declared(compose: dict[str, Any], services: Services) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


# -- the image ------------------------------------------------------------------------------------------
def test_dockerfile_image(vigil_services: Services) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    instructions = dockerfile_instructions()
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    # Python throughout; one Node stage only fetches the web console's locked browser libraries (npm ci).
    assert bases and bases[-1] == "python:3.11-slim", bases
    assert all(base == "python:3.11-slim" for base in bases if base != "node:20-slim"), bases
    assert pyproject["project"]["requires-python"] == ">=3.11"

    args_defaults = dict(
        args.split("=", 1) for keyword, args in instructions if keyword == "ARG" and "=" in args
    )
    users = [re.sub(r"\$\{?(\w+)\}?", lambda m: args_defaults.get(m.group(1), ""), args)
             for keyword, args in instructions if keyword == "USER"]  # fmt: skip
    assert users and users[-1].split(":")[0] not in {"", "root", "0"}, (
        f"the image must run as a non-root user: {users}"
    )
    entrypoint = [args for keyword, args in instructions if keyword == "ENTRYPOINT"]
    assert entrypoint == ['["vigil"]'] and "vigil" in pyproject["project"]["scripts"]
    assert any(keyword == "RUN" and "pip install ." in args for keyword, args in instructions)

    data_dir = dockerfile_env()["VIGIL_DATA_DIR"]
    for name, service in vigil_services.items():
        targets = [str(volume).split(":")[1] for volume in service.get("volumes", [])]
        assert data_dir in targets, f"{name}: VIGIL_DATA_DIR {data_dir} is not on a volume"


def test_dockerignore_keeps_local_state_out_of_the_build() -> None:
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", "var", "stack/lib", "tests"} <= ignored
