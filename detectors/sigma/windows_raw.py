"""A raw Windows record as evtx_dump writes it (`{"Event": {"System": …, "EventData"|"UserData": …}}`)
→ the ECS document shape Vigil's Windows parser produces (`winlog.*`, `host.name`, `log.level`).

Only what the Sigma field view reads is built, with the same conventions as `ingest.parsers.windows`:
event data keeps its original names with text values (null → ""), unnamed `<Data>` becomes `Data`,
`UserData` is flattened from its single child element, System keywords become their names.
The regression runner and tests feed raw samples through here, then through the very same view as
stream events, so a sample exercises the production mapping.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_LEVELS = {"0": "information", "1": "critical", "2": "error", "3": "warning", "4": "information",
           "5": "verbose"}  # fmt: skip
_KEYWORD_BITS = ((0x0010000000000000, "Audit Failure"), (0x0020000000000000, "Audit Success"),
                 (0x0080000000000000, "Classic"))  # fmt: skip


def is_raw_windows(doc: Mapping[str, Any]) -> bool:
    event = doc.get("Event")
    return isinstance(event, Mapping) and isinstance(event.get("System"), Mapping)


def raw_windows_document(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ECS-shaped document of one nested EVTX JSON record."""
    event = doc["Event"]
    system = event["System"]
    provider = _attrs(system.get("Provider"))
    execution = _attrs(system.get("Execution"))
    security = _attrs(system.get("Security"))
    if "UserData" in event and event["UserData"] is not None:
        data = _user_data(event["UserData"])
    else:
        data = _event_data(event.get("EventData"))
    level = _text(system.get("Level"))
    return {
        "winlog": {
            "channel": _scalar(_text(system.get("Channel"))),
            "provider_name": provider.get("Name"),
            "event_id": _scalar(_text(system.get("EventID"))),
            "record_id": _text(system.get("EventRecordID")),
            "computer_name": _scalar(_text(system.get("Computer"))),
            "task": _scalar(_text(system.get("Task"))),
            "opcode": _scalar(_text(system.get("Opcode"))),
            "keywords": _keywords(_text(system.get("Keywords"))),
            "process": {"pid": execution.get("ProcessID"), "thread_id": execution.get("ThreadID")},
            "event_data": data,
        },
        "host": {"name": _scalar(_text(system.get("Computer")))},
        "user": {"id": security.get("UserID")} if security.get("UserID") else None,
        "log": {"level": _LEVELS.get(_scalar(level)) if level is not None else None},
        "message": None,
        "event": {"code": _scalar(_text(system.get("EventID")))},
    }


def _event_data(node: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if node is None:
        return out
    if not isinstance(node, Mapping):
        _unnamed(out, node)
        return out
    for key, value in node.items():
        if key in ("#attributes", "xmlns") or key.startswith("@"):
            continue
        if key in ("Data", "#text"):
            _data(out, value)
        else:
            _put(out, key, value)
    return out


def _user_data(node: Any) -> dict[str, Any]:
    if isinstance(node, Mapping):
        children = [v for k, v in node.items() if k != "#attributes" and not k.startswith("@")]
        if len(children) == 1 and isinstance(children[0], Mapping):
            return _event_data(children[0])
    return _event_data(node)


def _data(out: dict[str, Any], value: Any) -> None:
    """`Data` as evtx_dump writes it: a scalar, a `#text` list, or named items (`@Name` / `#attributes`)."""
    items = value if isinstance(value, list) else [value]
    unnamed: list[Any] = []
    for item in items:
        name = _attrs(item).get("Name") if isinstance(item, Mapping) else None
        if isinstance(item, Mapping) and name is None:
            name = item.get("@Name")
        if name:
            out[str(name)] = _value(_text(item))
        else:
            text = _text(item)
            unnamed.extend(text if isinstance(text, list) else [text])
    if unnamed:
        _unnamed(out, unnamed)


def _unnamed(out: dict[str, Any], values: Any) -> None:
    texts = [_scalar(v) for v in (values if isinstance(values, list) else [values])]
    out["Data"] = texts[0] if len(texts) == 1 else texts


def _put(out: dict[str, Any], key: str, value: Any, prefix: str = "") -> None:
    if isinstance(value, Mapping) and "#text" not in value:
        for name, item in _attrs(value).items():
            if name != "xmlns":
                out[f"{prefix}{key}_{name}"] = _scalar(item)
        for child, item in value.items():
            if child != "#attributes":
                _put(out, child.lstrip("@"), item, prefix=f"{prefix}{key}_")
        return
    out[prefix + key] = _value(_text(value))


def _attrs(node: Any) -> dict[str, Any]:
    if isinstance(node, Mapping):
        attrs = node.get("#attributes")
        if isinstance(attrs, Mapping):
            return dict(attrs)
        return {k[1:]: v for k, v in node.items() if k.startswith("@")}
    return {}


def _text(node: Any) -> Any:
    if isinstance(node, Mapping):
        if "#text" in node:
            return node["#text"]
        return None if "#attributes" in node or any(k.startswith("@") for k in node) else node
    return node


def _value(value: Any) -> Any:
    return [_scalar(v) for v in value] if isinstance(value, list) else _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        text = _text(value)
        return _scalar(text) if text is not value else json.dumps(value, separators=(",", ":"))
    if isinstance(value, list):
        return "\n".join(_scalar(v) for v in value)
    return str(value)


def _keywords(value: Any) -> list[str]:
    if value is None:
        return []
    try:
        bits = int(str(value), 0)
    except ValueError:
        return [str(value)]
    return [name for bit, name in _KEYWORD_BITS if bits & bit]
