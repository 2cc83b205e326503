"""The field view: one event seen through Sigma's field names.

Sigma rules name fields the way the log source writes them (`CommandLine`, `TargetUserName`, `c-uri`,
`a0`); Vigil events are ECS. A `FieldView` answers "value of Sigma field X" for one event, with field
names compared case-insensitively (spaces removed, as Sigma writes `Source Name` as `SourceName`).

- Windows events: `winlog.event_data` under its original names, the System fields (`EventID`, `Channel`,
  `Provider_Name`, `Computer`, `Level`, `Keywords`...), plus aliases so process_creation rules work on
  Security 4688 (`Image` = `NewProcessName`...; SigmaHQ's windows-audit mapping) and antivirus rules on
  Defender detections (`Signature` = `ThreatName`). Security access-right codes (`%%4417`) and GUIDs
  (`%{guid}`, `{guid}`) are seen in every spelling rules use (`SPELLED_FIELDS`): a list of the forms.
- Other events: Sigma's taxonomy names resolved lazily from ECS (`fields.py`), then labels, then any
  ECS dotted path (`process.command_line`) so Vigil's own rules may use ECS names.

Values are read once and cached per view, lower-cased once for the default case-insensitive matching.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from core.models.ecs import EcsEvent, Winlog
from detectors.sigma import fields as ecs_fields
from detectors.sigma import logsources as ls
from detectors.sigma.paths import path

Text = str | tuple[str, ...]
_MISSING: Any = object()
_LEVEL_NUMBERS = {"critical": "1", "error": "2", "warning": "3", "information": "4", "verbose": "5"}
INTEGRITY_LEVELS = {"s-1-16-0": "Untrusted", "s-1-16-4096": "Low", "s-1-16-8192": "Medium", "s-1-16-8448": "Medium",
                    "s-1-16-12288": "High", "s-1-16-16384": "System", "s-1-16-20480": "Protected"}  # fmt: skip


class FieldView:
    """Sigma field name (lower case) → value, for one event. Not thread-safe (per-event caches).

    `lows` and `texts` are the field → text maps the compiled rules and the index read: a hit is one C
    dict lookup, a miss (the first read of a field) fills the entry from the raw values.
    """

    __slots__ = (
        "values",
        "routes",
        "closed",
        "lows",
        "_texts",
        "_id",
        "_id_of",
        "_lazy",
        "_full",
        "_lfull",
        "_text_values",
    )

    def __init__(
        self,
        values: dict[str, Any],
        routes: tuple[str, ...],
        event_id: str | None,
        text_values: Callable[[], list[Any]],
        lazy: Callable[[str], Any] | None = None,
        *,
        closed: bool = False,
        event_id_of: _WinRecord | None = None,
    ) -> None:
        self.values = values
        self.routes = routes
        self._id = event_id
        self._id_of = event_id_of  # the id is read only for a match or an error: found on first use
        # closed: `values` holds every field except LAZY_WINDOWS_FIELDS and dotted ECS paths (Windows views)
        self.closed = closed
        self._lazy = lazy
        self._text_values = text_values
        # Built without a Python __init__: dict's constructor, then the two slots.
        self.lows = lows = LowTexts()
        lows._values, lows._lazy = values, lazy
        self._texts: Texts | None = None  # few rules match case-sensitively: built on first use
        self._full: str | None = None
        self._lfull: str | None = None

    @property
    def texts(self) -> Texts:
        """Field → its value as text, original case (`|cased` rules)."""
        texts = self._texts
        if texts is None:
            texts = self._texts = Texts()
            texts._values, texts._lazy = self.values, self._lazy
        return texts

    @property
    def event_id(self) -> str | None:
        """The event's id (what matches and rule errors name)."""
        if self._id_of is not None:
            self._id, self._id_of = _event_id(self._id_of), None
        return self._id

    def get(self, key: str) -> Any:
        """The raw value of a field (None when absent)."""
        return _raw(self.values, self._lazy, key)

    def text(self, key: str) -> Text | None:
        """The value as text (lists as a tuple of texts), original case."""
        return self.texts[key]

    def low(self, key: str) -> Text | None:
        """The value as lower-case text: what case-insensitive matchers compare."""
        return self.lows[key]

    def fulltext(self) -> str:
        """What keyword (full-text) search looks at: every text of the event, NUL-separated, original case.

        A keyword never contains NUL, so a substring found here lies within one field value.
        """
        if self._full is None:
            values = self._text_values()
            try:  # the usual case, every value a string or None: one C join (empty ones left out, as below)
                self._full = KEYWORD_SEPARATOR.join(filter(None, values))
                return self._full
            except TypeError:
                pass
            out: list[str] = []
            for value in values:
                text = value if value.__class__ is str else as_text(value)
                if not text:
                    continue
                if text.__class__ is str:
                    out.append(text)  # type: ignore[arg-type]
                else:
                    out.extend(text)
            self._full = KEYWORD_SEPARATOR.join(out)
        return self._full

    def lfulltext(self) -> str:
        if self._lfull is None:
            self._lfull = self.fulltext().lower()
        return self._lfull


def _raw(values: dict[str, Any], lazy: Callable[[str], Any] | None, key: str) -> Any:
    value = values.get(key, _MISSING)
    if value is _MISSING:
        value = values[key] = lazy(key) if lazy is not None else None
    return value


class Texts(dict[str, "Text | None"]):
    """Field → its value as text (original case), computed on the first read of each field.

    Holds the raw values and the lazy reader, not the view: no reference cycle, so a view is freed
    without the cyclic collector.
    """

    __slots__ = ("_values", "_lazy")
    _values: dict[str, Any]
    _lazy: Callable[[str], Any] | None

    def __missing__(self, key: str) -> Text | None:
        value = _raw(self._values, self._lazy, key)
        found = self[key] = value if value.__class__ is str else as_text(value)
        return found


class LowTexts(Texts):
    """Field → its value as lower-case text: what case-insensitive matchers compare."""

    __slots__ = ()

    def __missing__(self, key: str) -> Text | None:
        value = _raw(self._values, self._lazy, key)
        if value is None:
            found: Text | None = None
        elif value.__class__ is str:
            found = value.lower()
        else:
            text = as_text(value)
            found = text.lower() if isinstance(text, str) else tuple(x.lower() for x in text or ())
        self[key] = found
        return found


KEYWORD_SEPARATOR = "\x00"


def as_text(value: Any) -> Text | None:
    if value is None:
        return None
    if value.__class__ is str:
        return value  # type: ignore[no-any-return]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        out = [t for t in [as_text(v) for v in value] if t is not None]
        return tuple(x for t in out for x in ((t,) if isinstance(t, str) else t))
    return str(value)


def norm_field(name: str) -> str:
    """How field names are compared: case-insensitive, spaces removed."""
    return name.replace(" ", "").lower()


def build_view(event: EcsEvent | Mapping[str, Any]) -> FieldView:
    """The view of an ECS event (model or document dict). A raw EVTX record is parsed first (see
    `detectors.sigma.regression.sample_event`): the view reads only what Vigil's parsers write."""
    if isinstance(event, EcsEvent):  # the stream's case: attribute reads, no path walking
        winlog: Any = event.winlog
        if winlog is not None and (winlog.channel or winlog.event_id):
            return windows_view(event, winlog)
        return ecs_view(event)
    winlog = path(event, "winlog")
    if winlog is not None and (path(winlog, "channel") or path(winlog, "event_id")):
        return windows_view(event, winlog)
    return ecs_view(event)


# --- Windows ------------------------------------------------------------------------------------------


class _WinRecord(NamedTuple):
    channel: str
    event_id: str
    provider: Any
    data: Mapping[str, Any]
    event: Any  # the EcsEvent or document, for the System fields read on demand
    winlog: Any


_new_record = tuple.__new__  # a NamedTuple built in C: its generated __new__ costs ~2 µs per event


def _record(event: EcsEvent | Mapping[str, Any], winlog: Any) -> _WinRecord:
    if isinstance(winlog, Winlog):  # the stream's case: plain attribute reads
        event_id = winlog.event_id or (event.event.code if isinstance(event, EcsEvent) else None)
        fields = (winlog.channel or "", event_id or "", winlog.provider_name, winlog.event_data, event, winlog)
        return _new_record(_WinRecord, fields)  # type: ignore[no-any-return]
    return _WinRecord(
        str(path(winlog, "channel") or ""),
        str(path(winlog, "event_id") or path(event, "event.code") or ""),
        path(winlog, "provider_name"),
        path(winlog, "event_data") or {},
        event,
        winlog,
    )


def windows_view(event: EcsEvent | Mapping[str, Any], winlog: Any) -> FieldView:
    rec = _record(event, winlog)
    lchannel = rec.channel.lower()
    values = _normalized(rec.data)
    values.setdefault("eventid", rec.event_id)
    values.setdefault("channel", rec.channel)
    values.setdefault("provider_name", rec.provider)
    if lchannel == ls.SECURITY:
        if rec.event_id == "4688":
            _alias_4688(values)
        elif rec.event_id in SPELLED_FIELDS:
            _both_spellings(values, *SPELLED_FIELDS[rec.event_id])
    elif lchannel == ls.DEFENDER and rec.event_id in ls.DEFENDER_DETECTIONS:
        values.setdefault("signature", values.get("threatname"))
        values.setdefault("filename", values.get("path"))
    data_values = rec.data.values()
    message = event.message if isinstance(event, EcsEvent) else path(event, "message")

    def text_values() -> list[Any]:
        return [*data_values, message] if message is not None else [*data_values]

    return FieldView(
        values,
        ls.windows_event_routes(lchannel, rec.event_id),
        None,
        text_values,
        lambda key: _system_field(rec, key),
        closed=True,
        event_id_of=rec,
    )


def _normalized(data: Mapping[str, Any]) -> dict[str, Any]:
    """Event data under normalised field names."""
    names = _NORMAL_NAMES
    return {names[name]: value for name, value in data.items()}


class _Memo(dict[str, Any]):
    """Text from the events → what `compute` makes of it: a C dict hit once a text was seen (a few thousand
    event data names, a few hundred AccessLists and object types cover a stream); bounded, as the texts
    come from the events."""

    __slots__ = ("_compute",)
    _compute: Callable[[str], Any]

    def __missing__(self, text: str) -> Any:
        found = self._compute(text)
        if len(self) < _MAX_MEMO:
            self[text] = found
        return found


def _memo(compute: Callable[[str], Any]) -> _Memo:
    memo = _Memo()
    memo._compute = compute
    return memo


_MAX_MEMO = 65_536
_NORMAL_NAMES = _memo(norm_field)  # event data name → its normalised form


# System fields of a Windows view read only when asked (the rest of a Windows view is built eagerly).
LAZY_WINDOWS_FIELDS = frozenset(
    {"eventlog", "computer", "computername", "eventrecordid", "task", "opcode", "keywords", "level", "security_userid"}
)


def _system_field(rec: _WinRecord, key: str) -> Any:
    """System fields beyond EventID/Channel/Provider_Name, and ECS paths, read when a rule asks."""
    match key:
        case "eventlog":
            return rec.channel
        case "computer" | "computername":
            return path(rec.winlog, "computer_name") or path(rec.event, "host.name")
        case "eventrecordid":
            return path(rec.winlog, "record_id")
        case "task" | "opcode":
            return path(rec.winlog, key)
        case "keywords":
            return _keywords_hex(path(rec.winlog, "keywords") or ())
        case "level":
            return _level(path(rec.event, "log.level"))
        case "security_userid":
            return path(rec.event, "user.id")
    return path(rec.event, key) if "." in key else None


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
        values.setdefault("integritylevel", INTEGRITY_LEVELS.get(label.lower()))
    pid = values.get("processid")
    if isinstance(pid, str) and pid.lower().startswith("0x"):
        with contextlib.suppress(ValueError):
            values.setdefault("parentprocessid", str(int(pid, 16)))


# Access rights arrive as message codes (`%%4416 %%4417`); the Event Viewer shows their names, and SigmaHQ rules
# are written both ways (`AccessList|contains: '%%4417'`, `AccessList|contains: 'WriteData'`). The names are
# msobjs.dll's (the table winlogbeat's security module extracted from Windows Server 2019), kept to the codes the
# rules and the recorded attacks use: standard rights, file rights, process memory read, SAM password policy read.
ACCESS_RIGHTS = {
    "%%1537": "DELETE", "%%1538": "READ_CONTROL", "%%1539": "WRITE_DAC", "%%1540": "WRITE_OWNER",
    "%%1541": "SYNCHRONIZE", "%%1542": "ACCESS_SYS_SEC",
    "%%4416": "ReadData (or ListDirectory)", "%%4417": "WriteData (or AddFile)",
    "%%4418": "AppendData (or AddSubdirectory or CreatePipeInstance)", "%%4419": "ReadEA", "%%4420": "WriteEA",
    "%%4421": "Execute/Traverse", "%%4422": "DeleteChild", "%%4423": "ReadAttributes", "%%4424": "WriteAttributes",
    "%%4484": "Read from process memory", "%%5392": "ReadPasswordParameters",
}  # fmt: skip
# Security event id → (fields holding access-right codes, fields holding one GUID). 4662 writes its GUIDs as
# `%{bf967aba-…}`, 4719 bare (`0CCE9217-…`); rules write them bare, in braces or as logged.
SPELLED_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "4656": (("accesslist",), ()), "4661": (("accesslist",), ()), "4663": (("accesslist",), ()),
    "4674": (("accessmask",), ()), "5140": (("accesslist",), ()), "5145": (("accesslist",), ()),
    "4662": (("accesslist",), ("objecttype", "objectname")), "4719": ((), ("subcategoryguid",)),
}  # fmt: skip
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _both_spellings(values: dict[str, Any], access_keys: tuple[str, ...], guid_keys: tuple[str, ...]) -> None:
    """Access-right codes and GUIDs as logged *and* in the other spellings: a list value, any element matches."""
    for key in access_keys:
        value = values.get(key)
        if value.__class__ is str:
            values[key] = _ACCESS_SPELLINGS[value]
    for key in guid_keys:
        value = values.get(key)
        if value.__class__ is str:
            values[key] = _GUID_SPELLINGS[value]


def access_spellings(value: str) -> str | tuple[str, str]:
    """`%%4416 %%4417` → (the value, `ReadData (or ListDirectory) WriteData (or AddFile)`); else the value."""
    names = [ACCESS_RIGHTS[code] for code in value.split() if code in ACCESS_RIGHTS] if "%%" in value else []
    return (value, " ".join(names)) if names else value


def guid_forms(value: str) -> tuple[str, ...] | None:
    """`%{guid}`, `{guid}` or `guid` → the value as logged, then the other two forms; None if not one GUID."""
    bare = value.strip().removeprefix("%").removeprefix("{").removesuffix("}")
    if len(bare) != 36 or _GUID.fullmatch(bare) is None:
        return None
    return tuple(dict.fromkeys((value, bare, "{" + bare + "}", "%{" + bare + "}")))


_ACCESS_SPELLINGS = _memo(access_spellings)
_GUID_SPELLINGS = _memo(lambda value: guid_forms(value) or value)


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


def _event_id(rec: _WinRecord) -> str | None:
    found = rec.event.event.id if isinstance(rec.event, EcsEvent) else path(rec.event, "event.id")
    if found:
        return str(found)
    record = path(rec.winlog, "record_id")
    return f"{rec.channel}#{record}" if record is not None else None


# --- everything else ----------------------------------------------------------------------------------


def ecs_view(event: EcsEvent | Mapping[str, Any]) -> FieldView:
    routes = ecs_fields.event_routes(event)

    def lazy(key: str) -> Any:
        return ecs_fields.resolve(event, key, routes)

    def text_values() -> list[Any]:
        return [path(event, "message"), path(event, "event.original")]

    found = path(event, "event.id")
    return FieldView({}, routes, str(found) if found else None, text_values, lazy)
