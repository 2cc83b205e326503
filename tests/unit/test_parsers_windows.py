"""Windows parser: every event of the mdecrevoisier attack corpus, precise ECS fields, the other shapes."""

from __future__ import annotations

import ast
import csv
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category
from ingest.collectors.windows_files import iter_json_export
from ingest.parsers.base import ParseContext
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset, lines

RECEIVED = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)
CTX = ParseContext(source="test-windows", received_at=RECEIVED, zone=ZoneInfo("Asia/Shanghai"))
ATTACK = ("attack", "mdecrevoisier")
Pair = tuple[dict[str, Any], EcsEvent]  # (source document, parsed event)
Corpus = dict[str, list[Pair]]  # relative file name → pairs
SYSMON = "Microsoft-Windows-Sysmon/Operational"
ETERNAL = "EVTX_full_APT_attack_steps/ID4624,4688,5140,5145-Eternal Romance - MS17_010_psexec (GLOBAL).jsonl"
PSEXEC = "EVTX_full_APT_attack_steps/ID11,13,17,18-PSexec as system execution.jsonl"


def source_id(system: dict[str, Any]) -> str:
    """The event id as written in the source (a number, a string, or {"#text": ..., Qualifiers})."""
    value = system["EventID"]
    return str(value["#text"] if isinstance(value, dict) else value)


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    """relative file name → [(source document, parsed event)] for all 281 files."""
    root = dataset(*ATTACK)
    parsed: Corpus = {}
    for path in sorted(root.rglob("*.jsonl")):
        rel = path.relative_to(root).as_posix()
        parsed[rel] = [(json.loads(line), parse_windows(line, CTX)) for line in lines(*ATTACK, rel)]
    return parsed


def all_events(corpus: Corpus) -> list[Pair]:
    return [pair for pairs in corpus.values() for pair in pairs]


def record(corpus: Corpus, file: str, record_id: int) -> EcsEvent:
    matches = [event for _, event in corpus[file] if event.winlog and event.winlog.record_id == record_id]
    assert len(matches) == 1, f"{file} record {record_id}: {len(matches)} matches"
    return matches[0]


def by_id(corpus: Corpus, code: str, record_id: int) -> EcsEvent:
    """One event by id and record number; several simulations share some records (the same event)."""
    events = (e for _, e in all_events(corpus) if e.event.code == code)
    matches = [e for e in events if e.winlog and e.winlog.record_id == record_id]
    assert matches and len({m.event.original for m in matches}) == 1, f"{code} record {record_id}"
    return matches[0]


# --- the whole corpus ----------------------------------------------------------------------------


def test_every_attack_event_parses(corpus: Corpus) -> None:
    # Measured: 10,015 of 10,015 events parse; none needs the dead-letter path.
    assert len(corpus) == 281
    assert len(all_events(corpus)) == 10_015


def test_event_code_and_host_match_the_source(corpus: Corpus) -> None:
    for source, event in all_events(corpus):
        system = source["Event"]["System"]
        assert event.event.code == source_id(system)
        assert event.winlog and event.winlog.event_id == event.event.code
        assert event.host and event.host.name == system["Computer"]
        stamp = system["TimeCreated"]["#attributes"]["SystemTime"]
        assert event.timestamp == datetime.fromisoformat(stamp)  # 7 fractional digits truncate to µs
        assert event.timestamp.tzinfo == UTC
        assert event.vigil.parser == "windows"
        assert event.event.dataset and event.event.dataset.startswith("windows.")


def test_event_data_keeps_original_names_as_strings(
    corpus: Corpus,
) -> None:
    for source, event in all_events(corpus):
        data = event.winlog.event_data if event.winlog else {}
        for value in data.values():
            items = value if isinstance(value, list) else [value]
            assert all(isinstance(item, str) for item in items)
        original = source["Event"].get("EventData")
        if isinstance(original, dict):
            named = {k for k in original if k not in ("#attributes", "Data", "Binary")}
            assert named <= data.keys()


def test_counts_per_channel_and_event_id_match_the_index(
    corpus: Corpus,
) -> None:
    expected: Counter[tuple[str | None, str]] = Counter()
    with dataset(*ATTACK, "INDEX.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            for (channel, event_id), count in ast.literal_eval(row["channel_eventid_counts"]).items():
                expected[(channel, str(event_id))] += count
    measured = Counter((e.winlog.channel if e.winlog else None, e.event.code) for _, e in all_events(corpus))
    assert measured == expected
    per_channel = Counter(e.winlog.channel if e.winlog else None for _, e in all_events(corpus))
    assert per_channel["Security"] == 7607
    assert per_channel["System"] == 843
    assert per_channel[SYSMON] == 113
    assert per_channel[None] == 1  # the EventForwarder bookmark (id 111) carries no channel


def test_categories(corpus: Corpus) -> None:
    by_key: dict[tuple[str | None, str | None], set[Category]] = {}
    for _, event in all_events(corpus):
        key = (event.winlog.channel if event.winlog else None, event.event.code)
        by_key.setdefault(key, set()).add(event.vigil.category)
    for code in ("4624", "4625", "4720", "4732", "5140", "5145", "4663", "4768"):
        assert by_key[("Security", code)] == {Category.USER}, code
    for code in ("4688", "4697", "1102", "4719", "4698"):
        assert by_key[("Security", code)] == {Category.SYSTEM}, code
    assert by_key[("System", "104")] == by_key[("System", "7045")] == {Category.SYSTEM}
    assert by_key[(SYSMON, "3")] == by_key[(SYSMON, "22")] == {Category.NETWORK}
    assert by_key[(SYSMON, "1")] == by_key[(SYSMON, "13")] == {Category.SYSTEM}


# --- precise fields ------------------------------------------------------------------------------


def test_4624_network_logon(corpus: Corpus) -> None:
    event = record(corpus, ETERNAL, 435113)
    assert event.timestamp == datetime(2021, 4, 22, 8, 51, 4, 686763, tzinfo=UTC)
    assert event.event.action == "logged-in" and event.event.outcome == "success"
    assert event.event.category == ["authentication"] and event.event.type == ["start"]
    assert event.event.provider == "Microsoft-Windows-Security-Auditing"
    assert event.user and (event.user.name, event.user.domain) == ("admmig", "OFFSEC")
    assert event.user.id == "S-1-5-21-4230534742-2542757381-3142984815-1111"
    assert event.source and (event.source.ip, event.source.port) == ("10.23.123.11", 41747)
    assert event.labels["logon_type"] == "Network"
    assert event.winlog and event.winlog.event_data["LogonType"] == "3"  # JSON number → original string
    assert event.winlog.keywords == ["Audit Success"] and event.winlog.record_id == 435113
    assert event.winlog.process and event.winlog.process.pid == 480
    assert event.vigil.entity == "user:admmig"


def test_4625_failed_logon(corpus: Corpus) -> None:
    failures = [e for _, e in all_events(corpus) if e.event.code == "4625"]
    assert failures and all(e.event.outcome == "failure" for e in failures)
    assert all(e.event.action == "logon-failed" for e in failures)
    assert all(e.winlog and e.winlog.keywords == ["Audit Failure"] for e in failures)

    restricted = by_id(corpus, "4625", 90907)
    assert restricted.event.reason == "account restriction"  # Status 0xc000006e, SubStatus 0x0
    assert restricted.user is None or restricted.user.name is None  # TargetUserName "-", NULL SID
    assert restricted.process and restricted.process.executable == "C:\\Windows\\System32\\winlogon.exe"
    assert restricted.process.pid == 0x1310 and restricted.process.name == "winlogon.exe"
    assert restricted.source and restricted.source.ip == "10.23.23.9" and restricted.source.port is None


def test_4688_process_creation(corpus: Corpus) -> None:
    event = record(corpus, ETERNAL, 435120)
    assert event.event.action == "process-created" and event.vigil.category == Category.SYSTEM
    assert event.process and event.process.pid == 0x6E8 and event.process.name == "cmd.exe"
    assert event.process.executable == "C:\\Windows\\System32\\cmd.exe"
    assert event.process.command_line and event.process.command_line.startswith(
        "C:\\Windows\\system32\\cmd.exe /b /c start /b /min powershell.exe -nop -w hidden"
    )
    assert event.process.parent and event.process.parent.pid == 0x1D0
    assert event.user and (event.user.name, event.user.domain) == ("FS03VULN$", "OFFSEC")
    assert event.user.id == "S-1-5-18"


def test_4720_user_account_created(corpus: Corpus) -> None:
    event = record(corpus, "EVTX_full_APT_attack_steps/ID4720,4698-Fortinet APT group abuse on Windows.jsonl",
                   1945920)  # fmt: skip
    assert event.event.action == "user-account-created" and event.event.category == ["iam"]
    assert event.user and (event.user.name, event.user.domain) == ("admmig", "OFFSEC")
    assert event.user.target and event.user.target.name == "WADGUtilityAccount"
    assert event.user.target.domain == "FS01"
    assert event.user.target.id == "S-1-5-21-1081258321-37805170-3511562335-1000"
    assert event.vigil.category == Category.USER


def test_4732_member_added_to_local_group(corpus: Corpus) -> None:
    event = by_id(corpus, "4732", 2775256)
    assert event.event.action == "added-member-to-group"
    assert event.group and (event.group.name, event.group.domain) == ("Users", "Builtin")
    assert event.group.id == "S-1-5-32-545"
    assert event.user and event.user.name == "admmig"
    assert event.user.target and event.user.target.id == "S-1-5-21-1470532092-3758209836-3742276719-1001"
    assert event.user.target.name is None  # MemberName "-"


def test_4728_member_name_from_distinguished_name(corpus: Corpus) -> None:
    event = next(e for _, e in all_events(corpus) if e.event.code == "4728")
    assert event.group and event.group.name == "Domain Admins"
    assert event.user and event.user.target and event.user.target.name == "honey-pot1"


def test_5145_share_access(corpus: Corpus) -> None:
    event = record(corpus, ETERNAL, 435115)
    assert event.event.action == "network-share-object-checked"
    assert event.file and event.file.path == "\\\\*\\IPC$\\netlogon" and event.file.name == "netlogon"
    assert event.labels["share_name"] == "\\\\*\\IPC$"
    assert event.source and (event.source.ip, event.source.port) == ("10.23.123.11", 41747)
    assert event.user and event.user.name == "admmig"
    assert event.related and event.related.ip == ["10.23.123.11"]


def test_4656_4663_object_access(corpus: Corpus) -> None:
    kinds: Counter[str] = Counter()
    for _, event in all_events(corpus):
        if event.event.code not in ("4656", "4663") or not event.winlog:
            continue
        data = event.winlog.event_data
        kinds[data["ObjectType"]] += 1
        assert event.user and event.user.name == data["SubjectUserName"]
        if data["ObjectType"] == "File":
            assert event.file and event.file.path == data["ObjectName"]
        elif data["ObjectType"] == "Key":
            assert event.registry and event.registry.path and event.registry.path.startswith("HK")
        else:
            assert event.file is None and event.registry is None
    assert kinds["File"] and kinds["Key"] and kinds["Process"]


def test_1102_security_log_cleared(corpus: Corpus) -> None:
    event = record(corpus, ETERNAL, 435110)
    assert event.event.action == "audit-log-cleared" and event.vigil.category == Category.SYSTEM
    assert event.event.provider == "Microsoft-Windows-Eventlog"
    assert event.user and (event.user.name, event.user.domain) == ("admmig", "OFFSEC")
    assert event.winlog and event.winlog.event_data["SubjectLogonId"] == "0x7424d"  # from UserData
    assert "xmlns" not in json.dumps(event.winlog.event_data)


def test_104_system_log_cleared(corpus: Corpus) -> None:
    event = by_id(corpus, "104", 471479)
    assert event.event.action == "log-cleared" and event.vigil.category == Category.SYSTEM
    assert event.winlog and event.winlog.channel == "System"
    assert event.winlog.event_data == {
        "SubjectUserName": "admmig", "SubjectDomainName": "OFFSEC", "Channel": "System", "BackupPath": "",
    }  # fmt: skip
    assert event.user and (event.user.name, event.user.domain) == ("admmig", "OFFSEC")


def test_sysmon_1_process_create(corpus: Corpus) -> None:
    event = record(corpus, PSEXEC, 48593)
    assert event.event.action == "process-created" and event.event.dataset == "windows.sysmon_operational"
    assert event.process and event.process.pid == 2124 and event.process.name == "PsExec64.exe"
    assert event.process.executable == "C:\\TOOLS\\PsExec64.exe"
    assert event.process.command_line == "PsExec64.exe  -i -s cmd"
    assert event.process.working_directory == "C:\\TOOLS\\"
    assert event.process.entity_id == "A57649D1-DB54-61AB-775C-DC0100000000"
    assert event.process.hash["sha256"] == "ad6b98c01ee849874e4b4502c3d7853196f6044240d3271e4ab3fc6e3c08e9a4"
    assert event.process.parent and event.process.parent.pid == 532
    assert event.process.parent.executable == "C:\\Windows\\System32\\cmd.exe"
    assert event.user and (event.user.name, event.user.domain) == ("admmig", "OFFSEC")
    assert event.winlog and event.winlog.event_data["ProcessId"] == "2124"
    assert event.winlog.event_data["TerminalSessionId"] == "2"


def test_sysmon_3_network_connection(corpus: Corpus) -> None:
    event = next(e for _, e in all_events(corpus) if e.event.action == "network-connection")
    assert event.vigil.category == Category.NETWORK and event.event.category == ["network"]
    assert event.source and (event.source.ip, event.source.port) == ("10.23.42.38", 62095)
    assert event.destination and (event.destination.ip, event.destination.port) == ("10.23.123.11", 443)
    assert event.network and (event.network.transport, event.network.direction) == ("tcp", "egress")
    assert event.process and event.process.name == "powershell.exe" and event.process.pid == 2668
    assert event.winlog and event.winlog.event_data["Initiated"] == "true"  # JSON true → "true" as in XML


def test_sysmon_11_file_create(corpus: Corpus) -> None:
    event = record(corpus, PSEXEC, 48595)
    assert event.event.action == "file-created" and event.event.category == ["file"]
    assert event.file and event.file.path == "C:\\Windows\\PSEXESVC.exe"
    assert (event.file.name, event.file.directory) == ("PSEXESVC.exe", "C:\\Windows")
    assert event.file.extension == "exe"
    assert event.process and event.process.executable == "C:\\TOOLS\\PsExec64.exe"


def test_sysmon_13_registry_value_set(corpus: Corpus) -> None:
    event = record(corpus, PSEXEC, 48594)
    assert event.registry and event.registry.hive == "HKU" and event.registry.value == "EulaAccepted"
    assert event.registry.key and event.registry.key.endswith("-1111\\Software\\Sysinternals\\PsExec")
    assert event.registry.data and event.registry.data.type == "REG_DWORD"
    assert event.registry.data.strings == ["1"]  # DWORD (0x00000001)
    assert event.event.action == "registry-value-set"


def test_sysmon_22_dns_query(corpus: Corpus) -> None:
    event = next(e for _, e in corpus[PSEXEC] if e.event.code == "22")
    assert event.vigil.category == Category.NETWORK and event.event.action == "dns-query"
    assert event.dns and event.dns.question and event.dns.question.name == "fs03vuln"
    assert event.dns.resolved_ip == ["10.23.42.38"]
    assert event.process and event.process.name == "PsExec64.exe"


def test_defender_detection(corpus: Corpus) -> None:
    event = corpus["Antivirus/ID1116-1117-Defender threat detected.jsonl"][0][1]
    assert event.event.kind == "alert" and event.event.action == "malware-detected"
    assert event.labels["threat_name"] == "HackTool:Win64/Mikatz!dha"
    assert event.file and event.file.path == "C:\\Users\\admmig\\Documents\\mimidrv.sys"
    assert event.user and event.user.name == "admmig"
    assert event.winlog and event.winlog.event_data["Threat Name"] == "HackTool:Win64/Mikatz!dha"


def test_powershell_script_block_and_pipeline(corpus: Corpus) -> None:
    blocks = [e for _, e in all_events(corpus) if e.event.code == "4104"]
    assert blocks and all(e.winlog and "ScriptBlockText" in e.winlog.event_data for e in blocks)
    assert all(e.process and e.process.pid for e in blocks)  # the logging powershell.exe
    pipeline = next(e for _, e in all_events(corpus) if e.event.code == "4103")
    assert pipeline.process and pipeline.process.name == "powershell.exe"
    assert pipeline.user and pipeline.user.name == "admmig"


def test_unnamed_data_and_qualified_event_id(corpus: Corpus) -> None:
    # MSSQL audit 33205: EventID {"#attributes": {"Qualifiers": ...}, "#text": 33205}; one unnamed <Data>.
    event = next(e for _, e in all_events(corpus) if e.event.code == "33205")
    assert event.winlog and "statement:Login failed for user 'sa'" in event.winlog.event_data["Data"]


# --- other shapes ---------------------------------------------------------------------------------


def test_winlogbeat_6416_device() -> None:
    path = dataset("samplelogs", "windows_usb", "test-6416.json")
    [(_, raw)] = list(iter_json_export(path))
    event = parse_windows(raw, CTX)
    assert event.event.code == "6416" and event.event.action == "device-recognized"
    assert event.timestamp == datetime(2023, 1, 9, 7, 4, 28, 811000, tzinfo=UTC)
    assert event.host and event.host.name == "Server2.test1.local"  # winlog.computer_name over host.name
    assert event.device and event.device.id == "SWD\\PRINTENUM\\{00000000-0000-0000-0000-000000000000}"
    assert event.device.model and event.device.model.name == "Fax (redirected 2)"
    assert event.labels["device_class"] == "PrintQueue"
    assert event.winlog and event.winlog.record_id == 650005840 and event.winlog.keywords == ["Audit Success"]
    assert event.winlog.process and (event.winlog.process.pid, event.winlog.process.thread_id) == (4, 6988)
    assert event.user and (event.user.name, event.user.domain) == ("SERVER2$", "TEST1")


USB_ID = "USBSTOR\\DISK&VEN_KINGSTON&PROD_DATATRAVELER_3.0&REV_PMAP\\60A44C41"


def test_usb_mass_storage_vendor_and_product() -> None:
    # Generated: no public USBSTOR 6416 fixture exists (see datasets/samplelogs/NOTES.txt).
    raw = json.dumps({
        "winlog": {"channel": "Security", "event_id": "6416", "computer_name": "pc7.corp.local",
                   "provider_name": "Microsoft-Windows-Security-Auditing",
                   "event_data": {"SubjectUserName": "PC7$", "ClassName": "DiskDrive",
                                  "DeviceId": USB_ID,
                                  "DeviceDescription": "Kingston DataTraveler 3.0 USB Device"}},
        "@timestamp": "2026-11-20T02:00:00Z",
    })  # fmt: skip
    event = parse_windows(raw, CTX)
    assert event.device and event.device.manufacturer == "KINGSTON"
    assert event.device.model and event.device.model.identifier == "DATATRAVELER_3.0"


def test_sigma_regression_samples_parse() -> None:
    root = dataset("sigma-regression", "samples_json")
    codes: Counter[tuple[str | None, str | None]] = Counter()
    for path in sorted(root.rglob("*.json")):
        for _, raw in iter_json_export(path):
            event = parse_windows(raw, CTX)
            codes[(event.winlog.channel if event.winlog else None, event.event.code)] += 1
    assert sum(codes.values()) == 118
    assert codes[(SYSMON, "1")] == 68 and codes[(SYSMON, "11")] == 25 and codes[("Security", "4701")] == 1


def test_flat_nxlog_mordor_record() -> None:
    raw = json.dumps({
        "@timestamp": "2020-05-02T02:55:23.551Z", "Hostname": "UTICA.dmevals.local",
        "EventTime": "2020-05-01 22:55:23",
        "SourceName": "Microsoft-Windows-Security-Auditing", "EventID": 4624, "Channel": "Security",
        "RecordNumber": 123, "ProcessID": 640, "ThreadID": 700, "Keywords": -9214364837600034816,
        "EventType": "AUDIT_SUCCESS", "Severity": "INFO", "Task": 12544,
        "Message": "An account was logged on.",
        "TargetUserName": "pbeesly", "TargetDomainName": "DMEVALS", "LogonType": "10",
        "IpAddress": "::ffff:10.0.1.4", "IpPort": "50123", "host": "wec.internal.cloudapp.net", "port": 60737,
    })  # fmt: skip
    event = parse_windows(raw, CTX)
    assert event.timestamp == datetime(2020, 5, 2, 2, 55, 23, 551000, tzinfo=UTC)
    assert event.host and event.host.name == "UTICA.dmevals.local"
    assert event.user and event.user.name == "pbeesly" and event.labels["logon_type"] == "RemoteInteractive"
    assert event.source and (event.source.ip, event.source.port) == ("10.0.1.4", 50123)
    assert event.event.outcome == "success" and event.message == "An account was logged on."
    assert event.winlog and event.winlog.keywords == ["Audit Success"] and event.winlog.record_id == 123
    assert set(event.winlog.event_data) == {
        "TargetUserName", "TargetDomainName", "LogonType", "IpAddress", "IpPort"}  # fmt: skip
    assert event.log and event.log.level == "information"


def test_flat_local_event_time_uses_the_configured_zone() -> None:
    raw = json.dumps({"EventID": 4634, "Channel": "Security", "Hostname": "h1",
                      "EventTime": "2020-05-01 22:55:23"})  # fmt: skip
    assert parse_windows(raw, CTX).timestamp == datetime(2020, 5, 1, 14, 55, 23, tzinfo=UTC)  # UTC+8


def test_winlogbeat_dotted_keys_and_legacy_winlogbeat6() -> None:
    dotted = json.dumps({
        "@timestamp": "2024-03-01T10:00:00Z", "winlog.channel": SYSMON, "winlog.event_id": 22,
        "winlog.computer_name": "ws1", "winlog.provider_name": "Microsoft-Windows-Sysmon",
        "winlog.event_data.QueryName": "evil.example", "winlog.event_data.Image": "C:\\x\\a.exe",
    })  # fmt: skip
    event = parse_windows(dotted, CTX)
    assert event.dns and event.dns.question and event.dns.question.name == "evil.example"
    assert event.winlog and event.winlog.event_data == {"QueryName": "evil.example", "Image": "C:\\x\\a.exe"}
    legacy = json.dumps({
        "@timestamp": "2018-01-01T00:00:00.000Z", "event_id": 4720, "log_name": "Security",
        "source_name": "Microsoft-Windows-Security-Auditing", "computer_name": "dc1", "record_number": "77",
        "event_data": {"TargetUserName": "eve", "SubjectUserName": "admin"}, "keywords": ["Audit Success"],
    })  # fmt: skip
    event = parse_windows(legacy, CTX)
    assert event.user and event.user.name == "admin" and event.user.target and event.user.target.name == "eve"
    assert event.winlog and event.winlog.record_id == 77 and event.event.outcome == "success"


def test_xmltodict_shape_with_data_list() -> None:
    raw = json.dumps({"Event": {"@xmlns": "http://schemas.microsoft.com/win/2004/08/events/event", "System": {
        "Provider": {"@Name": "Microsoft-Windows-Security-Auditing"},
        "EventID": {"@Qualifiers": "", "#text": "4740"},
        "TimeCreated": {"@SystemTime": "2026-11-20T01:02:03.1234567Z"}, "EventRecordID": "9",
        "Channel": "Security", "Computer": "dc1.corp.local", "Keywords": "0x8020000000000000"},
        "EventData": {"Data": [{"@Name": "TargetUserName", "#text": "bob"},
                               {"@Name": "TargetDomainName", "#text": "WS17"},
                               {"@Name": "TargetSid"}]}}})  # fmt: skip
    event = parse_windows(raw, CTX)
    assert event.timestamp == datetime(2026, 11, 20, 1, 2, 3, 123456, tzinfo=UTC)
    assert event.winlog
    assert event.winlog.event_data == {"TargetUserName": "bob", "TargetDomainName": "WS17", "TargetSid": ""}
    assert event.user and event.user.target and event.user.target.name == "bob"
    assert event.source and event.source.domain == "WS17"  # 4740: the caller computer
    assert event.event.action == "user-account-locked-out"


def test_powershell_convertto_json_shape() -> None:
    raw = json.dumps({"Id": 7045, "LogName": "System", "ProviderName": "Service Control Manager",
                      "MachineName": "srv9", "TimeCreated": "/Date(1700000000000)/", "RecordId": 5,
                      "ServiceName": "evilsvc"})  # fmt: skip
    event = parse_windows(raw, CTX)
    assert event.timestamp == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert event.service and event.service.name == "evilsvc" and event.event.action == "service-installed"


def test_record_without_time_uses_receipt_and_says_so() -> None:
    event = parse_windows(json.dumps({"EventID": "4624", "Channel": "Security", "Computer": "h"}), CTX)
    assert event.timestamp == RECEIVED and "vigil-time-from-receipt" in event.tags


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ('{"Event": {"System": {"EventID": 4624', "not valid JSON"),
        ("not json at all", "line 1 column 1"),
        ("", "empty record"),
        ("[1, 2]", "got a JSON list"),
        ('{"message": "hello"}', "no Windows event id"),
        ('{"EventID": "abc", "Channel": "Security"}', "is not a number"),
        ('{"EventID": 1, "Channel": "Security", "TimeCreated": "yesterday"}', "unreadable event time"),
    ],
)
def test_malformed_records_raise_parse_error_with_reason(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as info:
        parse_windows(raw, CTX)
    assert str(info.value).startswith("windows: ")

