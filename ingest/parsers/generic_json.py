"""One JSON object per line → ECS, steered by a `JsonFieldMap` (dataset json.generic by default).

The default map understands documents that are already ECS (`@timestamp`, `message`, nested or dotted
ECS objects such as `source.ip`) and the keys applications commonly write (`time`/`ts`, `msg`, `level`,
`user`, `host`, `src_ip`...). A nested ECS object that does not validate against the event model (after
retrying with numbers as text: `"code": 6416`) is not fatal: it is flattened into labels and the event
is tagged `json_ecs_invalid`. No usable timestamp under the default keys: reception time, tag
`json_timestamp_missing`; a configured `timestamp_field` must be present and parse.

Everything not mapped lands in `labels` (flattened dotted keys with `_`, string values), bounded so one
wide document cannot blow up the index: at most MAX_LABELS labels (tag `json_labels_truncated`) and
MAX_LABEL_CHARS per value (tag `json_label_value_truncated`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.parsers.base import ParseContext, build_event

Fields = dict[str, Any]
MAX_LABELS = 50
MAX_LABEL_CHARS = 1024

TIMESTAMP_KEYS = ("@timestamp", "timestamp", "time", "ts", "datetime", "date", "eventTime", "event_time")
MESSAGE_KEYS = ("message", "msg", "log", "text")
COMMON_FIELDS: dict[str, str] = {
    "level": "log.level", "severity": "log.level", "loglevel": "log.level", "lvl": "log.level",
    "logger": "log.logger", "logger_name": "log.logger",
    "user": "user.name", "username": "user.name", "user_name": "user.name", "uid": "user.id",
    "host": "host.name", "hostname": "host.name",
    "src_ip": "source.ip", "source_ip": "source.ip", "client_ip": "source.ip", "remote_addr": "source.ip",
    "src_port": "source.port", "source_port": "source.port",
    "dst_ip": "destination.ip", "dest_ip": "destination.ip", "destination_ip": "destination.ip",
    "dst_port": "destination.port", "dest_port": "destination.port",
    "pid": "process.pid", "process": "process.name", "program": "process.name",
    "method": "http.request.method", "status": "http.response.status_code", "url": "url.original",
    "user_agent": "user_agent.original", "action": "event.action", "outcome": "event.outcome",
}  # fmt: skip
# ECS groups of the event model a document may carry as they are; `vigil` and the envelope are ours.
_PASSTHROUGH = frozenset(EcsEvent.model_fields) - {"timestamp", "message", "vigil", "labels", "tags"}
_EPOCH = re.compile(r"-?\d{9,19}(?:\.\d+)?")


class JsonFieldMap(BaseModel):
    """How to read one kind of JSON log; dotted paths match nested keys or literal dotted keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timestamp_field: str | None = None  # None: the first of TIMESTAMP_KEYS present
    # iso8601, epoch (seconds/ms/us/ns told apart by magnitude), or a strptime format.
    timestamp_format: Literal["iso8601", "epoch"] | str = "iso8601"
    message_field: str | None = None  # None: the first of MESSAGE_KEYS present
    fields: dict[str, str] = Field(default_factory=lambda: dict(COMMON_FIELDS))  # source path -> ECS path
    ecs_passthrough: bool = True  # keep top-level ECS objects (source, user, http...) that validate
    category: Category = Category.SYSTEM
    dataset: str = "json.generic"


DEFAULT_MAP = JsonFieldMap()


def parse_json(raw: str, ctx: ParseContext, field_map: JsonFieldMap | None = None) -> EcsEvent:
    fmap = field_map or DEFAULT_MAP
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
        raise ParseError(f"invalid JSON at {where}: {exc.msg}") from exc
    if not isinstance(doc, dict):
        raise ParseError(f"JSON line is a {type(doc).__name__}, expected an object {{...}}")
    doc = _unflatten(doc)
    tags: list[str] = []
    ts_key, timestamp = _timestamp(doc, fmap, ctx)
    if timestamp is None:
        timestamp = ctx.received_at if ctx.received_at.tzinfo else ctx.received_at.replace(tzinfo=UTC)
        tags.append("json_timestamp_missing")
    msg_key = fmap.message_field or next((k for k in MESSAGE_KEYS if isinstance(doc.get(k), str)), None)
    message = _pop(doc, msg_key) if msg_key and isinstance(_get(doc, msg_key), str) else None
    ecs: Fields = {}
    for src, dst in fmap.fields.items():
        value = _get(doc, src)
        if isinstance(value, str | int | float) and not isinstance(value, bool) and _put(ecs, dst, value):
            _pop(doc, src)
    labels: dict[str, str] = {}
    if isinstance(doc.get("labels"), dict):
        labels.update({k: str(v) for k, v in _flatten(doc.pop("labels")) if v is not None})
    if isinstance(doc.get("tags"), list):
        tags += [str(t) for t in doc.pop("tags")]
    for key in list(doc) if fmap.ecs_passthrough else ():
        if key in _PASSTHROUGH and isinstance(doc[key], dict):
            ecs[key] = _deep_merge(doc.pop(key), ecs.get(key, {}))
    for group in list(ecs):  # a group the model rejects becomes labels instead of a dead letter
        if _valid(group, ecs[group]):
            continue
        if _valid(group, as_text := _numbers_as_text(ecs[group])):  # `"code": 6416` where ECS has text
            ecs[group] = as_text
        else:
            doc[group] = ecs.pop(group)
            tags.append("json_ecs_invalid")
    if ts_key:
        _pop(doc, ts_key)
    for key, value in _flatten(doc):
        if value is not None:
            labels.setdefault(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    labels, cut = _bound(labels)
    tags += cut
    event = ecs.pop("event", {})
    return build_event(ctx, parser="generic_json", category=fmap.category, timestamp=timestamp, raw=raw,
                       dataset=fmap.dataset, message=message if isinstance(message, str) else None,
                       tags=list(dict.fromkeys(tags)), labels=labels, event=event, **ecs)  # fmt: skip


def _timestamp(doc: Fields, fmap: JsonFieldMap, ctx: ParseContext) -> tuple[str | None, datetime | None]:
    """The configured field must be there and parse; the default keys are guesses, so the first that
    parses wins and none parsing means no timestamp (the caller tags the event)."""
    if fmap.timestamp_field:
        value = _get(doc, fmap.timestamp_field)
        if value in (None, ""):
            raise ParseError(f"JSON record has no {fmap.timestamp_field!r} field (the configured timestamp)")
        parsed = _parse_time(value, fmap.timestamp_format)
        if parsed is None:
            shown, fmt = str(value)[:60], fmap.timestamp_format
            raise ParseError(f"JSON field {fmap.timestamp_field!r} = {shown!r} is not a {fmt} timestamp")
        return fmap.timestamp_field, parsed if parsed.tzinfo else parsed.replace(tzinfo=ctx.zone)
    for key in TIMESTAMP_KEYS:
        if (value := _get(doc, key)) not in (None, "") and (parsed := _parse_time(value, "iso8601")):
            return key, parsed if parsed.tzinfo else parsed.replace(tzinfo=ctx.zone)
    return None, None


def _parse_time(value: Any, fmt: str) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip()
    try:
        if _EPOCH.fullmatch(text):
            digits = len(text.split(".")[0].lstrip("-"))
            scale = 0 if digits <= 10 else 3 if digits <= 13 else 6 if digits <= 16 else 9  # s, ms, us, ns
            return datetime.fromtimestamp(float(text) / 10**scale, UTC)
        if fmt == "epoch":
            return None
        if fmt == "iso8601":
            return datetime.fromisoformat(text)
        return datetime.strptime(text, fmt)
    except (ValueError, OverflowError, OSError):
        return None


def _get(doc: Fields, path: str) -> Any:
    if path in doc:
        return doc[path]
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _pop(doc: Fields, path: str) -> Any:
    if path in doc:
        return doc.pop(path)
    head, _, rest = path.partition(".")
    node = doc.get(head)
    if rest and isinstance(node, dict):
        value = _pop(node, rest)
        if not node:
            doc.pop(head)
        return value
    return None


def _put(ecs: Fields, path: str, value: Any) -> bool:
    """Set an ECS path if the model accepts the value there (numbers retried as text: uid 1000)."""
    group, _, rest = path.partition(".")
    if not rest or _get(ecs, path) is not None:
        return False
    for candidate in (value, str(value)):
        single: Fields = {}
        _set(single, rest, candidate)
        if _valid(group, single):
            _set(ecs, path, candidate)
            return True
    return False


def _set(target: Fields, path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target.setdefault(leaf, value)


def _unflatten(doc: Fields) -> Fields:
    """`{"source.ip": ...}` (ECS written with dotted keys) becomes `{"source": {"ip": ...}}`."""
    out: Fields = {}
    for key, value in doc.items():
        head = key.split(".", 1)[0]
        if "." in key and head in _PASSTHROUGH and not isinstance(out.get(head), str | int | float | list):
            _set(out, key, value)
        else:
            out[key] = _deep_merge(value, out[key]) if isinstance(out.get(key), dict) else value
    return out


def _deep_merge(new: Any, base: Any) -> Any:
    if not (isinstance(new, dict) and isinstance(base, dict)):
        return new
    merged = dict(base)
    for key, value in new.items():
        merged[key] = _deep_merge(value, merged[key]) if key in merged else value
    return merged


def _numbers_as_text(value: Any) -> Any:
    """Numbers as strings: the model then takes them both where it wants text and (lax) numbers."""
    if isinstance(value, dict):
        return {k: _numbers_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_text(v) for v in value]
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}_{key}" if prefix else str(key).replace(".", "_"))
    elif prefix:
        yield prefix.replace(".", "_"), value


def _bound(labels: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    tags = []
    if len(labels) > MAX_LABELS:
        labels = dict(list(labels.items())[:MAX_LABELS])
        tags.append("json_labels_truncated")
    if any(len(v) > MAX_LABEL_CHARS for v in labels.values()):
        labels = {k: v[:MAX_LABEL_CHARS] for k, v in labels.items()}
        tags.append("json_label_value_truncated")
    return labels, tags


@cache
def _adapter(group: str) -> TypeAdapter[Any]:
    return TypeAdapter(EcsEvent.model_fields[group].annotation)


def _valid(group: str, value: Any) -> bool:
    if group not in EcsEvent.model_fields:
        return False
    try:
        _adapter(group).validate_python(value)
    except ValidationError:
        return False
    return True
