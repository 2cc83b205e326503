"""The field view: one event seen through Sigma's field names.

Sigma rules name fields the way the log source writes them (`CommandLine`, `TargetUserName`, `c-uri`,
`a0`); Vigil events are ECS. A `FieldView` answers "value of Sigma field X" for one event, with field
names compared case-insensitively (spaces removed, as Sigma writes `Source Name` as `SourceName`).

- Windows events: `winlog.event_data` under its original names, the System fields (`EventID`, `Channel`,
  `Provider_Name`, `Computer`, `Level`, `Keywords`...), plus aliases so process_creation rules work on
  Security 4688 (`Image` = `NewProcessName`...; SigmaHQ's windows-audit mapping) and antivirus rules on
  Defender detections (`Signature` = `ThreatName`).
- Other events: Sigma's taxonomy names resolved lazily from ECS (`fields.py`), then labels, then any
  ECS dotted path (`process.command_line`) so Vigil's own rules may use ECS names.

Values are read once and cached per view, lower-cased once for the default case-insensitive matching.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from core.models.ecs import EcsEvent
from detectors.sigma import fields as ecs_fields
from detectors.sigma import logsources as ls
from detectors.sigma.paths import path
from detectors.sigma.windows_raw import is_raw_windows, raw_windows_document

Text = str | tuple[str, ...]
_MISSING: Any = object()
_LEVEL_NUMBERS = {"critical": "1", "error": "2", "warning": "3", "information": "4", "verbose": "5"}
_INTEGRITY = {"s-1-16-0": "Untrusted", "s-1-16-4096": "Low", "s-1-16-8192": "Medium", "s-1-16-8448": "Medium",
              "s-1-16-12288": "High", "s-1-16-16384": "System", "s-1-16-20480": "Protected"}  # fmt: skip


class FieldView:
    """Sigma field name (lower case) → value, for one event. Not thread-safe (per-event caches)."""

    __slots__ = ("values", "routes", "event_id", "_lazy", "_low", "_text", "_texts", "_ltexts", "_text_values")

    def __init__(
        self,
        values: dict[str, Any],
        routes: tuple[str, ...],
        event_id: str | None,
        text_values: Callable[[], list[Any]],
        lazy: Callable[[str], Any] | None = None,
    ) -> None:
        self.values = values
        self.routes = routes
        self.event_id = event_id
        self._lazy = lazy
        self._text_values = text_values
        self._low: dict[str, Text | None] = {}
        self._text: dict[str, Text | None] = {}
        self._texts: tuple[str, ...] | None = None
        self._ltexts: tuple[str, ...] | None = None

    def get(self, key: str) -> Any:
        """The raw value of a field (None when absent)."""
        value = self.values.get(key, _MISSING)
        if value is _MISSING:
            value = self._lazy(key) if self._lazy is not None else None
            self.values[key] = value
        return value

    def has(self, key: str) -> bool:
        return self.get(key) is not None

    def text(self, key: str) -> Text | None:
        """The value as text (lists as a tuple of texts), original case."""
        found = self._text.get(key, _MISSING)
        if found is _MISSING:
            found = self._text[key] = as_text(self.get(key))
        return found  # type: ignore[no-any-return]

    def low(self, key: str) -> Text | None:
        """The value as lower-case text: what case-insensitive matchers compare."""
        found = self._low.get(key, _MISSING)
        if found is _MISSING:
            raw = self.text(key)
            if raw is None:
                found = None
            elif raw.__class__ is str:
                found = raw.lower()  # type: ignore[union-attr]
            else:
                found = tuple(x.lower() for x in raw)
            self._low[key] = found
        return found  # type: ignore[no-any-return]

    def texts(self) -> tuple[str, ...]:
        """Everything keyword (full-text) search looks at, original case."""
        if self._texts is None:
            out: list[str] = []
            for value in self._text_values():
                text = as_text(value)
                if text is None:
                    continue
                if text.__class__ is str:
                    out.append(text)  # type: ignore[arg-type]
                else:
                    out.extend(text)
            self._texts = tuple(t for t in out if t)
        return self._texts

    def ltexts(self) -> tuple[str, ...]:
        if self._ltexts is None:
            self._ltexts = tuple(t.lower() for t in self.texts())
        return self._ltexts


def as_text(value: Any) -> Text | None:
    if value is None:
        return None
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        out = tuple(t for t in (as_text(v) for v in value) if t is not None)
        return tuple(x for t in out for x in ((t,) if isinstance(t, str) else t))
    return str(value)


def norm_field(name: str) -> str:
    """How field names are compared: case-insensitive, spaces removed."""
    return name.replace(" ", "").lower()


def build_view(event: EcsEvent | Mapping[str, Any]) -> FieldView:
    """The view of an ECS event (model or document dict), or of a raw nested EVTX JSON record."""
    if isinstance(event, Mapping) and is_raw_windows(event):
        event = raw_windows_document(event)
    winlog = path(event, "winlog")
    if winlog is not None and (path(winlog, "channel") or path(winlog, "event_id")):
        return windows_view(event, winlog)
    return ecs_view(event)


# --- Windows ------------------------------------------------------------------------------------------


def windows_view(event: EcsEvent | Mapping[str, Any], winlog: Any) -> FieldView:
    channel = str(path(winlog, "channel") or "")
    event_id = str(path(winlog, "event_id") or path(event, "event.code") or "")
    lchannel = channel.lower()
    data: Mapping[str, Any] = path(winlog, "event_data") or {}
    values: dict[str, Any] = {norm_field(k): v for k, v in data.items()}
    provider = path(winlog, "provider_name")
    computer = path(winlog, "computer_name") or path(event, "host.name")
    system = {
        "eventid": event_id, "channel": channel, "eventlog": channel, "provider_name": provider,
        "computer": computer, "computername": computer, "eventrecordid": path(winlog, "record_id"),
        "task": path(winlog, "task"), "opcode": path(winlog, "opcode"),
        "keywords": _keywords_hex(path(winlog, "keywords") or ()), "level": _level(path(event, "log.level")),
        "security_userid": path(event, "user.id"),
    }  # fmt: skip
    for key, value in system.items():
        if value is not None:
            values.setdefault(key, value)
    if lchannel == ls.SECURITY and event_id == "4688":
        _alias_4688(values)
    elif lchannel == ls.DEFENDER and event_id in ls.DEFENDER_DETECTIONS:
        values.setdefault("signature", values.get("threatname"))
        values.setdefault("filename", values.get("path"))

    def text_values() -> list[Any]:
        return [*data.values(), path(event, "message")]

    return FieldView(
        values,
        ls.windows_event_routes(lchannel, event_id),
        _event_id(event, winlog),
        text_values,
        lambda key: path(event, key) if "." in key else None,
    )


def _alias_4688(values: dict[str, Any]) -> None:
    """Security 4688 under the Sysmon process_creation names (SigmaHQ windows-audit pipeline)."""
    values.setdefault("image", values.get("newprocessname"))
    values.setdefault("parentimage", values.get("parentprocessname"))
    values.setdefault("logonid", values.get("subjectlogonid"))
    target = values.get("targetusername")
    if target and target != "-":
        user = f"{values.get('targetdomainname') or ''}\\{target}"
    else:
        user = f"{values.get('subjectdomainname') or ''}\\{values.get('subjectusername') or ''}"
    values.setdefault("user", user if user != "\\" else None)
    label = values.get("mandatorylabel")
    if isinstance(label, str):
        values.setdefault("integritylevel", _INTEGRITY.get(label.lower()))
    pid = values.get("processid")
    if isinstance(pid, str) and pid.lower().startswith("0x"):
        try:
            values.setdefault("parentprocessid", str(int(pid, 16)))
        except ValueError:
            pass


def _keywords_hex(names: Any) -> str | None:
    found = set(names)
    if "Audit Failure" in found:
        return "0x8010000000000000"
    if "Audit Success" in found:
        return "0x8020000000000000"
    return None


def _level(name: Any) -> tuple[str, str] | None:
    if not isinstance(name, str):
        return None
    number = _LEVEL_NUMBERS.get(name.lower())
    return (number, name) if number else None


def _event_id(event: Any, winlog: Any) -> str | None:
    found = path(event, "event.id")
    if found:
        return str(found)
    record = path(winlog, "record_id")
    return f"{path(winlog, 'channel')}#{record}" if record is not None else None


# --- everything else ----------------------------------------------------------------------------------


def ecs_view(event: EcsEvent | Mapping[str, Any]) -> FieldView:
    routes = ecs_fields.event_routes(event)

    def lazy(key: str) -> Any:
        return ecs_fields.resolve(event, key, routes)

    def text_values() -> list[Any]:
        return [path(event, "message"), path(event, "event.original")]

    found = path(event, "event.id")
    return FieldView({}, routes, str(found) if found else None, text_values, lazy)
