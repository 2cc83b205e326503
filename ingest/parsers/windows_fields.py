"""Per-event-id ECS mapping of Windows events: declarative tables of small field builders.

A builder takes the event data (original EventData/UserData names, string values) and returns
ECS fields as nested dicts (``None`` values are dropped later). ``SPECS`` says, per log family and
event id, the Vigil category, ``event.action`` and the ECS ``event.category``/``event.type``.
The event data itself always stays in ``winlog.event_data`` for the Sigma rules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.names import Category
from ingest.parsers import linux_auth

Data = Mapping[str, Any]
Fields = dict[str, Any]
Builder = Callable[[Data], Fields]

# "-" and %%1793 ("<value not set>") mean no value; S-1-0-0 is the NULL SID.
_UNSET = {"", "-", "%%1793", "S-1-0-0"}


# --- value helpers -------------------------------------------------------------------------------


def val(data: Data, key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, list):
        value = next((item for item in value if item), None)
    if value is None:
        return None
    text = str(value).strip()
    return None if text in _UNSET else text


def num(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None


def ip(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip().strip("[]")
    if text.lower().startswith("::ffff:") and "." in text:
        text = text[7:]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def port(text: str | None) -> int | None:
    value = num(text)
    return value if value and 0 < value < 65536 else None


def basename(path: str | None) -> str | None:
    return path.replace("/", "\\").rstrip("\\").rsplit("\\", 1)[-1] or None if path else None


def account(text: str | None) -> tuple[str | None, str | None]:
    """`DOMAIN\\name` or `name@realm` → (name, domain)."""
    if not text:
        return None, None
    if "\\" in text:
        domain, _, name = text.partition("\\")
        return name or None, domain or None
    if "@" in text:
        name, _, domain = text.partition("@")
        return name or None, domain or None
    return text, None


def merge(*parts: Fields) -> Fields:
    """Deep-merge ECS field dicts; later parts win on scalar conflicts."""
    out: Fields = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            elif value is not None or key not in out:
                out[key] = value
    return out


def file_fields(path: str | None) -> Fields:
    if not path:
        return {}
    name = basename(path)
    directory = path[: len(path) - len(name) - 1] if name and len(path) > len(name) else None
    extension = name.rsplit(".", 1)[1].lower() if name and "." in name.strip(".") else None
    return {"path": path, "name": name, "directory": directory or None, "extension": extension}


def process_fields(executable: str | None, pid: int | None, **extra: Any) -> Fields:
    if executable is None and not pid and not any(extra.values()):
        return {}
    return {"executable": executable, "name": basename(executable), "pid": pid, **extra}


def hashes(text: str | None) -> dict[str, str]:
    """Sysmon `SHA1=..,MD5=..` → ECS `hash.*` (lower-case hex; algorithms ECS knows)."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        algo, _, digest = item.partition("=")
        if algo.strip().lower() in {"md5", "sha1", "sha256", "sha384", "sha512"} and digest.strip():
            out[algo.strip().lower()] = digest.strip().lower()
    return out


def executable_of(command_line: str | None) -> str | None:
    if not command_line:
        return None
    command_line = command_line.strip()
    if command_line.startswith('"'):
        return command_line[1:].split('"', 1)[0] or None
    match = re.match(r"(.+?\.exe)\b", command_line, re.IGNORECASE)
    return match.group(1) if match else command_line.split(" ", 1)[0]


def _key_values(text: str, sep: str) -> dict[str, str]:
    pairs = (line.strip().partition(sep) for line in text.splitlines())
    return {key.strip(): value.strip() for key, found, value in pairs if found}


# --- builders: Security ------------------------------------------------------------------------

LOGON_TYPES = {
    "0": "System", "2": "Interactive", "3": "Network", "4": "Batch", "5": "Service", "7": "Unlock",
    "8": "NetworkCleartext", "9": "NewCredentials", "10": "RemoteInteractive",
    "11": "CachedInteractive", "12": "CachedRemoteInteractive", "13": "CachedUnlock",
}  # fmt: skip
LOGON_FAILURES = {
    "0xc0000064": "user name does not exist", "0xc000006a": "wrong password",
    "0xc000006d": "bad user name or password", "0xc000006e": "account restriction",
    "0xc000006f": "outside authorised hours", "0xc0000070": "workstation restriction",
    "0xc0000071": "password expired", "0xc0000072": "account disabled",
    "0xc0000133": "clock skew between client and DC", "0xc000015b": "logon type not granted",
    "0xc0000193": "account expired", "0xc0000224": "password must change",
    "0xc0000234": "account locked out",
}  # fmt: skip


def subject(d: Data) -> Fields:
    name = val(d, "SubjectUserName")
    return {"user": {"name": name, "domain": val(d, "SubjectDomainName"), "id": val(d, "SubjectUserSid")}}


def target(d: Data) -> Fields:
    name, realm = account(val(d, "TargetUserName"))
    domain = val(d, "TargetDomainName") or realm
    return {"user": {"name": name, "domain": domain, "id": val(d, "TargetUserSid") or val(d, "TargetSid")}}


def _target_ref(d: Data) -> Fields:
    return {"name": val(d, "TargetUserName"), "domain": val(d, "TargetDomainName"), "id": val(d, "TargetSid")}


def target_as_target(d: Data) -> Fields:
    return merge(subject(d), {"user": {"target": _target_ref(d)}})


def caller(d: Data) -> Fields:
    return {"process": process_fields(val(d, "ProcessName"), num(val(d, "ProcessId")))}


def source(d: Data, domain_key: str = "WorkstationName") -> Fields:
    address = ip(val(d, "IpAddress"))
    return {"source": {"ip": address, "port": port(val(d, "IpPort")) if address else None,
                       "domain": val(d, domain_key)}}  # fmt: skip


def logon(d: Data) -> Fields:
    labels = {"logon_type": LOGON_TYPES.get(val(d, "LogonType") or "")}
    return merge(target(d), source(d), caller(d), {"labels": labels})


def logon_failed(d: Data) -> Fields:
    sub, status = (val(d, "SubStatus") or "").lower(), (val(d, "Status") or "").lower()
    reason = LOGON_FAILURES.get(sub) or LOGON_FAILURES.get(status)
    return merge(logon(d), {"event": {"reason": reason}})


def explicit_logon(d: Data) -> Fields:
    return merge(target(d), source(d), caller(d), {"destination": {"domain": val(d, "TargetServerName")}})


def process_created(d: Data) -> Fields:
    parent = process_fields(val(d, "ParentProcessName"), num(val(d, "ProcessId")))
    proc = process_fields(val(d, "NewProcessName"), num(val(d, "NewProcessId")),
                          command_line=val(d, "CommandLine"), parent=parent or None)  # fmt: skip
    return merge(subject(d), {"process": proc})


def object_access(d: Data) -> Fields:
    kind, name = val(d, "ObjectType"), val(d, "ObjectName")
    extra: Fields = {}
    if kind == "File":
        extra = {"file": file_fields(name)}
    elif kind == "Key" and name:
        extra = {"registry": registry_fields(_native_key(name))}
    return merge(subject(d), caller(d), extra)


def share(d: Data) -> Fields:
    local = val(d, "ShareLocalPath")
    base = (local.removeprefix("\\??\\") if local else None) or val(d, "ShareName")
    relative = val(d, "RelativeTargetName")
    path = f"{base.rstrip(chr(92))}\\{relative}" if base and relative else base
    extra = {"labels": {"share_name": val(d, "ShareName")}, "file": file_fields(path)}
    return merge(subject(d), source(d), extra)


def service_security(d: Data) -> Fields:
    return merge(subject(d), {"service": {"name": val(d, "ServiceName")}})


def service_system(d: Data) -> Fields:
    return {"service": {"name": val(d, "ServiceName") or val(d, "param1")}}


def group_change(d: Data) -> Fields:
    return merge(subject(d), {"group": _target_ref(d)})


def group_member(d: Data) -> Fields:
    member = val(d, "MemberName")
    cn = re.match(r"CN=((?:\\,|[^,])+)", member or "", re.IGNORECASE)
    name = cn.group(1).replace("\\,", ",") if cn else member
    return merge(group_change(d), {"user": {"target": {"name": name, "id": val(d, "MemberSid")}}})


def locked_out(d: Data) -> Fields:
    # 4740: TargetDomainName is the caller computer, not a domain.
    ref = {"name": val(d, "TargetUserName"), "id": val(d, "TargetSid")}
    return merge(subject(d), {"user": {"target": ref}, "source": {"domain": val(d, "TargetDomainName")}})


def renamed(d: Data) -> Fields:
    ref = {**_target_ref(d), "name": val(d, "OldTargetUserName")}
    return merge(subject(d), {"user": {"target": ref}, "labels": {"new_name": val(d, "NewTargetUserName")}})


def kerberos(d: Data) -> Fields:
    return merge(target(d), source(d), {"labels": {"service_name": val(d, "ServiceName")}})


def credential_validation(d: Data) -> Fields:
    return {"user": {"name": val(d, "TargetUserName")}, "source": {"domain": val(d, "Workstation")}}


def device(d: Data) -> Fields:
    device_id = val(d, "DeviceId")
    vendor = re.search(r"Ven_([^&\\]+)", device_id or "", re.IGNORECASE)
    product = re.search(r"Prod_([^&\\]+)", device_id or "", re.IGNORECASE)
    model = {"name": val(d, "DeviceDescription"), "identifier": product.group(1) if product else None}
    fields = {"id": device_id, "manufacturer": vendor.group(1) if vendor else None, "model": model}
    return merge(subject(d), {"device": fields, "labels": {"device_class": val(d, "ClassName")}})


# --- builders: Sysmon ----------------------------------------------------------------------------


def _user(text: str | None) -> Fields:
    name, domain = account(text)
    return {"user": {"name": name, "domain": domain}}


def image(d: Data, prefix: str = "") -> Fields:
    guid = val(d, f"{prefix}ProcessGuid") or val(d, f"{prefix}ProcessGUID")
    proc = process_fields(val(d, f"{prefix}Image"), num(val(d, f"{prefix}ProcessId")), entity_id=guid)
    return merge(_user(val(d, "User") or val(d, f"{prefix}User")), {"process": proc})


def sysmon_process(d: Data) -> Fields:
    parent = process_fields(val(d, "ParentImage"), num(val(d, "ParentProcessId")),
                            command_line=val(d, "ParentCommandLine"), entity_id=val(d, "ParentProcessGuid"))
    extra = {"command_line": val(d, "CommandLine"), "working_directory": val(d, "CurrentDirectory"),
             "hash": hashes(val(d, "Hashes")), "parent": parent or None}  # fmt: skip
    return merge(image(d), {"process": extra})


def sysmon_network(d: Data) -> Fields:
    ends = {
        side: {"ip": ip(val(d, f"{prefix}Ip")), "port": port(val(d, f"{prefix}Port")),
               "domain": val(d, f"{prefix}Hostname")}
        for side, prefix in (("source", "Source"), ("destination", "Destination"))
    }  # fmt: skip
    initiated = val(d, "Initiated")
    network = {
        "transport": (val(d, "Protocol") or "").lower() or None,
        "type": "ipv6" if val(d, "SourceIsIpv6") == "true" else "ipv4",
        "direction": None if initiated is None else ("egress" if initiated == "true" else "ingress"),
    }
    return merge(image(d), ends, {"network": network})


def sysmon_image_load(d: Data) -> Fields:
    loaded = merge(file_fields(val(d, "ImageLoaded")), {"hash": hashes(val(d, "Hashes"))})
    return merge(image(d), {"file": loaded})


def sysmon_source_process(d: Data) -> Fields:
    return image(d, prefix="Source")


def sysmon_file(d: Data) -> Fields:
    return merge(image(d), {"file": file_fields(val(d, "TargetFilename"))})


_HIVES = {"\\REGISTRY\\MACHINE": "HKLM", "\\REGISTRY\\USER": "HKU"}
_REG_ACTIONS = {
    "CreateKey": "registry-key-created", "DeleteKey": "registry-key-deleted",
    "SetValue": "registry-value-set", "DeleteValue": "registry-value-deleted",
    "RenameKey": "registry-key-renamed",
}  # fmt: skip


def _native_key(path: str) -> str:
    for native, hive in _HIVES.items():
        if path.upper().startswith(native):
            return hive + path[len(native) :]
    return path


def registry_fields(path: str | None, is_value: bool = False, details: str | None = None) -> Fields:
    if not path:
        return {}
    hive, _, rest = path.partition("\\")
    key, value = rest, None
    if is_value:
        key, _, value = rest.rpartition("\\")
    data: Fields | None = None
    if details is not None:
        typed = re.match(r"(DWORD|QWORD) \((0x[0-9a-fA-F]+)\)", details)
        kind = f"REG_{typed.group(1)}" if typed else "REG_BINARY" if details == "Binary Data" else "REG_SZ"
        data = {"type": kind, "strings": [str(int(typed.group(2), 16)) if typed else details]}
    return {"path": path, "hive": hive or None, "key": key or None, "value": value, "data": data}


def sysmon_registry(d: Data) -> Fields:
    kind = val(d, "EventType")
    is_value = kind in {"SetValue", "DeleteValue"}
    fields = {"registry": registry_fields(val(d, "TargetObject"), is_value, val(d, "Details"))}
    return merge(image(d), fields, {"event": {"action": _REG_ACTIONS.get(kind or "")}})


def sysmon_dns(d: Data) -> Fields:
    answers = [ip(item) for item in re.split(r"[;\s]+", val(d, "QueryResults") or "")]
    dns = {"question": {"name": val(d, "QueryName")}, "resolved_ip": [a for a in answers if a]}
    return merge(image(d), {"dns": dns})


# --- builders: PowerShell, Defender, Remote Desktop ---------------------------------------------


def ps_pipeline(d: Data) -> Fields:  # 4103
    info = _key_values(val(d, "ContextInfo") or "", " = ")
    command = info.get("Host Application") or None
    proc = process_fields(executable_of(command), None, command_line=command)
    return merge(_user(info.get("User")), {"process": proc})


def ps_script_block(d: Data) -> Fields:  # 4104
    return {"file": file_fields(val(d, "Path"))}


def ps_classic(d: Data) -> Fields:  # Windows PowerShell 400/403/600/800
    texts = d.get("Data")
    text = "\n".join(texts) if isinstance(texts, list) else str(texts or "")
    info = _key_values(text, "=")
    command = info.get("HostApplication") or None
    proc = process_fields(executable_of(command), None, command_line=command)
    return merge(_user(info.get("UserId")), {"process": proc})


def defender_threat(d: Data) -> Fields:
    paths = [p.strip() for p in (val(d, "Path") or "").split(";")]
    path = next((p.removeprefix("file:_") for p in paths if p.startswith("file:_")), None)
    process_name = val(d, "Process Name")
    labels = {"threat_name": val(d, "Threat Name"), "threat_severity": val(d, "Severity Name"),
              "threat_category": val(d, "Category Name"), "threat_action": val(d, "Action Name")}  # fmt: skip
    executable = process_name if process_name and process_name.lower() != "unknown" else None
    return merge(_user(val(d, "Detection User")), {
        "event": {"kind": "alert"}, "labels": labels, "file": file_fields(path),
        "process": process_fields(executable, None),
    })  # fmt: skip


def rdp_auth(d: Data) -> Fields:  # 1149
    user = {"name": val(d, "Param1"), "domain": val(d, "Param2")}
    return {"user": user, "source": {"ip": ip(val(d, "Param3"))}}


def rdp_connection(d: Data) -> Fields:  # RdpCoreTS 131: ClientIP "10.0.0.1:50123" / "[::1]:50123"
    host, _, client_port = (val(d, "ClientIP") or "").rpartition(":")
    return {"source": {"ip": ip(host), "port": port(client_port)},
            "network": {"transport": (val(d, "ConnType") or "").lower() or None}}  # fmt: skip


# --- builders: OpenSSH for Windows, SQL Server --------------------------------------------------


def openssh(d: Data) -> Fields:  # OpenSSH/Operational 4: sshd's syslog line in `payload`
    program = val(d, "process") or "sshd"
    fields = linux_auth.message_fields(program, val(d, "payload") or "") or {}
    fields.pop("related", None)  # rebuilt from user/source by the Windows parser
    return merge(fields, {"process": {"name": program}})


_SQL_AUDIT_LINE = re.compile(r"([a-z_]+):(.*)")
_SQL_CLIENT = re.compile(r"\[CLIENT: ([^\]]+)\]")
_SQL_ADDRESS = re.compile(r"<address>([^<]+)</address>")
# 33205 action_id → (event.action, outcome) of a login; other actions stay `sql-audit` records.
_SQL_LOGINS = {"LGIF": ("logon-failed", "failure"), "LGIS": ("logged-in", "success")}
_SQL_OUTCOMES = {"true": "success", "false": "failure"}


def sql_audit_record(text: str) -> dict[str, str]:
    """33205's one Data text, `key:value` per line (a `statement` may span lines) → {key: value}."""
    out: dict[str, str] = {}
    key = None
    for line in text.split("\n"):
        m = _SQL_AUDIT_LINE.fullmatch(line.rstrip("\r"))
        if m and m.group(1) not in out:
            key = m.group(1)
            out[key] = m.group(2)
        elif key is not None:
            out[key] += "\n" + line
    return {k: v.strip() for k, v in out.items()}


def _sql_client(*texts: str | None) -> str | None:
    for text in texts:
        m = _SQL_ADDRESS.search(text or "") or _SQL_CLIENT.search(text or "")
        if m and ip(m.group(1)):
            return ip(m.group(1))
    return None


def mssql_audit(d: Data) -> Fields:  # 33205: an SQL Server Audit record
    texts = d.get("Data")
    rec = sql_audit_record("\n".join(texts) if isinstance(texts, list) else str(texts or ""))
    action_id = rec.get("action_id") or ""
    name, domain = account(rec.get("server_principal_name") or None)
    statement = rec.get("statement") or None
    event: Fields = {"outcome": _SQL_OUTCOMES.get(rec.get("succeeded", ""))}
    if action_id in _SQL_LOGINS:
        action, outcome = _SQL_LOGINS[action_id]
        event = {"action": action, "category": ["authentication"], "type": ["start"], "outcome": outcome}
        if outcome == "failure" and statement:
            event["reason"] = statement.partition(" Reason: ")[2].partition(" [CLIENT")[0] or None
    labels = {"sql_action_id": action_id or None, "sql_class_type": rec.get("class_type") or None,
              "sql_instance": rec.get("server_instance_name") or None, "sql_database": rec.get("database_name") or None,
              "sql_object": rec.get("object_name") or None}  # fmt: skip
    return {"event": event, "user": {"name": name, "domain": domain}, "labels": labels,
            "source": {"ip": _sql_client(rec.get("additional_information"), statement)}}  # fmt: skip


def mssql_login_failed(d: Data) -> Fields:  # 18456: Data = [user, " Reason: …", " [CLIENT: ip]"]
    texts = d.get("Data")
    parts = [str(t) for t in texts] if isinstance(texts, list) else [str(texts or "")]
    name, domain = account(parts[0].strip() or None)
    reason = next((p.strip().removeprefix("Reason: ") for p in parts[1:] if "Reason:" in p), None)
    return {"user": {"name": name, "domain": domain}, "source": {"ip": _sql_client(*parts[1:])},
            "event": {"outcome": "failure", "reason": reason}}  # fmt: skip


# --- the tables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    action: str
    category: Category
    ecs: str  # "event.category,...:event.type,..."
    build: Builder | None = None


U, S, N = Category.USER, Category.SYSTEM, Category.NETWORK


def _group(category: Category, ecs: str, build: Builder, actions: dict[str, str]) -> dict[str, Spec]:
    return {event_id: Spec(action, category, ecs, build) for event_id, action in actions.items()}


SECURITY: dict[str, Spec] = {
    "4624": Spec("logged-in", U, "authentication:start", logon),
    "4625": Spec("logon-failed", U, "authentication:start", logon_failed),
    "4634": Spec("logged-out", U, "authentication:end", logon),
    "4647": Spec("logged-out", U, "authentication:end", logon),
    "4648": Spec("logged-in-explicit", U, "authentication:start", explicit_logon),
    "4656": Spec("object-handle-requested", U, "file:access", object_access),
    "4663": Spec("object-accessed", U, "file:access", object_access),
    "4672": Spec("logged-in-special", U, "iam:admin", subject),
    "4688": Spec("process-created", S, "process:start", process_created),
    "4697": Spec("service-installed", S, "configuration:creation", service_security),
    "4719": Spec("audit-policy-changed", S, "configuration:change", subject),
    "4740": Spec("user-account-locked-out", U, "iam:user,change", locked_out),
    "4768": Spec("kerberos-ticket-requested", U, "authentication:start", kerberos),
    "4769": Spec("kerberos-service-ticket-requested", U, "authentication:start", kerberos),
    "4771": Spec("kerberos-preauth-failed", U, "authentication:start", kerberos),
    "4776": Spec("credential-validated", U, "authentication:start", credential_validation),
    "4781": Spec("user-account-renamed", U, "iam:user,change", renamed),
    "5140": Spec("network-share-accessed", U, "file,network:access", share),
    "5145": Spec("network-share-object-checked", U, "file,network:access", share),
    "6416": Spec("device-recognized", S, "host:info", device),
    "1102": Spec("audit-log-cleared", S, "configuration:deletion", subject),
    **_group(S, "configuration:change", subject, {
        "4698": "scheduled-task-created", "4699": "scheduled-task-deleted", "4700": "scheduled-task-enabled",
        "4701": "scheduled-task-disabled", "4702": "scheduled-task-updated"}),
    **_group(U, "iam:user,change", target_as_target, {
        "4720": "user-account-created", "4722": "user-account-enabled", "4723": "password-change-attempted",
        "4724": "password-reset-attempted", "4725": "user-account-disabled", "4726": "user-account-deleted",
        "4738": "user-account-changed", "4767": "user-account-unlocked"}),
    **_group(U, "iam:group,change", group_member, {
        "4728": "added-member-to-group", "4732": "added-member-to-group", "4756": "added-member-to-group",
        "4729": "removed-member-from-group", "4733": "removed-member-from-group",
        "4757": "removed-member-from-group"}),
    **_group(U, "iam:group,change", group_change, {
        "4727": "group-created", "4731": "group-created", "4754": "group-created", "4730": "group-deleted",
        "4734": "group-deleted", "4758": "group-deleted", "4735": "group-changed", "4737": "group-changed",
        "4755": "group-changed"}),
}  # fmt: skip

SYSTEM: dict[str, Spec] = {
    "104": Spec("log-cleared", S, "configuration:deletion", subject),
    "7045": Spec("service-installed", S, "configuration:creation", service_system),
    "7036": Spec("service-state-changed", S, "process:change", service_system),
    "7040": Spec("service-start-type-changed", S, "configuration:change", service_system),
}

SYSMON: dict[str, Spec] = {
    "1": Spec("process-created", S, "process:start", sysmon_process),
    "3": Spec("network-connection", N, "network:connection,start", sysmon_network),
    "5": Spec("process-terminated", S, "process:end", image),
    "6": Spec("driver-loaded", S, "driver:start", sysmon_image_load),
    "7": Spec("image-loaded", S, "library:start", sysmon_image_load),
    "8": Spec("remote-thread-created", S, "process:change", sysmon_source_process),
    "10": Spec("process-accessed", S, "process:access", sysmon_source_process),
    "11": Spec("file-created", S, "file:creation", sysmon_file),
    "12": Spec("registry-key-changed", S, "registry:change", sysmon_registry),
    "13": Spec("registry-value-set", S, "registry:change", sysmon_registry),
    "14": Spec("registry-key-renamed", S, "registry:change", sysmon_registry),
    "15": Spec("file-stream-created", S, "file:creation", sysmon_file),
    "22": Spec("dns-query", N, "network:protocol,info", sysmon_dns),
    "23": Spec("file-deleted", S, "file:deletion", sysmon_file),
    "26": Spec("file-deleted", S, "file:deletion", sysmon_file),
}

POWERSHELL: dict[str, Spec] = {
    "4103": Spec("pipeline-executed", S, "process:info", ps_pipeline),
    "4104": Spec("script-block-logged", S, "process:info", ps_script_block),
    **_group(S, "process:info", ps_classic, {
        "400": "engine-started", "403": "engine-stopped", "600": "provider-started",
        "800": "pipeline-executed"}),
}  # fmt: skip

DEFENDER: dict[str, Spec] = {
    "1116": Spec("malware-detected", S, "malware,intrusion_detection:info", defender_threat),
    "1117": Spec("malware-action-taken", S, "malware,intrusion_detection:info", defender_threat),
}

REMOTE_DESKTOP: dict[str, Spec] = {
    "1149": Spec("remote-desktop-authenticated", U, "authentication:start", rdp_auth),
    "131": Spec("remote-desktop-connection-accepted", N, "network:connection,start", rdp_connection),
}

OPENSSH: dict[str, Spec] = {
    # event.category/type/action come from the sshd line (linux_auth), as for syslog.
    "4": Spec("sshd-message", U, ":", openssh),
}

MSSQL: dict[str, Spec] = {
    "33205": Spec("sql-audit", U, ":", mssql_audit),  # logins (LGIF/LGIS) turn it into authentication
    "18456": Spec("logon-failed", U, "authentication:start", mssql_login_failed),
}

SPECS: dict[str, dict[str, Spec]] = {
    "security": SECURITY, "system": SYSTEM, "sysmon": SYSMON, "powershell": POWERSHELL,
    "defender": DEFENDER, "rdp": REMOTE_DESKTOP, "openssh": OPENSSH, "mssql": MSSQL,
}  # fmt: skip
DEFAULT_CATEGORY = {"security": U, "rdp": U, "openssh": U}
# Families whose logging process (System/Execution) *is* the subject: PowerShell logs itself.
SELF_LOGGING = {"powershell"}


_FAMILY_NEEDLES = (("sysmon", "sysmon"), ("powershell", "powershell"), ("defender", "defender"),
                   ("terminalservices-remoteconnectionmanager", "rdp"), ("rdpcorets", "rdp"),
                   ("openssh", "openssh"))  # fmt: skip


def family(channel: str | None, provider: str | None) -> str:
    text = f"{channel or ''}|{provider or ''}".lower()
    if (channel or "").lower() == "security":
        return "security"
    lprovider = (provider or "").lower()
    # default instance, its audit source (SigmaHQ's win_mssql_destructive_query names it), named instances
    if lprovider in ("mssqlserver", "mssqlserver$audit") or lprovider.startswith("mssql$"):
        return "mssql"
    for needle, name in _FAMILY_NEEDLES:
        if needle in text:
            return name
    return "system" if (channel or "").lower() == "system" else "other"


def spec_for(family_name: str, event_id: str) -> Spec | None:
    return SPECS.get(family_name, {}).get(event_id)


def generic(d: Data) -> Fields:
    """Unmapped events: at least the acting account when the event names one."""
    return subject(d) if "SubjectUserName" in d else {}
