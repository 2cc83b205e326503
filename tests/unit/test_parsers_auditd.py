"""Linux audit records: samplelogs/auditd/{test,useradd}.log (elastic/beats fixtures) and, as extra
coverage, the sshd USER_* records of fail2ban/selinux-ssh (one of them in the ENRICHED format).

Expected counts were measured on the files, independently of the parser:
  per type:  grep -o '^type=[A-Z_]*' FILE | sort | uniq -c
  success:   grep -cE "res=(success|1)'?( |$)|success=yes" ; failure: grep -c 'res=failed'
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.auditd import parse_auditd
from ingest.parsers.base import ParseContext
from tests.datasets import dataset, lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_every_record_of_test_log() -> None:
    events = [parse_auditd(row, CTX) for row in lines("samplelogs", "auditd", "test.log")]
    assert len(events) == 15
    assert Counter(e.event.action for e in events) == {
        "mac_ipsec_event": 1, "syscall": 2, "user_cmd": 1, "crypto_session": 1, "tty": 1, "proctitle": 2,
        "software_update": 1, "system_boot": 1, "system_shutdown": 1, "execve": 1, "kern_module": 1,
        "virt_control": 1, "virt_machine_id": 1,
    }  # fmt: skip
    assert Counter(e.event.outcome for e in events) == {"success": 10, None: 5}
    assert Counter(e.vigil.category for e in events) == {Category.SYSTEM: 14, Category.USER: 1}  # USER_CMD
    assert all(e.event.dataset == "auditd.log" and e.labels["auditd_sequence"] for e in events)


def test_every_record_of_useradd_log() -> None:
    events = [parse_auditd(row, CTX) for row in lines("samplelogs", "auditd", "useradd.log")]
    assert len(events) == 8
    assert Counter(e.event.action for e in events) == {
        "add_group": 3, "add_user": 1, "user_acct": 2, "user_chauthtok": 1, "user_auth": 1,
    }  # fmt: skip
    assert all(e.event.outcome == "success" and e.vigil.category == Category.USER for e in events)
    assert all(e.host and e.host.name in ("ubuntu-bionic", "localhost") for e in events)
    group = events[0]
    assert group.group and group.group.id == "1004" and group.event.type == ["group", "creation"]
    assert group.labels["auditd_op"] == "adding group to /etc/group"  # unquoted value with spaces
    assert group.process and (group.process.pid, group.process.executable, group.process.name) == (
        2940,
        "/usr/sbin/groupadd",
        "groupadd",
    )
    assert group.timestamp == datetime(2021, 1, 17, 17, 12, 33, 686000, tzinfo=UTC)
    assert group.labels["auditd_sequence"] == "584"
    add_user = events[3]
    assert add_user.user and add_user.user.id == "1000"  # auid: who ran useradd
    assert add_user.user.target and add_user.user.target.id == "1004"
    chauthtok = events[5]  # passwd for charlie, run by auid 1000
    assert chauthtok.user and chauthtok.user.target and chauthtok.user.target.name == "charlie"
    auth = events[6]
    assert auth.event.category == ["authentication"] and auth.user and auth.user.name == "root"
    assert auth.source and auth.source.ip == "127.0.0.1" and auth.source.domain is None
    tally = events[4]  # `msg='pam_tally2 uid=1004 ...'`: a bare word and an inner uid
    assert tally.labels["auditd_text"] == "pam_tally2" and tally.labels["auditd_msg_uid"] == "1004"


def test_hex_encoded_values_are_decoded() -> None:
    rows = lines("samplelogs", "auditd", "test.log")
    syscall = parse_auditd(rows[1], CTX)
    assert syscall.process and syscall.process.executable == "/usr/libexec/strongswan/charon (deleted)"
    assert syscall.process.name == "charon" and syscall.process.pid == 1281
    assert syscall.process.parent and syscall.process.parent.pid == 1240
    assert syscall.event.outcome == "success" and syscall.labels["auditd_syscall"] == "44"
    assert syscall.labels["auditd_a0"] == "9"  # SYSCALL a0..a3 are registers, never decoded
    assert "auditd_key" not in syscall.labels  # key=(null)
    sudo = parse_auditd(rows[2], CTX)
    assert sudo.process
    assert sudo.process.command_line == "/usr/lib64/nagios/plugins/check_asterisk_sip_peers -p 202"
    assert sudo.process.working_directory == "/" and sudo.labels["auditd_text"] == "user"
    proctitle = parse_auditd(rows[6], CTX)
    assert proctitle.process and proctitle.process.command_line == "sshd: burn [priv]"
    assert parse_auditd(rows[5], CTX).process.args == ["bash"]  # type: ignore[union-attr]
    tty = parse_auditd(rows[4], CTX)
    assert tty.labels["auditd_data"].startswith("eh\x7f\x7fecho test\rvim /etc/pam.d/password-auth-ac")


def test_network_and_interpreted_records() -> None:
    rows = lines("samplelogs", "auditd", "test.log")
    crypto = parse_auditd(rows[3], CTX)
    assert crypto.source and (crypto.source.ip, crypto.source.port) == ("96.241.146.97", 63927)
    assert crypto.destination and (crypto.destination.ip, crypto.destination.port) == ("10.142.0.2", 22)
    assert crypto.labels["auditd_cipher"] == "chacha20-poly1305@openssh.com"
    assert "auditd_mac" not in crypto.labels  # `mac= `: empty values are not labels
    execve = parse_auditd(rows[10], CTX)
    assert execve.process and execve.process.args == ["top"] and execve.process.command_line == "top"
    interpreted = parse_auditd(rows[11], CTX)  # `auid=vagrant uid=vagrant` (ausearch -i style)
    assert interpreted.user and interpreted.user.name == "vagrant" and interpreted.user.id is None
    assert interpreted.labels["auditd_syscall"] == "execve" and interpreted.process
    assert interpreted.process.executable == "/usr/bin/top"


def test_enriched_record_and_long_execve_arguments() -> None:
    raw = (
        "node=web1 type=USER_LOGIN msg=audit(1700000000.005:77): pid=9 uid=0 auid=1000 ses=3 "
        'msg=\'op=login id=1000 exe="/usr/sbin/sshd" hostname=evil.example addr=203.0.113.5 terminal=ssh '
        'res=failed\'\x1dUID="root" AUID="alice" ID="alice"'
    )
    e = parse_auditd(raw, CTX)
    assert e.timestamp == datetime(2023, 11, 14, 22, 13, 20, 5000, tzinfo=UTC)
    assert e.event.outcome == "failure" and e.event.category == ["authentication", "session"]
    assert e.user and (e.user.name, e.user.id) == ("alice", "1000")
    assert e.host and e.host.name == "web1"  # node=, not the remote hostname=
    assert e.source and (e.source.ip, e.source.domain) == ("203.0.113.5", "evil.example")
    assert e.labels["auditd_enriched_uid"] == "root" and e.vigil.category == Category.USER
    args = 'type=EXECVE msg=audit(1700000000.500:78): argc=2 a0="sh" a1_len=10 a1[0]=2D632022 a1[1]=6C7322'
    execve = parse_auditd(args, CTX)
    assert execve.process and execve.process.args == ["sh", '-c "ls"']


def test_fail2ban_selinux_ssh_failed_logins() -> None:
    # Read with split("\n"): str.splitlines() (used by tests.datasets.lines) also splits on \x1d, the
    # separator of ENRICHED records, which would cut the last record in two.
    text = dataset("samplelogs", "fail2ban", "selinux-ssh").read_text(encoding="utf-8")
    rows = [r for r in text.split("\n") if r.strip() and not r.startswith("#")]
    events = [parse_auditd(r, CTX) for r in rows]
    assert len(events) == 11 and all(e.event.outcome == "failure" for e in events)  # grep -c 'res=failed'
    # acct= values (grep -oE 'acct=("[^"]*"|[0-9A-F]+)'): root 3, dan 2, sshd 1, "?" 2, and hex-encoded
    # "(invalid user)" 2 and "(unknown user)" 1, which name no account.
    assert Counter(e.user.name for e in events if e.user and e.user.name) == {"root": 3, "dan": 2, "sshd": 1}
    assert Counter(e.labels.get("auditd_acct") for e in events) == {
        "root": 3, "dan": 2, "sshd": 1, "(invalid user)": 2, "(unknown user)": 1, None: 2,
    }  # fmt: skip
    assert events[-1].labels["auditd_enriched_uid"] == "root"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "not a Linux audit record"),
        ("type=SYSCALL msg=audit(1364481363:24287): arch=c000003e", "not a Linux audit record"),
        ("Mar  1 00:00:00 host audispd: type=SYSCALL msg=audit(1.2:3): x=1", "not a Linux audit record"),
    ],
)
def test_unparseable_lines_say_why(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_auditd(raw, CTX)
