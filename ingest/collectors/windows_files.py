"""Windows event files → one raw JSON record at a time, for the import collector.

- ``iter_evtx``: a real ``.evtx`` file (python-evtx), each record rendered as one compact JSON line in
  the nested evtx_dump shape ``{"Event": {"System": {...}, "EventData": {Name: value}}}`` that
  ``ingest.parsers.windows`` reads;
- ``iter_json_export``: JSON Lines, several concatenated (pretty-printed) JSON objects, one JSON array,
  or an ``{"events": [...]}`` wrapper; each record as one compact JSON line.

A record that cannot be read is yielded as its raw text (so the pipeline dead-letters it with the
parser's reason); it never aborts the rest of the file.
"""

from __future__ import annotations

import base64
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from Evtx.Evtx import Evtx
from Evtx.Nodes import BXmlTypeNode, FiletimeTypeNode, GuidTypeNode, Hex32TypeNode, Hex64TypeNode
from Evtx.Views import render_root_node_with_subs

from core.errors import ParseError

StrPath = str | os.PathLike[str]

# Exports that wrap the records in one object: Elastic pipeline fixtures ("events"), Azure ("records").
WRAPPER_KEYS = ("events", "records", "Records")
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# --- EVTX ----------------------------------------------------------------------------------------


def iter_evtx(path: StrPath) -> Iterator[tuple[int, str]]:
    """Yield (record number, JSON line) for every record of an EVTX file, in file order.

    The record number is the one in the record header (an exported `.evtx` renumbers from 1, while
    System/EventRecordID keeps the number of the original log). Raises ParseError when the file is not
    EVTX at all. A record python-evtx cannot render is yielded as ``evtx-record-base64:<bytes>``, the
    rest of an unreadable chunk as ``evtx-chunk-error:<reason>``; both fail parsing and are dead-lettered.
    """
    name = os.fspath(path)
    if os.path.getsize(name) < 4096:  # the file header alone is 4 KiB
        raise ParseError(f"{name}: not an EVTX file (shorter than the 4 KiB file header)")
    with Evtx(name) as log:
        if not log.get_file_header().check_magic():
            raise ParseError(f"{name}: not an EVTX file (no 'ElfFile' signature)")
        for chunk in log.chunks():
            records, last = chunk.records(), int(chunk.log_first_record_number()) - 1
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    break
                except Exception as exc:  # a corrupt chunk must not stop the file
                    yield last + 1, f"evtx-chunk-error:{type(exc).__name__}: {exc}"
                    break
                last, line = _record_line(record)
                yield last, line


def _record_line(record: Any) -> tuple[int, str]:
    number = int(record.record_num())
    try:
        root = record.root()
        subs = list(root.substitutions())
        xml = render_root_node_with_subs(root, subs)
        windows = _windows_renderings(subs)
    except Exception:  # python-evtx raises many kinds on damaged binary XML
        return number, "evtx-record-base64:" + base64.b64encode(bytes(record.data())).decode("ascii")
    try:
        event = _rewrite(evtx_xml_to_dict(xml), windows)
    except ET.ParseError:
        return number, xml
    return number, json.dumps(event, ensure_ascii=False, separators=(",", ":"))


def _windows_renderings(subs: list[Any]) -> dict[str, str]:
    """python-evtx text → Windows text for the value types it renders differently.

    Windows writes HexInt32/64 as `0x3e7` (python-evtx: `0x000003e7`, which breaks Sigma values such
    as `SubjectLogonId: '0x3e7'` or `GrantedAccess: '0x1fffff'`), GUIDs in upper case, and times as
    `2021-04-22T08:50:53.6144920Z` (python-evtx: rounded to microseconds, space, `+00:00`).
    """
    out: dict[str, str] = {}
    for sub in subs:
        if isinstance(sub, BXmlTypeNode):
            out.update(_windows_renderings(list(sub.root().substitutions())))
        elif isinstance(sub, Hex32TypeNode | Hex64TypeNode):
            out[sub.string()] = f"0x{int.from_bytes(bytes(sub.hex()), 'little'):x}"
        elif isinstance(sub, GuidTypeNode):
            out[sub.string()] = sub.string().upper()
        elif isinstance(sub, FiletimeTypeNode):
            ticks = sub.unpack_qword(0)  # 100 ns since 1601-01-01
            moment = datetime(1601, 1, 1, tzinfo=UTC) + timedelta(microseconds=ticks // 10)
            out[sub.string()] = f"{moment:%Y-%m-%dT%H:%M:%S}.{ticks % 10_000_000:07d}Z"
    return out


def _rewrite(node: Any, windows: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _rewrite(value, windows) for key, value in node.items()}
    if isinstance(node, list):
        return [_rewrite(value, windows) for value in node]
    return windows.get(node, node) if isinstance(node, str) and windows else node


def evtx_xml_to_dict(xml: str) -> dict[str, Any]:
    """Event XML → the evtx_dump JSON shape (``#attributes``, ``#text``, EventData Name → value)."""
    xml = xml.replace("\r", "&#13;")  # an XML parser would turn the CR LF of values into LF
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        root = ET.fromstring(_INVALID_XML.sub("\ufffd", xml))
    event: dict[str, Any] = {}
    namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
    if namespace:
        event["#attributes"] = {"xmlns": namespace}
    for child in root:
        tag = _local(child.tag)
        event[tag] = _event_data(child) if tag == "EventData" else _element(child)
    return {"Event": event}


def _element(element: ET.Element) -> Any:
    attributes = {_local(k): v for k, v in element.attrib.items() if v != ""}
    children = list(element)
    if not children:
        if not attributes:
            return element.text
        return {"#attributes": attributes, **({"#text": element.text} if element.text is not None else {})}
    out: dict[str, Any] = {"#attributes": attributes} if attributes else {}
    for child in children:
        _add(out, _local(child.tag), _element(child))
    return out


def _event_data(element: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    unnamed: list[str] = []
    for child in element:
        tag, name = _local(child.tag), child.get("Name")
        if tag == "Data" and name:
            out[name] = child.text
        elif tag == "Data":
            unnamed.append(child.text or "")
        else:
            _add(out, tag, _element(child))
    if unnamed:
        out["Data"] = {"#text": unnamed[0] if len(unnamed) == 1 else unnamed}
    return out


def _add(out: dict[str, Any], key: str, value: Any) -> None:
    if key not in out:
        out[key] = value
    elif isinstance(out[key], list):
        out[key].append(value)
    else:
        out[key] = [out[key], value]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


# --- JSON exports --------------------------------------------------------------------------------


def iter_json_export(path: StrPath) -> Iterator[tuple[int, str]]:
    """Yield (index, compact JSON line) per record of a JSON export.

    JSON Lines files are streamed and the index is the 1-based line number; other layouts
    (concatenated or pretty-printed objects, an array, a wrapper object) are read whole and the
    index is the 1-based ordinal of the record. A record that is not valid JSON is yielded as its
    raw text: for JSON Lines the line, otherwise the text up to the next object that starts at the
    same indentation.
    """
    with _open_text(path) as handle:
        first = next((line for line in handle if line.strip()), "").strip().lstrip("\ufeff")
        handle.seek(0)
        if first.startswith("{") and first.endswith("}"):
            yield from _iter_lines(handle)
        else:
            yield from _iter_document(handle.read().lstrip("\ufeff"))


def _open_text(path: StrPath) -> TextIO:
    with open(path, "rb") as probe:
        head = probe.read(4)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"  # Windows PowerShell's `Out-File` default
    elif len(head) >= 2 and head[0] != 0 and head[1] == 0:
        encoding = "utf-16-le"
    else:
        encoding = "utf-8-sig"
    return open(path, encoding=encoding, errors="replace", newline=None)


def _iter_lines(handle: TextIO) -> Iterator[tuple[int, str]]:
    decoder = json.JSONDecoder()
    for number, line in enumerate(handle, start=1):
        text = line.strip().lstrip("\ufeff")
        position = 0
        while position < len(text):
            try:
                value, position = decoder.raw_decode(text, position)
            except json.JSONDecodeError:
                yield number, text[position:]
                break
            for record in _unwrap(value):
                yield number, record
            position = _skip_separators(text, position)


def _iter_document(text: str) -> Iterator[tuple[int, str]]:
    decoder = json.JSONDecoder()
    ordinal, position = 0, _skip_separators(text, 0)
    while position < len(text):
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            end = _resync(text, position)
            ordinal += 1
            yield ordinal, text[position:end].strip()
        else:
            for record in _unwrap(value):
                ordinal += 1
                yield ordinal, record
        position = _skip_separators(text, end)


def _skip_separators(text: str, position: int) -> int:
    """Whitespace, and the brackets and commas of a top-level array, between records."""
    while position < len(text) and (text[position].isspace() or text[position] in "[],"):
        position += 1
    return position


def _resync(text: str, start: int) -> int:
    """Where the record after a malformed one starts: the next `{` at the same indentation."""
    line_start = text.rfind("\n", 0, start) + 1
    indent = text[line_start:start]
    if indent.strip():
        indent = ""
    match = re.compile(r"\n" + re.escape(indent) + r"\{").search(text, start + 1)
    return match.start() + 1 if match else len(text)


def _unwrap(value: Any) -> Iterator[str]:
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if key in WRAPPER_KEYS and isinstance(inner, list):
            for item in inner:
                yield from _unwrap(item)
            return
    if isinstance(value, list):
        for item in value:
            yield from _unwrap(item)
        return
    yield json.dumps(value, ensure_ascii=False, separators=(",", ":"))
