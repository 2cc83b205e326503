"""The entity inventory: load it (YAML, and the CSV exports of HR/CMDB), look entities up, and sync
it to Elasticsearch `vigil-entities`.

Loading errors name the file, the line (YAML) or row (CSV) and the field, so an administrator can fix
the export. Lookups are what detectors ask per event: who is `CORP\\Alice`, whose computer is
10.1.2.3, which resource holds `\\\\fs01\\finance\\q3.xlsx` (longest path prefix wins).
"""

from __future__ import annotations

import csv
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from elasticsearch import Elasticsearch, helpers
from pydantic import BaseModel, ValidationError

from core.errors import ConfigError, VigilError
from core.index_templates import install_entities_template
from core.models.ecs import account_key, host_key
from core.models.entity import Inventory, Resource, User, Vendor, WorkCalendar
from core.names import ENTITIES_INDEX
from core.settings import Settings


class InventoryError(ConfigError):
    """An inventory file is invalid; the message says where (file, line/row, field) and why."""


class EntityStoreError(VigilError):
    """Elasticsearch refused entity documents (mapping conflict, read-only index...)."""


# --- loading ------------------------------------------------------------------------------------

_LIST_SEP = ";"
USER_COLUMNS = {"name", "id", "display_name", "department", "role", "clearance", "status", "status_changed",
                "previous_role", "aliases", "hosts", "ips", "work_days", "work_hours", "work_zone"}  # fmt: skip
RESOURCE_COLUMNS = {"id", "kind", "name", "classification", "owner", "allowed_roles", "allowed_users",
                    "important", "paths", "shares", "hosts", "networks"}  # fmt: skip
_LIST_COLUMNS = {"aliases", "hosts", "ips", "allowed_roles", "allowed_users", "paths", "shares", "networks",
                 "work_days", "work_hours"}  # fmt: skip


def load_inventory(*paths: Path) -> Inventory:
    """One inventory from YAML files (which may `include:` CSV files beside them) and CSV exports."""
    parts: dict[str, list[Any]] = {"users": [], "resources": [], "vendors": []}
    calendar: WorkCalendar | None = None
    for path in paths:
        loaded = _load_yaml(path) if path.suffix.lower() in (".yml", ".yaml") else _load_csv(path)
        for key in parts:
            parts[key].extend(getattr(loaded, key))
        if path.suffix.lower() in (".yml", ".yaml"):
            calendar = loaded.calendar if calendar is None else calendar
    try:
        return Inventory(**parts, calendar=calendar or WorkCalendar())
    except ValidationError as exc:
        where = ", ".join(str(p) for p in paths)
        raise InventoryError(f"{where}: {_first_error(exc)}") from exc


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: Path, model: type[M], *, drop: tuple[str, ...] = ()) -> tuple[M, dict[str, Any]]:
    """A YAML file as `model`, errors as `file:line: field a.b: message`; also returns the `drop`ped keys."""
    return parse_yaml_model(_read(path), str(path), model, drop=drop)


def parse_inventory_text(text: str, label: str) -> Inventory:
    """An inventory sent as YAML text (the entities API). `include:` is refused: it names files on the
    server, which are not the sender's to read."""
    inventory, dropped = parse_yaml_model(text, label, Inventory, drop=("include",))
    if "include" in dropped:
        raise InventoryError(f"{label}: field include: CSV includes are read from files; send one YAML document")
    return inventory


def parse_yaml_model(text: str, label: str, model: type[M], *, drop: tuple[str, ...] = ()) -> tuple[M, dict[str, Any]]:
    """`load_yaml_model` for text; `label` stands for the file name in error messages."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise InventoryError(f"{label}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise InventoryError(f"{label}:1: expected a mapping of {', '.join(model.model_fields)}")
    dropped = {key: data.pop(key) for key in drop if key in data}
    try:
        return model.model_validate(data), dropped
    except ValidationError as exc:
        error = exc.errors()[0]
        raise InventoryError(
            f"{label}:{_yaml_line(root, error['loc'])}: field {_loc(error['loc'])}: {error['msg']}"
        ) from exc


def _load_yaml(path: Path) -> Inventory:
    inventory, dropped = load_yaml_model(path, Inventory, drop=("include",))
    extra = [_load_csv(path.parent / name) for name in dropped.get("include") or []]
    return inventory.model_copy(update={
        "users": inventory.users + [u for e in extra for u in e.users],
        "resources": inventory.resources + [r for e in extra for r in e.resources],
    })  # fmt: skip


def _load_csv(path: Path) -> Inventory:
    """A users export (has a `name` column) or a resources export (has `id` and `kind`)."""
    rows = csv.DictReader(_read(path).splitlines())
    columns = {c.strip() for c in rows.fieldnames or []}
    if "name" in columns and columns <= USER_COLUMNS:
        model: type[BaseModel] = User
    elif {"id", "kind"} <= columns and columns <= RESOURCE_COLUMNS:
        model = Resource
    else:
        raise InventoryError(
            f"{path}:1: header {sorted(columns)} is neither a users export (columns from "
            f"{sorted(USER_COLUMNS)}) nor a resources export (columns from {sorted(RESOURCE_COLUMNS)})"
        )
    users: list[User] = []
    resources: list[Resource] = []
    seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        fields = _csv_fields({k.strip(): (v or "").strip() for k, v in row.items() if k})
        try:
            item = model.model_validate(fields)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InventoryError(
                f"{path}: row {number}: field {_loc(error['loc'])}: {error['msg']}"
                f" (value {str(error.get('input'))[:60]!r})"
            ) from exc
        key = item.name.lower() if isinstance(item, User) else str(getattr(item, "id", ""))
        if key in seen:
            field = "name" if isinstance(item, User) else "id"
            raise InventoryError(f"{path}: row {number}: field {field}: duplicate of row {seen[key]} ({key!r})")
        seen[key] = number
        (users if isinstance(item, User) else resources).append(item)  # type: ignore[arg-type]
    return Inventory.model_construct(users=users, resources=resources, vendors=[], calendar=WorkCalendar())


def _csv_fields(row: dict[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in row.items():
        if not value:
            continue
        fields[key] = [v.strip() for v in value.split(_LIST_SEP) if v.strip()] if key in _LIST_COLUMNS else value
    hours = {"days": fields.pop("work_days", None), "hours": fields.pop("work_hours", None),
             "zone": fields.pop("work_zone", None)}  # fmt: skip
    if any(hours.values()):
        fields["working_hours"] = {k: v for k, v in hours.items() if v is not None}
    if "important" in fields:
        fields["important"] = str(fields["important"]).lower() in ("1", "true", "yes", "y", "是")
    return fields


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")  # Excel writes a BOM
    except OSError as exc:
        raise InventoryError(f"{path}: cannot read inventory file: {exc.strerror}") from exc


def _loc(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "(root)"


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"field {_loc(error['loc'])}: {error['msg']}"


def _yaml_line(node: yaml.Node | None, loc: Sequence[int | str]) -> int:
    """The 1-based line of the deepest YAML node on `loc` (pydantic's error location); a mapping
    entry is located by its key, where the field is named."""
    line = node.start_mark.line + 1 if node else 1
    for part in loc:
        child, mark = None, None
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            child, mark = (pair[1], pair[0].start_mark) if pair else (None, None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            mark = child.start_mark
        if child is None or mark is None:
            break
        node, line = child, mark.line + 1
    return line


# --- lookups ------------------------------------------------------------------------------------


# People and hosts are looked up by the keys `vigil.events` is partitioned by (`EcsEvent.entity()`).
account_name = account_key
host_name = host_key


def norm_path(path: str) -> str:
    """Windows and POSIX paths compared alike: `/` separators, lower case, no trailing slash."""
    text = path.strip().replace("\\", "/").lower()
    text = text.removeprefix("//?/").removeprefix("/??/")
    return text.rstrip("/") or "/"


@dataclass(frozen=True)
class EntityIndex:
    """Read-only lookups over one inventory; build it once per inventory version."""

    inventory: Inventory
    _users: dict[str, User]
    _host_owner: dict[str, User]
    _ip_owner: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, User]]
    _paths: list[tuple[str, Resource]]
    _shares: dict[str, Resource]
    _hosts: dict[str, Resource]
    _zones: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Resource]]
    _vendor_accounts: dict[str, Vendor]
    _vendor_ips: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Vendor]]

    @classmethod
    def build(cls, inventory: Inventory) -> EntityIndex:
        users = {account_name(n): u for u in inventory.users for n in (u.name, *u.aliases)}
        res = inventory.resources
        paths = sorted(((norm_path(p), r) for r in res for p in r.paths), key=lambda x: -len(x[0]))
        return cls(
            inventory=inventory,
            _users=users,
            _host_owner={host_name(h): u for u in inventory.users for h in u.hosts},
            _ip_owner=_by_prefix((ip, u) for u in inventory.users for ip in u.ips),
            _paths=paths,
            _shares={s.strip().lower(): r for r in res for s in r.shares},
            _hosts={host_name(h): r for r in res for h in r.hosts},
            _zones=_by_prefix((n, r) for r in res for n in r.networks),
            _vendor_accounts={account_name(a): v for v in inventory.vendors for a in v.accounts},
            _vendor_ips=_by_prefix((ip, v) for v in inventory.vendors for ip in v.ips),
        )

    @property
    def calendar(self) -> WorkCalendar:
        return self.inventory.calendar

    def user(self, name: str | None) -> User | None:
        return self._users.get(account_name(name)) if name else None

    def owner_of_host(self, host: str | None) -> User | None:
        return self._host_owner.get(host_name(host)) if host else None

    def owner_of_ip(self, ip: str | None) -> User | None:
        return _match(self._ip_owner, ip)

    def resource_for_path(self, path: str | None) -> Resource | None:
        if not path:
            return None
        target = norm_path(path)
        for prefix, resource in self._paths:  # longest first
            if target == prefix or target.startswith(prefix.rstrip("/") + "/"):
                return resource
        return None

    def resource_for_share(self, share: str | None) -> Resource | None:
        if not share:
            return None
        name = norm_path(share).rsplit("/", 1)[-1]  # `\\*\finance` and `finance` alike
        return self._shares.get(name)

    def resource_for_host(self, host: str | None) -> Resource | None:
        return self._hosts.get(host_name(host)) if host else None

    def zone_for_ip(self, ip: str | None) -> Resource | None:
        return _match(self._zones, ip)

    def vendor(self, account: str | None = None, ip: str | None = None) -> Vendor | None:
        if account and (vendor := self._vendor_accounts.get(account_name(account))):
            return vendor
        return _match(self._vendor_ips, ip)


def _by_prefix(pairs: Iterable[tuple[str, Any]]) -> list[tuple[Any, Any]]:
    nets = [(ipaddress.ip_network(n, strict=False), item) for n, item in pairs]
    return sorted(nets, key=lambda x: -x[0].prefixlen)


def _match(table: list[tuple[Any, Any]], ip: str | None) -> Any:
    if not ip:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    return next((item for net, item in table if addr.version == net.version and addr in net), None)


# --- Elasticsearch `vigil-entities` -------------------------------------------------------------

ENTITY_MODELS: dict[str, type[BaseModel]] = {"user": User, "resource": Resource, "vendor": Vendor,
                                      "calendar": WorkCalendar}  # fmt: skip


@dataclass(frozen=True)
class SyncResult:
    indexed: int
    deleted: int


def entity_documents(inventory: Inventory) -> dict[str, dict[str, Any]]:
    """One document per entity, keyed by a deterministic id (`user:alice`, `resource:hr-share`)."""
    items: list[tuple[str, str, BaseModel]] = [
        *(("user", account_name(u.name), u) for u in inventory.users),
        *(("resource", r.id, r) for r in inventory.resources),
        *(("vendor", v.id, v) for v in inventory.vendors),
        ("calendar", "default", inventory.calendar),
    ]
    return {
        f"{kind}:{key}": {"entity_kind": kind, "entity_key": key, **model.model_dump(mode="json")}
        for kind, key, model in items
    }


def sync_entities(
    es: Elasticsearch, settings: Settings, inventory: Inventory, index: str = ENTITIES_INDEX
) -> SyncResult:
    """Make the index hold exactly this inventory: upsert every entity, delete the ones gone."""
    install_entities_template(es, settings)  # the index gets its mapping and replicas, however it is created
    if not es.indices.exists(index=index):
        es.indices.create(index=index)
    docs = entity_documents(inventory)
    actions = [{"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc} for doc_id, doc in docs.items()]
    try:
        indexed, _ = helpers.bulk(es, actions, refresh="wait_for")
    except helpers.BulkIndexError as exc:
        first = exc.errors[0] if exc.errors else {}
        raise EntityStoreError(f"{index}: {len(exc.errors)} entity documents refused; first: {first}") from exc
    stale = [hit["_id"] for hit in helpers.scan(es, index=index, query={"query": {"match_all": {}}}, _source=False)
             if hit["_id"] not in docs]  # fmt: skip
    if stale:
        helpers.bulk(es, ({"_op_type": "delete", "_index": index, "_id": i} for i in stale), refresh="wait_for")
    return SyncResult(indexed=indexed, deleted=len(stale))


def read_entities(es: Elasticsearch, index: str = ENTITIES_INDEX) -> Inventory:
    """The inventory as stored in `vigil-entities` (what the detectors load at start)."""
    parts: dict[str, list[Any]] = {"user": [], "resource": [], "vendor": [], "calendar": []}
    for hit in helpers.scan(es, index=index, query={"query": {"match_all": {}}}):
        source = dict(hit["_source"])
        kind = source.pop("entity_kind", None)
        source.pop("entity_key", None)
        if kind not in ENTITY_MODELS:
            raise InventoryError(f"{index}/{hit['_id']}: unknown entity_kind {kind!r}")
        try:
            parts[kind].append(ENTITY_MODELS[kind].model_validate(source))
        except ValidationError as exc:
            raise InventoryError(f"{index}/{hit['_id']}: {_first_error(exc)}") from exc
    calendar = parts["calendar"][0] if parts["calendar"] else WorkCalendar()
    return Inventory(users=parts["user"], resources=parts["resource"], vendors=parts["vendor"], calendar=calendar)
