"""Windows file readers: real EVTX files (python-evtx) and JSON exports in every layout."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from ingest.collectors.windows_files import evtx_xml_to_dict, iter_evtx, iter_json_export
from ingest.parsers.base import ParseContext
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset

EvtxRead = list[tuple[Path, Path, list[tuple[int, str]]]]  # (evtx, json sample, iter_evtx output)
RECEIVED = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
CTX = ParseContext(source="test-windows-files", received_at=RECEIVED, zone=ZoneInfo("Asia/Shanghai"))


def evtx_pairs() -> list[tuple[Path, Path]]:
    """Each SigmaHQ regression `.evtx` with its `samples_json` rendering (same rule, same records)."""
    raw_root = dataset("sigma-regression", "samples_raw")
    json_root = dataset("sigma-regression", "samples_json")
    raws = sorted(raw_root.rglob("*.evtx"))
    return [(raw, json_root / raw.relative_to(raw_root).with_suffix(".json")) for raw in raws]


@pytest.fixture(scope="module")
def evtx_read() -> EvtxRead:
    """(evtx, json sample, iter_evtx output) per pair: python-evtx is slow, read each file once."""
    return [(raw, sample, list(iter_evtx(raw))) for raw, sample in evtx_pairs()]


# --- EVTX ----------------------------------------------------------------------------------------


def test_evtx_files_parse_and_match_their_json_samples(evtx_read: EvtxRead) -> None:
    assert len(evtx_read) == 101  # the 102nd regression case is a Cisco text log
    total = 0
    for raw, sample, records in evtx_read:
        numbers = [number for number, _ in records]
        assert numbers == sorted(set(numbers)), f"{raw.name}: record numbers must increase"
        from_evtx = [parse_windows(line, CTX) for _, line in records]
        from_json = [parse_windows(line, CTX) for _, line in iter_json_export(sample)]
        assert [e.event.code for e in from_evtx] == [e.event.code for e in from_json], raw.name
        assert [e.timestamp for e in from_evtx] == [e.timestamp for e in from_json], raw.name
        # The file's own record numbers restart at 1 in an exported .evtx; EventRecordID keeps the original.
        record_ids = [e.winlog and e.winlog.record_id for e in from_evtx]
        assert record_ids == [e.winlog and e.winlog.record_id for e in from_json], raw.name
        total += len(records)
    assert total == 118


def test_evtx_values_render_as_windows_does(evtx_read: EvtxRead) -> None:
    """Hex values unpadded (`0x3e7`), GUIDs upper case, CR LF kept, 100 ns time precision."""
    compared, differences = 0, []
    for raw, sample, records in evtx_read:
        for (_, line), (_, json_line) in zip(records, iter_json_export(sample), strict=True):
            mine = parse_windows(line, CTX).winlog
            theirs = parse_windows(json_line, CTX).winlog
            assert mine and theirs and mine.event_data.keys() == theirs.event_data.keys()
            for name, value in mine.event_data.items():
                other = theirs.event_data[name]
                if "Guid" in name or "GUID" in name:  # evtx_dump drops the braces
                    assert value.strip("{}") == other, name
                elif value.rstrip() != other.rstrip():  # evtx_dump trims trailing blanks; records keep them
                    differences.append((raw.parent.name, name, value, other))
                compared += 1
    assert compared > 2000
    # The one upstream sample whose JSON was edited by hand after the export:
    assert differences == [("proc_creation_win_susp_right_to_left_override", "ParentCommandLine",
                            "C:\\Windows\\Explorer.EXE", "C:\\Windows\\Explorer.exe")]  # fmt: skip
    system = json.loads(evtx_read[0][2][0][1])["Event"]["System"]
    stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z", stamp)
    assert re.fullmatch(r"0x[0-9a-f]{16}", system["Keywords"]) and system["EventID"].isdigit()


def test_evtx_line_is_the_nested_shape() -> None:
    raw, sample = next(p for p in evtx_pairs() if "win_security_" in p[0].parent.name)
    number, line = next(iter(iter_evtx(raw)))
    event = json.loads(line)["Event"]
    expected = json.loads(next(iter(iter_json_export(sample)))[1])["Event"]
    assert number == 1 and event.keys() == expected.keys() == {"#attributes", "System", "EventData"}
    assert event["System"]["Provider"]["#attributes"]["Name"] == "Microsoft-Windows-Security-Auditing"
    assert event["System"]["EventRecordID"] == str(expected["System"]["EventRecordID"])
    assert event["System"]["Channel"] == "Security" and event["System"]["EventID"] == "4701"
    assert event["EventData"].keys() == expected["EventData"].keys()


def test_damaged_evtx_yields_every_record_and_never_aborts(tmp_path: Path, evtx_read: EvtxRead) -> None:
    raw, _, records = max(evtx_read, key=lambda item: len(item[2]))
    data = bytearray(raw.read_bytes())
    data[0x1300:0x1340] = b"\xff" * 0x40  # inside the first chunk's string and template tables
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    out = list(iter_evtx(damaged))
    assert [n for n, _ in out] == [n for n, _ in records]
    assert any(line.startswith("evtx-record-base64:") for _, line in out)
    for _, line in out:
        try:
            parse_windows(line, CTX)
        except ParseError as exc:
            assert "damaged EVTX record" in str(exc)


def test_not_an_evtx_file(tmp_path: Path) -> None:
    for content in (b"", b"hello\n" * 2000):
        path = tmp_path / "fake.evtx"
        path.write_bytes(content)
        with pytest.raises(ParseError, match="not an EVTX file"):
            list(iter_evtx(path))


def test_xml_conversion_unnamed_data_userdata_and_carriage_returns() -> None:
    xml = (
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>'
        '<Provider Name="MSSQLSERVER$AUDIT"></Provider><EventID Qualifiers="16384">33205</EventID>'
        '<TimeCreated SystemTime="2020-07-15 19:39:14.477102+00:00"></TimeCreated>'
        "<Channel>Application</Channel>"
        "<Computer>sql1</Computer></System><EventData><Data>line one\r\nline two</Data><Data>b</Data>"
        "<Binary>00FF</Binary></EventData></Event>"
    )
    event = evtx_xml_to_dict(xml)["Event"]
    assert event["System"]["EventID"] == {"#attributes": {"Qualifiers": "16384"}, "#text": "33205"}
    assert event["EventData"] == {"Binary": "00FF", "Data": {"#text": ["line one\r\nline two", "b"]}}
    parsed = parse_windows(json.dumps({"Event": event}), CTX)
    assert parsed.winlog and parsed.winlog.event_data["Data"] == ["line one\r\nline two", "b"]
    assert parsed.event.code == "33205" and parsed.event.provider == "MSSQLSERVER$AUDIT"

    cleared = evtx_xml_to_dict(
        '<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><EventID>104</EventID>'
        "<Channel>System</Channel><Computer>h</Computer></System><UserData>"
        '<LogFileCleared xmlns="http://manifests.microsoft.com/win/2004/08/windows/eventlog">'
        "<SubjectUserName>admmig</SubjectUserName><Channel>System</Channel><BackupPath></BackupPath>"
        "</LogFileCleared></UserData></Event>"
    )
    assert cleared["Event"]["UserData"]["LogFileCleared"]["SubjectUserName"] == "admmig"
    parsed = parse_windows(json.dumps(cleared), CTX)
    assert parsed.winlog and parsed.winlog.event_data == {"SubjectUserName": "admmig", "Channel": "System",
                                                          "BackupPath": ""}  # fmt: skip


# --- JSON exports --------------------------------------------------------------------------------


def test_jsonl_corpus_yields_every_line_with_its_line_number() -> None:
    root = dataset("attack", "mdecrevoisier")
    with (root / "INDEX.tsv").open(encoding="utf-8") as handle:
        expected = {row["jsonl_path"]: int(row["events"]) for row in csv.DictReader(handle, delimiter="\t")}
    for rel, count in expected.items():
        records = list(iter_json_export(root / rel))
        assert [n for n, _ in records] == list(range(1, count + 1)), rel
    assert sum(expected.values()) == 10_015


def test_concatenated_pretty_printed_objects() -> None:
    sample = max((s for _, s in evtx_pairs()), key=lambda p: p.read_text(encoding="utf-8").count('"Event"'))
    records = list(iter_json_export(sample))
    assert [n for n, _ in records] == list(range(1, 8))  # the 7-object sample
    assert all("\n" not in line for _, line in records)
    assert all(parse_windows(line, CTX).event.code for _, line in records)


def test_bad_jsonl_line_is_yielded_raw_and_the_rest_continues(tmp_path: Path) -> None:
    good = '{"EventID": 4624, "Channel": "Security", "Computer": "h", "@timestamp": "2026-01-01T00:00:00Z"}'
    path = tmp_path / "export.jsonl"
    path.write_text(f"{good}\n\n{{\"EventID\": 4625, \"Chan\n{good}\n", encoding="utf-8")
    records = list(iter_json_export(path))
    assert [n for n, _ in records] == [1, 3, 4]
    assert records[1][1] == '{"EventID": 4625, "Chan'
    with pytest.raises(ParseError, match="not valid JSON"):
        parse_windows(records[1][1], CTX)
    assert parse_windows(records[2][1], CTX).event.code == "4624"


def test_bad_pretty_printed_object_resyncs_at_the_next_object(tmp_path: Path) -> None:
    one = json.dumps({"EventID": 1, "Channel": "Security", "Computer": "a"}, indent=2)
    broken = '{\n  "EventID": 2,\n  "Channel": "Sec\n  "oops": [\n}'
    path = tmp_path / "export.json"
    path.write_text(f"{one}\n{broken}\n{one}\n", encoding="utf-8")
    records = list(iter_json_export(path))
    assert [n for n, _ in records] == [1, 2, 3]
    assert records[1][1] == broken
    assert json.loads(records[0][1]) == json.loads(records[2][1]) == json.loads(one)


def test_array_and_wrapper_object(tmp_path: Path) -> None:
    items = [{"EventID": i, "Channel": "Security", "Computer": "a"} for i in (4624, 4625, 4634)]
    array = tmp_path / "array.json"
    array.write_text(json.dumps(items, indent=4), encoding="utf-8")
    assert [json.loads(line)["EventID"] for _, line in iter_json_export(array)] == [4624, 4625, 4634]
    assert [n for n, _ in iter_json_export(array)] == [1, 2, 3]
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(items), encoding="utf-8")
    assert len(list(iter_json_export(compact))) == 3
    [(_, line)] = list(iter_json_export(dataset("samplelogs", "windows_usb", "test-6416.json")))
    assert json.loads(line)["winlog"]["event_id"] == 6416


def test_utf16_powershell_export(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    text = json.dumps([{"Id": 4624, "LogName": "Security", "MachineName": "pc1", "Message": "Übermittelt"}])
    path.write_bytes(b"\xff\xfe" + text.encode("utf-16-le"))
    [(index, line)] = list(iter_json_export(path))
    assert index == 1 and json.loads(line)["Message"] == "Übermittelt"
    assert parse_windows(line, CTX).host.name == "pc1"  # type: ignore[union-attr]
