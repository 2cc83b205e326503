"""Policy violations on real attack recordings (mdecrevoisier EVTX-to-MITRE-Attack) and generated lines."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from detectors.policy.violations import (
    ACCOUNT_CREATED,
    LOG_CLEARED,
    PRIVILEGED_GROUP,
    PROHIBITED,
    PROXY,
    SECURITY_STOPPED,
    PolicyViolationDetector,
    ViolationsConfig,
)
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset, lines
from tests.unit.policy_support import CTX, event, feed, parse, restart, rules


def replay(*parts: str) -> list:
    path = dataset("attack", "mdecrevoisier", *parts)
    det = PolicyViolationDetector()
    return feed(det, (parse_windows(line, CTX) for line in path.read_text().splitlines() if line.strip()))


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (
            ("TA0005-Defense Evasion", "T1070.001-Clear Windows event logs", "ID104-1102-Event log cleared.jsonl"),
            {LOG_CLEARED.id: 2},
        ),  # 90 System 104 on one host in a minute: one alert, plus the Security 1102
        (
            ("TA0003-Persistence", "T1098.xxx-Account manipulation", "ID4732-User added to local admin groups.jsonl"),
            {PRIVILEGED_GROUP.id: 2},
        ),
        (
            (
                "TA0003-Persistence",
                "T1098.xxx-Account manipulation",
                "ID4728-4756-Member added to sensitive domain groups.jsonl",
            ),
            {PRIVILEGED_GROUP.id: 3},
        ),
        (
            ("TA0003-Persistence", "T1136-Create account", "ID4720-Local user created.jsonl"),
            {ACCOUNT_CREATED.id: 1},
        ),  # then added to Users: not an admin group
        (
            (
                "TA0005-Defense Evasion",
                "T1562.001-Impair Defenses-Disable or Modify tool",
                "ID4688-Defender service deactivation attempt.jsonl",
            ),
            {SECURITY_STOPPED.id: 3},
        ),
        (
            (
                "TA0005-Defense Evasion",
                "T1562.001-Impair Defenses-Disable or Modify tool",
                "ID4688-Defender critical features disabled (command).jsonl",
            ),
            {SECURITY_STOPPED.id: 2},
        ),
        (
            ("TA0011-Command and Control", "T1572-Protocol tunneling", "ID4688-netsh RDP port forwarding abuse.jsonl"),
            {LOG_CLEARED.id: 1, PROXY.id: 1},
        ),
        (
            (
                "TA0003-Persistence",
                "T1543.003-Create or Modify System Process-Windows Service",
                "ID7045-7036 PSexec service installation.jsonl",
            ),
            {LOG_CLEARED.id: 1},
        ),  # PSEXESVC stop: not AV
    ],
)
def test_real_attack_recordings(parts: tuple[str, ...], expected: dict[str, int]) -> None:
    alerts = replay(*parts)
    assert dict(Counter(rules(alerts))) == expected
    for alert in alerts:
        assert alert.summary.en and alert.summary.zh and alert.playbook and alert.entity


def test_hidden_user_made_admin_is_a_new_admin_account() -> None:
    alerts = replay("TA0003-Persistence", "T1136-Create account", "ID472, 4728 Hidden user creation.jsonl")
    group = [a for a in alerts if a.rule.id == PRIVILEGED_GROUP.id]
    assert group and group[0].severity.value == "critical" and group[0].context["new_account"] == "true"
    assert "attack.t1098" in group[0].tags


def proc(ts: float, name: str, command: str = "", host: str = "ws01", user: str = "bob") -> object:
    return event(ts, user=user, host=host, category="process", type="start", process__name=name,
                 process__executable=f"C:\\Tools\\{name}", process__command_line=command or name)  # fmt: skip


def test_prohibited_software_categories_and_negative() -> None:
    det = PolicyViolationDetector()
    alerts = feed(det, [proc(0, "mimikatz.exe"), proc(1, "WeChat.exe"), proc(2, "steam.exe"),
                        proc(3, "notepad.exe")])  # fmt: skip
    assert [a.context["category"] for a in alerts] == ["hacking", "chat", "game"]
    assert alerts[0].severity.value == "high" and alerts[1].severity.value == "medium"
    assert "黑客工具" in alerts[0].summary.zh


def test_configurable_list_and_suppression_across_restart() -> None:
    cfg = ViolationsConfig(prohibited={"chat": ["feishu*.exe"]})
    det = PolicyViolationDetector(cfg)
    assert rules(feed(det, [proc(0, "Feishu.exe"), proc(0.5, "wechat.exe")])) == [PROHIBITED.id]
    det = restart(det, lambda: PolicyViolationDetector(cfg))
    assert feed(det, [proc(30, "Feishu.exe")]) == []  # same host and program within the hour
    assert rules(feed(det, [proc(61, "Feishu.exe")])) == [PROHIBITED.id]


def test_proxy_setup_processes_and_commands() -> None:
    det = PolicyViolationDetector()
    assert rules(feed(det, [proc(0, "3proxy.exe")])) == [PROXY.id]
    assert rules(feed(det, [proc(1, "ssh", "ssh -N -D 1080 user@203.0.113.7", host="lx01")])) == [PROXY.id]
    assert feed(det, [proc(2, "ssh", "ssh admin@10.0.0.5", host="lx01")]) == []


def test_linux_useradd_then_sudo_group_through_the_auth_parser() -> None:
    det = PolicyViolationDetector()
    lines = [
        "Dec  1 10:00:00 lx01 useradd[811]: new user: name=backdoor, UID=1001, GID=1001, home=/home/backdoor, "
        "shell=/bin/bash",
        "Dec  1 10:00:05 lx01 usermod[812]: add 'backdoor' to group 'sudo'",
        "Dec  1 10:00:06 lx01 usermod[812]: add 'backdoor' to shadow group 'sudo'",
        "Dec  1 10:01:00 lx01 usermod[813]: add 'alice' to group 'docker'",
    ]
    alerts = feed(det, (parse(line) for line in lines))
    assert rules(alerts) == [ACCOUNT_CREATED.id, PRIVILEGED_GROUP.id]
    assert alerts[1].severity.value == "critical"  # created minutes ago, now in sudo


def test_security_service_stopped_7036_and_auditd_command() -> None:
    stopped = json.dumps({"winlog": {"channel": "System", "event_id": "7036", "computer_name": "ws01",
                                     "provider_name": "Service Control Manager",
                                     "event_data": {"param1": "Microsoft Defender Antivirus Service",
                                                    "param2": "stopped"}},
                          "@timestamp": "2026-12-01T02:00:00Z"})  # fmt: skip
    running = stopped.replace('"stopped"', '"running"')
    det = PolicyViolationDetector()
    assert feed(det, [parse_windows(running, CTX)]) == []
    assert rules(feed(det, [parse_windows(stopped, CTX)])) == [SECURITY_STOPPED.id]
    assert rules(feed(det, [proc(0, "systemctl", "systemctl stop auditd", host="lx01")])) == [SECURITY_STOPPED.id]


def test_auditd_execve_and_account_records() -> None:
    det = PolicyViolationDetector()
    real = [line for line in lines("samplelogs", "auditd", "test.log") if "type=EXECVE" in line]
    assert real and feed(det, (parse(line) for line in real)) == []  # `top`
    # GENERATED in the same record shape: a hacking tool started
    nmap = "type=EXECVE msg=audit(1764554400.206:579400): argc=3 a0=nmap a1=-sS a2=10.0.0.0/24"
    assert rules(feed(det, [parse(nmap)])) == [PROHIBITED.id]
    added = [line for line in lines("samplelogs", "auditd", "useradd.log") if "type=ADD_USER" in line]
    assert rules(feed(det, (parse(line) for line in added))) == [ACCOUNT_CREATED.id]
    useradd = [line for line in lines("samplelogs", "authlog", "test.log") if "useradd[" in line]
    assert rules(feed(PolicyViolationDetector(), (parse(line) for line in useradd))) == [ACCOUNT_CREATED.id]


def test_admin_grant_arriving_before_the_account_creation() -> None:
    det = PolicyViolationDetector()
    grant = parse("Dec  1 10:00:05 lx01 usermod[812]: add 'backdoor' to group 'wheel'")
    create = parse("Dec  1 10:00:00 lx01 useradd[811]: new user: name=backdoor, UID=1001, GID=1001, home=/h, shell=/s")
    first = feed(det, [grant])
    assert [a.severity.value for a in first] == ["high"]  # not known to be new yet
    det = restart(det, PolicyViolationDetector)
    late = feed(det, [create])
    assert rules(late) == [ACCOUNT_CREATED.id, PRIVILEGED_GROUP.id] and late[1].severity.value == "critical"


def sysmon_inbound(port: int, host: str = "ws07", image: str = "C:\\Tools\\px.exe") -> str:
    return json.dumps({"winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": "3",
                                  "computer_name": host, "provider_name": "Microsoft-Windows-Sysmon",
                                  "event_data": {"Image": image, "User": "CORP\\bob", "Protocol": "tcp",
                                                 "Initiated": "false", "SourceIp": "10.0.0.50", "SourcePort": "50100",
                                                 "DestinationIp": "10.0.0.7", "DestinationPort": str(port)}},
                       "@timestamp": "2026-12-01T02:00:00Z"})  # fmt: skip


def test_workstation_listening_on_a_proxy_port() -> None:
    det = PolicyViolationDetector(ViolationsConfig(allowed_proxy_hosts=["proxy*"]))
    assert rules(feed(det, [parse_windows(sysmon_inbound(1080), CTX)])) == [PROXY.id]
    assert feed(det, [parse_windows(sysmon_inbound(445), CTX)]) == []
    assert feed(det, [parse_windows(sysmon_inbound(3128, host="proxy01"), CTX)]) == []
