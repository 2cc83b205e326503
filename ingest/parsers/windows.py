"""Windows event log records → ECS events.

One JSON object per record, in the shapes seen in the wild:

- **nested EVTX**: ``{"Event": {"System": {...}, "EventData"|"UserData": {...}}}`` as written by
  evtx_dump (``#attributes``/``#text``), xmltodict (``@Name``), or ``ingest.collectors.windows_files``;
  the ``Event`` wrapper may be missing; ``EventData`` may be a dict or a list of ``Data`` items;
- **winlogbeat / Elastic Agent** documents (``winlog.event_id``, ``winlog.event_data``, also with
  dotted keys) and legacy winlogbeat 6 (``event_id``, ``log_name``, ``event_data``);
- **flat** NXLog/Mordor exports (``EventID``, ``Channel``, ``Hostname``, ``EventTime``, the event
  data at the top level) and ``Get-WinEvent | ConvertTo-Json`` (``Id``, ``LogName``, ``MachineName``).

The event data keeps its original names (``TargetUserName``, ``CommandLine``...) with string values
in ``winlog.event_data`` for Sigma; the ECS mapping per event id lives in ``windows_fields``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers import windows_fields as wf
from ingest.parsers.base import ParseContext, build_event

PARSER = "windows"

_LEVELS = {"0": "information", "1": "critical", "2": "error", "3": "warning", "4": "information",
           "5": "verbose"}  # fmt: skip
_KEYWORD_BITS = (
    (0x0001000000000000, "Response Time"), (0x0002000000000000, "WDI Context"),
    (0x0004000000000000, "WDI Diag"), (0x0008000000000000, "SQM"),
    (0x0010000000000000, "Audit Failure"), (0x0020000000000000, "Audit Success"),
    (0x0040000000000000, "Correlation Hint"), (0x0080000000000000, "Classic"),
)  # fmt: skip
# Flat exports: keys that describe the record, not the event data (NXLog, Logstash, PowerShell).
_FLAT_SYSTEM_KEYS = {
    "EventID", "EventId", "Id", "Channel", "LogName", "SourceName", "ProviderName", "Provider", "Hostname",
    "Computer", "MachineName", "RecordNumber", "EventRecordID", "RecordId", "EventTime", "TimeCreated",
    "@timestamp", "EventReceivedTime", "Task", "Opcode", "OpcodeValue", "OpcodeDisplayName",
    "TaskDisplayName", "Keywords", "KeywordsDisplayNames", "ExecutionProcessID", "ProcessID", "ThreadID",
    "ExecutionThreadID",
    "UserID", "UserId", "Message", "Severity", "SeverityValue", "Level", "LevelDisplayName", "EventType",
    "ProviderGuid", "ProviderId", "Version", "ActivityID", "ActivityId", "RelatedActivityID", "Category",
    "Domain", "AccountType", "SourceModuleName", "SourceModuleType", "@version", "host", "port", "tags",
    "type", "beat", "agent", "ecs", "log", "input", "fields", "Qualifiers", "ContainerLog", "MatchedQueryIds",
    "Bookmark", "Properties", "EventData", "UserData",
}  # fmt: skip

_LEGACY_KEYS = {  # winlogbeat 6 name → winlogbeat 7+ name under `winlog`
    "event_id": "event_id", "log_name": "channel", "source_name": "provider_name",
    "computer_name": "computer_name", "record_number": "record_id", "task": "task", "opcode": "opcode",
    "keywords": "keywords", "user": "user", "event_data": "event_data", "user_data": "user_data",
}  # fmt: skip


@dataclass
class _Record:
    event_id: str
    channel: str | None = None
    provider: str | None = None
    computer: str | None = None
    record_id: Any = None
    times: list[tuple[Any, bool]] = field(default_factory=list)  # (value, naive means UTC)
    task: Any = None
    opcode: Any = None
    keywords: list[str] = field(default_factory=list)
    level: Any = None
    pid: Any = None
    tid: Any = None
    user_sid: str | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def parse_windows(raw: str, ctx: ParseContext) -> EcsEvent:
    """Parse one Windows event (JSON, any shape above) into an ECS event; ParseError if not one."""
    record = _record(_load(raw))
    timestamp, time_tag = _timestamp(record, ctx)
    family = wf.family(record.channel, record.provider)
    spec = wf.spec_for(family, record.event_id)
    build = spec.build if spec and spec.build else (wf.image if family == "sysmon" else wf.generic)
    mapped = build(record.data)
    categories, _, types = (spec.ecs if spec else ":").partition(":")
    event = {
        "code": record.event_id,
        "provider": record.provider,
        "action": spec.action if spec else None,
        "category": [c for c in categories.split(",") if c],
        "type": [t for t in types.split(",") if t],
        "outcome": _outcome(record.keywords) if family == "security" else None,
    }
    winlog = {
        "channel": record.channel, "provider_name": record.provider, "event_id": record.event_id,
        "record_id": _int(record.record_id), "computer_name": record.computer, "task": _str(record.task),
        "opcode": _str(record.opcode), "keywords": record.keywords, "event_data": record.data,
        "process": {"pid": _int(record.pid), "thread_id": _int(record.tid)},
    }  # fmt: skip
    fields = wf.merge(
        {"event": event, "host": {"name": record.computer}, "winlog": winlog, "message": record.message,
         "log": {"level": _level(record.level)}, "tags": [time_tag] if time_tag else []},
        mapped,
    )  # fmt: skip
    if family in wf.SELF_LOGGING:
        fields = wf.merge({"process": {"pid": _int(record.pid)}, "user": {"id": record.user_sid}}, fields)
    fields["related"] = _related(fields)
    category = spec.category if spec else wf.DEFAULT_CATEGORY.get(family, Category.SYSTEM)
    return build_event(
        ctx, parser=PARSER, category=category, timestamp=timestamp, raw=raw,
        dataset=_dataset(record.channel), **_prune(fields),
    )  # fmt: skip


def is_nested_record(doc: Mapping[str, Any]) -> bool:
    """An evtx_dump record (`{"Event": {"System": …}}`), as SigmaHQ's regression samples are written."""
    event = doc.get("Event")
    return isinstance(event, Mapping) and isinstance(event.get("System"), Mapping)


# --- shapes --------------------------------------------------------------------------------------


def _load(raw: str) -> dict[str, Any]:
    text = raw.strip().lstrip("\ufeff")
    if not text:
        raise ParseError("windows: empty record")
    if text.startswith(("evtx-record-base64:", "evtx-chunk-error:")):  # see ingest.collectors.windows_files
        raise ParseError(f"windows: damaged EVTX record that python-evtx cannot render ({text[:60]}...)")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"windows: record is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "expected one JSON object per record (evtx_dump JSONL, winlogbeat or NXLog JSON)"
        ) from exc
    if not isinstance(doc, dict):
        raise ParseError(f"windows: expected a JSON object per record, got a JSON {type(doc).__name__}")
    return doc


def _record(doc: dict[str, Any]) -> _Record:
    event = doc["Event"] if isinstance(doc.get("Event"), dict) else doc
    if "System" in event:
        if not isinstance(event["System"], dict):
            raise ParseError(f"windows: Event.System must be an object, got {type(event['System']).__name__}")
        return _from_nested(event)
    if "winlog" not in doc and any(key.startswith("winlog.") for key in doc):
        doc = _unflatten(doc)
    if isinstance(doc.get("winlog"), dict):
        return _from_winlogbeat(doc)
    if "event_id" in doc and ({"log_name", "source_name", "computer_name"} & doc.keys()):
        return _from_winlogbeat(_legacy_winlogbeat(doc))
    if {"EventID", "EventId"} & doc.keys() or ("Id" in doc and {"LogName", "ProviderName"} & doc.keys()):
        return _from_flat(doc)
    raise ParseError(
        "windows: JSON object has no Windows event id (looked for Event.System.EventID, winlog.event_id, "
        f"event_id, EventID); top-level keys: {', '.join(sorted(doc)[:12])}"
    )


def _from_nested(event: dict[str, Any]) -> _Record:
    system = event["System"]
    provider = system.get("Provider")
    record = _Record(
        event_id=_event_id(_text(system.get("EventID"))),
        channel=_str(_text(system.get("Channel"))),
        provider=_str(_attr(provider, "Name") or _attr(provider, "EventSourceName") or _text(provider)),
        computer=_str(_text(system.get("Computer"))),
        record_id=_text(system.get("EventRecordID")),
        times=[(_attr(system.get("TimeCreated"), "SystemTime"), True)],
        task=_text(system.get("Task")),
        opcode=_text(system.get("Opcode")),
        keywords=_keywords(_text(system.get("Keywords"))),
        level=_text(system.get("Level")),
        pid=_attr(system.get("Execution"), "ProcessID"),
        tid=_attr(system.get("Execution"), "ThreadID"),
        user_sid=_str(_attr(system.get("Security"), "UserID")),
        data={**_data_section(event.get("EventData")), **_user_data(event.get("UserData"))},
    )
    rendering = event.get("RenderingInfo")
    if isinstance(rendering, dict):  # forwarded events in RenderedText format
        record.message = _str(_text(rendering.get("Message")))
        record.task = _text(rendering.get("Task")) or record.task
        record.opcode = _text(rendering.get("Opcode")) or record.opcode
        names = rendering.get("Keywords")
        names = names.get("Keyword") if isinstance(names, dict) else None
        if names:
            record.keywords = [str(_text(n)) for n in (names if isinstance(names, list) else [names])]
    _add_utc_time(record)
    return record


def _from_winlogbeat(doc: dict[str, Any]) -> _Record:
    winlog = doc["winlog"]
    host, event, log = _obj(doc.get("host")), _obj(doc.get("event")), _obj(doc.get("log"))
    proc, user = _obj(winlog.get("process")), _obj(winlog.get("user"))
    thread = _obj(proc.get("thread"))
    record = _Record(
        event_id=_event_id(winlog.get("event_id", event.get("code"))),
        channel=_str(winlog.get("channel")),
        provider=_str(winlog.get("provider_name") or event.get("provider")),
        computer=_str(winlog.get("computer_name") or host.get("name") or host.get("hostname")),
        record_id=winlog.get("record_id"),
        times=[(doc.get("@timestamp"), True), (event.get("created"), True)],
        task=winlog.get("task"),
        opcode=winlog.get("opcode"),
        keywords=_keywords(winlog.get("keywords")),
        level=log.get("level"),
        pid=proc.get("pid"),
        tid=thread.get("id", proc.get("thread.id")),
        user_sid=_str(user.get("identifier")),
        message=_str(doc.get("message")),
        data={**_data_section(winlog.get("event_data")), **_data_section(winlog.get("user_data"))},
    )
    _add_utc_time(record)
    return record


def _from_flat(doc: dict[str, Any]) -> _Record:
    def first(*keys: str) -> Any:
        return next((doc[key] for key in keys if doc.get(key) not in (None, "")), None)

    if isinstance(doc.get("EventData"), (dict, list)):
        data = {**_data_section(doc.get("EventData")), **_user_data(doc.get("UserData"))}
    else:
        data = _data_section({k: v for k, v in doc.items() if k not in _FLAT_SYSTEM_KEYS})
    host = doc.get("host")
    keywords = _keywords(first("Keywords"))
    audit = str(doc.get("EventType") or "").upper()
    if audit in {"AUDIT_SUCCESS", "AUDIT_FAILURE"} and not {"Audit Success", "Audit Failure"} & set(keywords):
        keywords.append("Audit Success" if audit == "AUDIT_SUCCESS" else "Audit Failure")
    provider = first("SourceName", "ProviderName", "Provider")
    record = _Record(
        event_id=_event_id(first("EventID", "EventId", "Id")),
        channel=_str(first("Channel", "LogName")),
        provider=_str(_attr(provider, "Name") or _text(provider)),
        computer=_str(first("Hostname", "Computer", "MachineName") or _str(host)),
        record_id=first("RecordNumber", "EventRecordID", "RecordId"),
        # NXLog's EventTime is the host's local time; @timestamp and TimeCreated are UTC when naive.
        times=[(_attr(doc.get("TimeCreated"), "SystemTime") or _text(doc.get("TimeCreated")), True),
               (doc.get("@timestamp"), True), (doc.get("EventTime"), False)],
        task=first("TaskDisplayName", "Category", "Task"),
        opcode=first("OpcodeDisplayName", "Opcode", "OpcodeValue"),
        keywords=keywords,
        level=first("Level", "LevelDisplayName", "Severity"),  # NXLog's SeverityValue is another scale
        pid=first("ExecutionProcessID", "ProcessID"),
        tid=first("ExecutionThreadID", "ThreadID"),
        user_sid=_str(first("UserID", "UserId")),
        message=_str(first("Message")),
        data=data,
    )  # fmt: skip
    _add_utc_time(record)
    return record


def _legacy_winlogbeat(doc: dict[str, Any]) -> dict[str, Any]:
    """winlogbeat 6 (`log_name`, `event_data`...) → the winlogbeat 7+ layout."""
    winlog = {new: doc[old] for old, new in _LEGACY_KEYS.items() if old in doc}
    winlog["process"] = {"pid": doc.get("process_id"), "thread": {"id": doc.get("thread_id")}}
    return {**doc, "winlog": winlog, "log": {"level": doc.get("level")}}


def _unflatten(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        node = out
        *parents, leaf = key.split(".") if key.startswith(("winlog.", "event.", "host.", "log.")) else [key]
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


# --- event data ----------------------------------------------------------------------------------


def _data_section(node: Any) -> dict[str, Any]:
    """EventData (dict, list of Data items, or text) → {original name: string or list of strings}.

    Unnamed ``<Data>`` elements become ``Data`` (one string, or a list), the name Sigma rules use.
    """
    out: dict[str, Any] = {}
    if node is None:
        return out
    if not isinstance(node, dict):
        _add_data(out, node)
        return out
    for key, value in node.items():
        if key in ("#attributes", "xmlns") or key.startswith("@"):
            continue
        if key in ("Data", "#text"):
            _add_data(out, value)
        else:
            _put(out, key, value)
    return out


def _user_data(node: Any) -> dict[str, Any]:
    """UserData holds one provider-specific element (LogFileCleared, EventXML...): flatten its fields."""
    if isinstance(node, dict):
        children = [v for k, v in node.items() if k != "#attributes" and not k.startswith("@")]
        if len(children) == 1 and isinstance(children[0], dict):
            return _data_section(children[0])
    return _data_section(node)


def _add_data(out: dict[str, Any], value: Any) -> None:
    unnamed: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        name = _attr(item, "Name")
        if name:
            text = next((item[k] for k in ("#text", "$", "Value", "value") if k in item), None)
            out[str(name)] = _value(text)
        else:
            text = _text(item)
            unnamed.extend(text if isinstance(text, list) else [text])
    if unnamed:
        values = [_scalar(v) for v in unnamed]
        out["Data"] = values[0] if len(values) == 1 else values


def _put(out: dict[str, Any], key: str, value: Any, prefix: str = "") -> None:
    if isinstance(value, dict) and "#text" not in value and "$" not in value:
        for name, item in _obj(value.get("#attributes")).items():
            if name != "xmlns":
                out[f"{prefix}{key}_{name}"] = _scalar(item)
        for child, item in value.items():
            if child.startswith("@"):
                out[f"{prefix}{key}_{child[1:]}"] = _scalar(item)
            elif child != "#attributes":
                _put(out, child, item, prefix=f"{prefix}{key}_")
        return
    out[prefix + key] = _value(_text(value))


def _value(value: Any) -> Any:
    return [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        text = _text(value)
        return _scalar(text) if text is not value else json.dumps(value, separators=(",", ":"))
    if isinstance(value, list):
        return "\n".join(_scalar(v) for v in value)
    return str(value)


def _text(node: Any) -> Any:
    if isinstance(node, dict):
        for key in ("#text", "$"):
            if key in node:
                return node[key]
        return None if "#attributes" in node or any(k.startswith("@") for k in node) else node
    return node


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _attr(node: Any, name: str) -> Any:
    if not isinstance(node, dict):
        return None
    attributes = node.get("#attributes")
    if isinstance(attributes, dict) and attributes.get(name) not in (None, ""):
        return attributes[name]
    return next((node[k] for k in (f"@{name}", name) if node.get(k) not in (None, "")), None)


# --- system fields -------------------------------------------------------------------------------


def _event_id(value: Any) -> str:
    if value is None:
        raise ParseError("windows: the record has no event id (System/EventID is missing or empty)")
    text = str(_text(value)).strip()
    if not text.isdigit():
        raise ParseError(f"windows: event id {value!r} is not a number (expected e.g. 4624)")
    return str(int(text))


def _keywords(value: Any) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    text = str(value).strip()
    try:
        bits = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return [text]
    bits &= 0xFFFFFFFFFFFFFFFF
    names = [name for bit, name in _KEYWORD_BITS if bits & bit]
    return names or [f"0x{bits:016x}"]


def _outcome(keywords: list[str]) -> str | None:
    if "Audit Failure" in keywords:
        return "failure"
    return "success" if "Audit Success" in keywords else None


def _add_utc_time(record: _Record) -> None:
    """Sysmon's UtcTime (naive UTC) is the last resort when the record carries no time of its own."""
    record.times.append((record.data.get("UtcTime"), True))


def _timestamp(record: _Record, ctx: ParseContext) -> tuple[datetime, str | None]:
    unreadable = []
    for value, naive_is_utc in record.times:
        if value in (None, ""):
            continue
        parsed = _parse_time(value)
        if parsed is None:
            unreadable.append(repr(value))
            continue
        if parsed.tzinfo is None and naive_is_utc:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed, None
    if unreadable:
        raise ParseError(f"windows: unreadable event time {', '.join(unreadable)} (expected ISO 8601)")
    return ctx.received_at, "vigil-time-from-receipt"


def _parse_time(value: Any) -> datetime | None:
    text = str(value).strip()
    epoch = re.fullmatch(r"/Date\((-?\d+)([+-]\d{4})?\)/", text)  # PowerShell ConvertTo-Json
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, UTC)
        if epoch:
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(epoch.group(1)))
        return datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None


def _level(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    return _LEVELS.get(text) or {"info": "information"}.get(text.lower(), text.lower())


def _dataset(channel: str | None) -> str:
    """`Security` → windows.security, `Microsoft-Windows-Sysmon/Operational` → windows.sysmon_operational."""
    slug = (channel or "eventlog").lower().removeprefix("microsoft-windows-")
    return "windows." + (re.sub(r"[^a-z0-9]+", "_", slug).strip("_") or "eventlog")


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list)):
        return None
    text = str(value).strip()
    return text or None


def _int(value: Any) -> int | None:
    text = _str(_text(value))
    return wf.num(text) if text else None


def _related(fields: dict[str, Any]) -> dict[str, list[str]]:
    def get(*path: str) -> Any:
        node: Any = fields
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    ips = [get("source", "ip"), get("destination", "ip"), *(get("dns", "resolved_ip") or [])]
    users = [get("user", "name"), get("user", "target", "name")]
    return {"ip": list(dict.fromkeys(filter(None, ips))), "user": list(dict.fromkeys(filter(None, users)))}


def _prune(value: Any) -> Any:
    """Drop None and empty containers below the top level (winlog.event_data is kept as it is)."""
    if isinstance(value, dict):
        pruned = {k: v if k == "event_data" else _prune(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in (None, {}, []) or k == "event_data"}
    return value
