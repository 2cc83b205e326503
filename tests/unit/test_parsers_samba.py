"""Samba vfs_full_audit records.

samplelogs/samba_full_audit holds only the 4 example lines from vfs_full_audit.c's header comment. The
syslog-wrapped records below (a finance share, `full_audit:prefix = %u|%I|%S`) are GENERATED in the format
Samba 4.x writes, including a GENERATED insider-style burst: one user reading many files in a few seconds.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.samba_audit import audit_fields, parse_samba_audit
from ingest.parsers.syslog import parse_syslog
from tests.datasets import lines

CTX = ParseContext(
    source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai")
)


def test_source_example_lines() -> None:
    rows = lines("samplelogs", "samba_full_audit", "vfs_full_audit.c.example-lines.txt")
    opendir, create_fail, open_w, create_ok = (parse_samba_audit(row, CTX) for row in rows)
    for event in (opendir, create_fail, open_w, create_ok):
        assert event.event.dataset == "samba.full_audit" and event.vigil.category == Category.USER
        assert (
            event.user and event.user.name == "nobody" and event.source and event.source.ip == "192.168.234.1"
        )
        assert event.timestamp == CTX.received_at and event.tags == ["timestamp_from_received_at"]
        assert "share" not in event.labels  # default prefix %u|%I has no share
    assert (opendir.event.action, opendir.event.type, opendir.file and opendir.file.path) == (
        "opendir",
        ["access"],
        "/tmp",
    )
    assert (create_fail.event.outcome, create_fail.event.reason) == ("failure", "No such file or directory")
    assert create_fail.file and (create_fail.file.name, create_fail.file.directory) == ("doesNotExist", "/ts")
    assert create_fail.labels == {"access_mask": "0x1", "create_disposition": "open"}
    assert open_w.labels["file_open_mode"] == "w" and open_w.event.type == ["change"]
    assert open_w.file and (open_w.file.path, open_w.file.extension) == ("/tmp/file.txt", "txt")
    assert create_ok.event.outcome == "success"


# GENERATED records (see module docstring).
SHARE = [
    "alice|10.0.0.5|finance|connect|ok|finance",
    "alice|10.0.0.5|finance|openat|ok|r|/srv/finance/q3.xlsx",
    "alice|10.0.0.5|finance|pread|ok|/srv/finance/q3.xlsx",
    "alice|10.0.0.5|finance|pwrite|ok|/srv/finance/q3-copy.xlsx",
    "alice|10.0.0.5|finance|renameat|ok|/srv/finance/q3-copy.xlsx|/srv/finance/archive/q3-final.xlsx",
    "alice|10.0.0.5|finance|mkdirat|ok|/srv/finance/2026",
    "alice|10.0.0.5|finance|unlinkat|fail (Permission denied)|/srv/finance/payroll.xlsx",
    "alice|10.0.0.5|finance|create_file|ok|0x120089|file|create|/srv/finance/notes.txt",
    "alice|10.0.0.5|finance|disconnect|ok|finance",
]
EXPECTED = [
    ("connect", ["session"], ["start"], "success", None),
    ("openat", ["file"], ["access"], "success", "/srv/finance/q3.xlsx"),
    ("pread", ["file"], ["access"], "success", "/srv/finance/q3.xlsx"),
    ("pwrite", ["file"], ["change"], "success", "/srv/finance/q3-copy.xlsx"),
    ("renameat", ["file"], ["change"], "success", "/srv/finance/archive/q3-final.xlsx"),
    ("mkdirat", ["file"], ["creation"], "success", "/srv/finance/2026"),
    ("unlinkat", ["file"], ["deletion"], "failure", "/srv/finance/payroll.xlsx"),
    ("create_file", ["file"], ["creation"], "success", "/srv/finance/notes.txt"),
    ("disconnect", ["session"], ["end"], "success", None),
]


@pytest.mark.parametrize(("record", "expected"), list(zip(SHARE, EXPECTED, strict=True)))
def test_syslog_wrapped_records(record: str, expected: tuple) -> None:
    action, category, etype, outcome, path = expected
    event = parse_syslog(f"Nov 23 10:20:00 fs01 smbd_audit[4711]: {record}", CTX)
    assert event.event.dataset == "samba.full_audit" and event.host and event.host.name == "fs01"
    assert (event.event.action, event.event.category, event.event.type, event.event.outcome) == (
        action,
        category,
        etype,
        outcome,
    )
    assert (event.file.path if event.file else None) == path
    assert event.user and event.user.name == "alice" and event.source and event.source.ip == "10.0.0.5"
    assert event.labels["share"] == "finance" and event.vigil.entity == "user:alice"
    assert event.timestamp == datetime(2026, 11, 23, 2, 20, tzinfo=UTC)


def test_rename_keeps_the_original_path() -> None:
    event = parse_syslog(f"Nov 23 10:20:00 fs01 smbd_audit[4711]: {SHARE[4]}", CTX)
    assert event.labels["file_original_path"] == "/srv/finance/q3-copy.xlsx"
    assert (
        event.file and event.file.directory == "/srv/finance/archive" and event.file.name == "q3-final.xlsx"
    )


def test_mass_copy_burst_is_attributable_to_one_user() -> None:
    """GENERATED: 300 reads of distinct files by one user within five minutes (the 'copying controlled "
    "files' case)."""
    events = [
        parse_syslog(
            f"Nov 23 18:{40 + i // 60:02d}:{i % 60:02d} fs01 smbd_audit[5120]: "
            f"bob|10.0.0.77|finance|pread|ok|/srv/finance/contracts/C-{i:04d}.pdf",
            CTX,
        )
        for i in range(300)
    ]
    assert Counter(e.vigil.entity for e in events) == Counter({"user:bob": 300})
    assert len({e.file.path for e in events if e.file}) == 300
    assert {e.file.extension for e in events if e.file} == {"pdf"}
    span = max(e.timestamp for e in events) - min(e.timestamp for e in events)
    assert span.total_seconds() == 299


def test_configurable_prefix_fields() -> None:
    fields = audit_fields("10.0.0.9|CORP\\carol|hr|pwrite|ok|/srv/hr/salaries.csv", ("ip", "user", "share"))
    assert fields and fields["user"] == {"name": "CORP\\carol"} and fields["source"]["ip"] == "10.0.0.9"
    assert fields["labels"]["share"] == "hr"


def test_not_an_audit_record() -> None:
    with pytest.raises(ParseError, match="not a Samba full_audit record"):
        parse_samba_audit("smbd_audit: hello world", CTX)
    generic = parse_syslog("Nov 23 10:20:00 fs01 smbd[812]: daemon started", CTX)
    assert generic.event.dataset == "syslog.generic"
