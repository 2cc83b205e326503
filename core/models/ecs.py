"""The normalised event: a strict subset of the Elastic Common Schema (ECS 8.x).

Models forbid unknown fields so a parser typo fails loudly in tests instead of
writing a field nobody queries. Parser-specific extras go to ``labels`` (keywords).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from core.names import Category

NO_VALUE = frozenset({"", "-"})  # what Windows and many text logs write for "no account / no host"


def account_key(name: str) -> str:
    """One person, one key: `CORP\\Alice`, `alice@corp.local`, ` ALICE ` → `alice`.

    The rule: trimmed and lower-cased (Windows and most directories compare accounts case-blind); the
    domain is dropped, `DOMAIN\\name` (NetBIOS) and `name@realm` (UPN, Kerberos) alike, because Vigil
    serves one organisation whose account names are unique across its domains (the inventory lists
    people by account name and aliases, not per domain). Machine accounts keep their `$` (`WS01$`,
    `WS01$@CORP.LOCAL` → `ws01$`): a computer is never the person with the same name. "" for none."""
    text = name.strip().lower()
    if "\\" in text:
        text = text.rsplit("\\", 1)[1]
    if "@" in text:
        text = text.split("@", 1)[0]
    return "" if text in NO_VALUE else text


def host_key(name: str) -> str:
    """`WS01`, `ws01.corp.local` → `ws01` (the first label, lower-cased); addresses stay whole. "" for none."""
    text = name.strip().lower().rstrip(".")
    if text in NO_VALUE:
        return ""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.split(".", 1)[0]


class Ecs(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class EventInfo(Ecs):
    id: str | None = None
    kind: str = "event"
    category: list[str] = Field(default_factory=list)
    type: list[str] = Field(default_factory=list)
    action: str | None = None
    outcome: str | None = None
    code: str | None = None
    dataset: str | None = None
    module: str | None = None
    provider: str | None = None
    reason: str | None = None
    severity: int | None = None
    original: str | None = None
    created: AwareDatetime | None = None
    ingested: AwareDatetime | None = None
    timezone: str | None = None


class Os(Ecs):
    name: str | None = None
    family: str | None = None
    version: str | None = None


class Host(Ecs):
    name: str | None = None
    hostname: str | None = None
    ip: list[str] = Field(default_factory=list)
    os: Os | None = None


class UserRef(Ecs):
    name: str | None = None
    domain: str | None = None
    id: str | None = None


class User(UserRef):
    email: str | None = None
    roles: list[str] = Field(default_factory=list)
    target: UserRef | None = None
    effective: UserRef | None = None


class Group(Ecs):
    name: str | None = None
    id: str | None = None
    domain: str | None = None


class Endpoint(Ecs):
    """`source` / `destination` / `client` / `server`."""

    address: str | None = None
    ip: str | None = None
    port: int | None = None
    domain: str | None = None
    mac: str | None = None
    bytes: int | None = None
    packets: int | None = None
    user: UserRef | None = None


class ProcessParent(Ecs):
    pid: int | None = None
    name: str | None = None
    executable: str | None = None
    command_line: str | None = None
    entity_id: str | None = None


class Process(Ecs):
    pid: int | None = None
    name: str | None = None
    executable: str | None = None
    command_line: str | None = None
    args: list[str] = Field(default_factory=list)
    working_directory: str | None = None
    entity_id: str | None = None
    hash: dict[str, str] = Field(default_factory=dict)
    parent: ProcessParent | None = None


class File(Ecs):
    path: str | None = None
    name: str | None = None
    directory: str | None = None
    extension: str | None = None
    size: int | None = None
    hash: dict[str, str] = Field(default_factory=dict)


class Url(Ecs):
    original: str | None = None
    full: str | None = None
    scheme: str | None = None
    domain: str | None = None
    port: int | None = None
    path: str | None = None
    query: str | None = None


class Network(Ecs):
    transport: str | None = None
    protocol: str | None = None
    direction: str | None = None
    type: str | None = None
    application: str | None = None
    bytes: int | None = None
    packets: int | None = None
    community_id: str | None = None


class HttpRequest(Ecs):
    method: str | None = None
    bytes: int | None = None
    referrer: str | None = None


class HttpResponse(Ecs):
    status_code: int | None = None
    bytes: int | None = None


class Http(Ecs):
    version: str | None = None
    request: HttpRequest | None = None
    response: HttpResponse | None = None


class UserAgent(Ecs):
    original: str | None = None


class DnsQuestion(Ecs):
    name: str | None = None
    type: str | None = None
    class_: str | None = Field(None, alias="class")


class Dns(Ecs):
    type: str | None = None
    id: str | None = None
    response_code: str | None = None
    question: DnsQuestion | None = None
    resolved_ip: list[str] = Field(default_factory=list)


class EmailAddresses(Ecs):
    address: list[str] = Field(default_factory=list)


class Email(Ecs):
    from_: EmailAddresses | None = Field(None, alias="from")
    to: EmailAddresses | None = None
    subject: str | None = None
    message_id: str | None = None
    local_id: str | None = None
    # Not in ECS: the message size postfix logs, needed for the 5 MB attachment rule.
    size: int | None = None


class Observer(Ecs):
    name: str | None = None
    hostname: str | None = None
    vendor: str | None = None
    product: str | None = None
    type: str | None = None
    ingress_interface: str | None = None
    egress_interface: str | None = None


class Rule(Ecs):
    id: str | None = None
    name: str | None = None


class DeviceModel(Ecs):
    name: str | None = None
    identifier: str | None = None


class Device(Ecs):
    id: str | None = None
    manufacturer: str | None = None
    model: DeviceModel | None = None


class WinlogProcess(Ecs):
    pid: int | None = None
    thread_id: int | None = Field(None, alias="thread.id")


class Winlog(Ecs):
    channel: str | None = None
    provider_name: str | None = None
    event_id: str | None = None
    record_id: int | None = None
    computer_name: str | None = None
    task: str | None = None
    opcode: str | None = None
    keywords: list[str] = Field(default_factory=list)
    process: WinlogProcess | None = None  # System/Execution: the process that logged the event
    # The original EventData / UserData names (TargetUserName, CommandLine...) that Sigma rules use.
    event_data: dict[str, Any] = Field(default_factory=dict)


class RegistryData(Ecs):
    strings: list[str] = Field(default_factory=list)
    type: str | None = None


class Registry(Ecs):
    path: str | None = None
    hive: str | None = None
    key: str | None = None
    value: str | None = None
    data: RegistryData | None = None


class LogFile(Ecs):
    path: str | None = None


class Syslog(Ecs):
    facility: int | None = None
    severity: int | None = None
    priority: int | None = None
    appname: str | None = None
    procid: str | None = None
    msgid: str | None = None
    hostname: str | None = None
    version: int | None = None
    structured_data: dict[str, dict[str, str]] = Field(default_factory=dict)


class Log(Ecs):
    level: str | None = None
    logger: str | None = None
    offset: int | None = None
    file: LogFile | None = None
    syslog: Syslog | None = None


class Service(Ecs):
    name: str | None = None
    type: str | None = None


class Related(Ecs):
    ip: list[str] = Field(default_factory=list)
    user: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)


class VigilMeta(Ecs):
    category: Category
    source: str
    parser: str
    entity: str | None = None
    raw_id: str | None = None


class EcsEvent(Ecs):
    timestamp: AwareDatetime = Field(alias="@timestamp")
    message: str | None = None
    tags: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    event: EventInfo = Field(default_factory=EventInfo)
    host: Host | None = None
    user: User | None = None
    group: Group | None = None
    source: Endpoint | None = None
    destination: Endpoint | None = None
    process: Process | None = None
    file: File | None = None
    url: Url | None = None
    network: Network | None = None
    http: Http | None = None
    user_agent: UserAgent | None = None
    dns: Dns | None = None
    email: Email | None = None
    observer: Observer | None = None
    rule: Rule | None = None
    device: Device | None = None
    winlog: Winlog | None = None
    registry: Registry | None = None
    log: Log | None = None
    service: Service | None = None
    related: Related | None = None
    vigil: VigilMeta

    @field_validator("timestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def entity(self) -> str:
        """The partition key of `vigil.events`: per-entity state lives in one consumer. The user, else
        the host, keyed as `account_key` / `host_key` say (the inventory looks people up the same way);
        the event's own fields keep what the log wrote."""
        if self.user and self.user.name and (account := account_key(self.user.name)):
            return f"user:{account}"
        if self.host and (host := host_key(self.host.name or self.host.hostname or "")):
            return f"host:{host}"
        if self.source and self.source.ip:
            return f"ip:{self.source.ip}"
        return f"source:{self.vigil.source}"

    def to_document(self) -> dict[str, Any]:
        """The Elasticsearch `_source`: ECS names, UTC ISO timestamps, no empty fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=False)
