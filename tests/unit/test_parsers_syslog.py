"""Syslog framing and dispatch: RFC 3164 (with and without PRI), ISO-timestamped variants, RFC 5424.

Real fixtures: rsyslog's `.parse1` cases (line 1 raw input, line 2 rsyslog's expected CSV
`pri,facility,severity,timestamp,hostname,programname,syslogtag,msg`) and `rfc5424.log`, whose literal
text "BOM" we replace with U+FEFF so the BOM handling is exercised for real.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.errors import ParseError
from core.names import Category
from ingest.parsers.base import ParseContext
from ingest.parsers.syslog import FACILITIES, SEVERITIES, parse_header, parse_syslog
from tests.datasets import lines

SHANGHAI = ZoneInfo("Asia/Shanghai")
CTX = ParseContext(source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=SHANGHAI)


def ctx_at(iso: str) -> ParseContext:
    return ParseContext(source="test", received_at=datetime.fromisoformat(iso), zone=SHANGHAI)


# --- rsyslog .parse1 fixtures -------------------------------------------------------------------------------

# Where we knowingly differ from rsyslog, and why (compared "where meaningful").
DEVIATIONS = {
    # rsyslog accepts a space-terminated tag; we require `tag:` or `tag[pid]:` so the first word of an
    # untagged message is never mistaken for a program name. rsyslog's "localhost" is its own hostname.
    ("reallife.parse1", 1): {"hostname", "programname", "msg"},
}


def parse1_cases() -> list[tuple[str, int, str, str]]:
    cases = []
    for name in ("reallife.parse1", "rfc3164.parse1", "rfc5424-3.parse1"):
        rows = lines("samplelogs", "syslog", name, skip_comments=True)
        cases += [(name, i // 2, rows[i], rows[i + 1]) for i in range(0, len(rows) - 1, 2)]
    return cases


@pytest.mark.parametrize(("name", "index", "raw", "expected"), parse1_cases())
def test_parse1_fixture_matches_rsyslog(name: str, index: int, raw: str, expected: str) -> None:
    pri, facility, severity, stamp, hostname, programname, _tag, msg = expected.split(",", 7)
    hdr = parse_header(raw, CTX)
    skip = DEVIATIONS.get((name, index), set())
    assert hdr.priority == int(pri)
    assert FACILITIES[hdr.facility or 0] == facility
    assert SEVERITIES[hdr.severity or 0] == severity
    assert f"{hdr.timestamp:%b} {hdr.timestamp.day:>2} {hdr.timestamp:%H:%M:%S}" == stamp
    if "hostname" not in skip:
        assert hdr.hostname == hostname
    if "programname" not in skip and programname:
        assert hdr.program == programname
    if "msg" not in skip:
        assert hdr.message == msg.strip()
    event = parse_syslog(raw, CTX)  # and the whole line still becomes an event
    assert event.log and event.log.syslog and event.log.syslog.priority == int(pri)


def test_parse1_deviation_keeps_the_text() -> None:
    raw = lines("samplelogs", "syslog", "reallife.parse1", skip_comments=True)[2]
    hdr = parse_header(raw, CTX)
    assert (hdr.hostname, hdr.program) == (None, None)
    assert hdr.message.startswith("#001 MSWinEventLog")


def test_rfc3164_example_routes_su_failure() -> None:
    raw = lines("samplelogs", "syslog", "rfc3164.parse1", skip_comments=True)[0]
    event = parse_syslog(raw, CTX)
    assert event.event.dataset == "system.auth"
    assert (event.event.action, event.event.outcome) == ("su", "failure")
    assert event.user and event.user.name == "lonvick"
    assert event.user.effective and event.user.effective.name == "root"


def test_rfc5424_with_structured_data_spaces_tolerated() -> None:
    raw = lines("samplelogs", "syslog", "rfc5424-3.parse1", skip_comments=True)[0]
    hdr = parse_header(raw, CTX)
    assert hdr.version == 1 and hdr.msgid == "ID47" and hdr.procid is None
    assert hdr.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert hdr.message == ""
    assert hdr.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)


def test_rfc5424_log_file_with_real_bom() -> None:
    rows = [row.replace("BOM", "\ufeff") for row in lines("samplelogs", "syslog", "rfc5424.log")]
    assert len(rows) == 3
    su, prog, postfix = (parse_syslog(row, CTX) for row in rows)
    assert su.message == "'su root' failed for lonvick on /dev/pts/8"  # BOM stripped from MSG
    assert (su.event.action, su.event.outcome, su.user and su.user.name) == ("su", "failure", "lonvick")
    assert su.timestamp == datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC)
    assert su.log and su.log.syslog and su.log.syslog.msgid == "ID47" and su.log.syslog.facility == 4
    # SD is "-", so the bracketed text is MSG (RFC 5424 6.4), not structured data.
    assert (
        prog.event.dataset == "syslog.generic"
        and prog.message
        and prog.message.startswith("[exampleSDID@17660")
    )
    assert prog.log and prog.log.syslog and prog.log.syslog.structured_data == {}
    assert (
        postfix.event.dataset == "postfix.log" and postfix.host and postfix.host.name == "frodo.example.com"
    )


# --- timestamps and year inference --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "received", "expected_utc"),
    [
        # December lines received in November are from last year.
        ("Dec 10 06:55:46 LabSZ sshd[24200]: x", "2026-11-23T04:00:00+00:00", "2025-12-09T22:55:46+00:00"),
        # Less than a day ahead of reception (sender clock skew): same year.
        ("Nov 24 10:00:00 h app: x", "2026-11-23T04:00:00+00:00", "2026-11-24T02:00:00+00:00"),
        # Year rollover: a Dec 31 line received on Jan 1 (Shanghai) is last year's.
        ("Dec 31 23:59:59 h app: x", "2026-12-31T16:30:00+00:00", "2026-12-31T15:59:59+00:00"),
        # ...and a Jan 1 line from a clock slightly ahead, received on Dec 31, is next year's.
        ("Jan  1 00:00:10 h app: x", "2026-12-31T15:59:00+00:00", "2026-12-31T16:00:10+00:00"),
        # Single-digit day, padded and unpadded.
        ("Nov  3 08:00:00 h app: x", "2026-11-23T04:00:00+00:00", "2026-11-03T00:00:00+00:00"),
        ("Feb 6 12:02:29 server vsftpd: x", "2026-11-23T04:00:00+00:00", "2026-02-06T04:02:29+00:00"),
        # Feb 29 only exists in leap years.
        ("Feb 29 10:00:00 h app: x", "2028-03-01T00:00:00+00:00", "2028-02-29T02:00:00+00:00"),
        # ISO variants: offset honoured, fractions kept, no offset means ctx.zone.
        (
            "2026-11-23T10:11:12.123+08:00 host prog[1]: msg",
            "2026-11-23T04:00:00+00:00",
            "2026-11-23T02:11:12.123+00:00",
        ),
        (
            "2019-06-14T13:01:15.412+01:30 localhost pam: x",
            "2026-11-23T04:00:00+00:00",
            "2019-06-14T11:31:15.412+00:00",
        ),
        (
            "2019-06-14T10:40:20.912134 localhost sudo: x",
            "2026-11-23T04:00:00+00:00",
            "2019-06-14T02:40:20.912134+00:00",
        ),
        (
            "2026-11-23T10:11:12.123456789Z h p: x",
            "2026-11-23T04:00:00+00:00",
            "2026-11-23T10:11:12.123456+00:00",
        ),
        # RFC 5424 with fractional seconds and a negative offset.
        (
            "<38>1 2019-07-08T17:40:16.954167-04:00 h sshd 57915 - - x",
            "2026-11-23T04:00:00+00:00",
            "2019-07-08T21:40:16.954167+00:00",
        ),
    ],
)
def test_timestamps_are_stored_in_utc(raw: str, received: str, expected_utc: str) -> None:
    event = parse_syslog(raw, ctx_at(received))
    assert event.timestamp == datetime.fromisoformat(expected_utc)
    assert event.timestamp.utcoffset() is not None and event.timestamp.utcoffset().total_seconds() == 0


def test_zone_is_recorded_only_when_assumed() -> None:
    assert parse_syslog("Nov 23 10:00:00 h app: x", CTX).event.timezone == "Asia/Shanghai"
    assert parse_syslog("2026-11-23T10:00:00Z h app: x", CTX).event.timezone is None


def test_impossible_date_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not a valid date"):
        parse_syslog("Feb 30 10:00:00 h app: x", CTX)


# --- header shapes ------------------------------------------------------------------------------------------


def test_loghub_program_with_pam_module() -> None:
    hdr = parse_header("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname=", CTX)
    assert (hdr.hostname, hdr.program, hdr.appname, hdr.procid, hdr.pid) == (
        "combo",
        "sshd",
        "sshd(pam_unix)",
        "19939",
        19939,
    )


@pytest.mark.parametrize(
    ("raw", "hostname", "program", "pid", "message"),
    [
        ("Nov 23 21:50:19 sshd[8148]: Disconnecting", None, "sshd", 8148, "Disconnecting"),
        ("Mar  3 00:17:22 [sshd]: User root from 1.2.3.4", None, "sshd", None, "User root from 1.2.3.4"),
        ("Jun 25 23:53:34 [sshd] User root", None, "sshd", None, "User root"),
        ("Oct 23 02:06:39 security: info: client", None, "security", None, "info: client"),
        (
            "Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2",
            "combo",
            None,
            None,
            "-- root[2421]: ROOT LOGIN ON tty2",
        ),
        (
            "Jun 28 04:35:30 Abc-A1 [SOMETHING-1234-A] IN=abc",
            "Abc-A1",
            None,
            None,
            "[SOMETHING-1234-A] IN=abc",
        ),
        (
            "Mar 11 23:27:54 server postfix-smo/submission/smtpd[22427]: x",
            "server",
            "postfix-smo/submission/smtpd",
            22427,
            "x",
        ),
    ],
)
def test_hostname_and_tag_detection(
    raw: str, hostname: str | None, program: str | None, pid: int | None, message: str
) -> None:
    hdr = parse_header(raw, CTX)
    assert (hdr.hostname, hdr.program, hdr.pid, hdr.message) == (hostname, program, pid, message)


def test_freebsd_verbose_priority() -> None:
    numeric = parse_header("Apr  2 17:51:27 <4.3> pancake sshd[55624]: error: PAM", CTX)
    named = parse_header("Jun 17 14:37:39 <mail.notice> robin sm-mta[2794]: x", CTX)
    assert (numeric.facility, numeric.severity, numeric.priority, numeric.hostname) == (4, 3, 35, "pancake")
    assert (named.facility, named.severity, named.priority, named.hostname) == (2, 5, 21, "robin")


def test_relay_address_after_hostname() -> None:
    hdr = parse_header("<30>Oct 4 10:18:07 a1.foo.com 89.160.20.112 named[10750]: x", CTX)
    assert (hdr.hostname, hdr.host_ip, hdr.program) == ("a1.foo.com", "89.160.20.112", "named")
    assert parse_header("<30>Apr 14 16:17:20 10.50.1.227 named[2588]: x", CTX).host_ip == "10.50.1.227"


def test_rfc5424_nil_values_and_escaped_structured_data() -> None:
    hdr = parse_header("<13>1 - - - - - - hello", CTX)
    assert (hdr.timestamp, hdr.hostname, hdr.program, hdr.procid, hdr.msgid) == (
        CTX.received_at,
        None,
        None,
        None,
        None,
    )
    assert hdr.message == "hello"
    raw = r'<14>1 2026-11-23T10:00:00+08:00 h app 7 M1 [ex@1 a="x\]y" b="q\"r" c="b\\s"][t@2] body'
    hdr = parse_header(raw, CTX)
    assert hdr.structured_data == {"ex@1": {"a": "x]y", "b": 'q"r', "c": "b\\s"}, "t@2": {}}
    assert (hdr.message, hdr.pid, hdr.msgid) == ("body", 7, "M1")


def test_rfc5424_brackets_inside_quoted_values_and_leading_bom() -> None:
    sd = '[timeQuality tzKnown="1"][x@123 test="[brackets]"]'
    raw = f"\ufeff<38>1 2019-07-08T17:40:17.9Z h sshd 5 - {sd} Failed"
    hdr = parse_header(raw, CTX)
    assert hdr.structured_data["x@123"] == {"test": "[brackets]"} and hdr.message == "Failed"


def test_malformed_structured_data_is_kept_as_message_and_tagged() -> None:
    event = parse_syslog('<14>1 2026-11-23T10:00:00Z h app - - [broken a="1" tail', CTX)
    assert event.message == '[broken a="1" tail' and "syslog_structured_data_malformed" in event.tags


def test_pri_without_timestamp_is_stamped_on_reception() -> None:
    event = parse_syslog("<13>hello world", CTX)
    assert event.timestamp == CTX.received_at and "syslog_timestamp_missing" in event.tags
    assert event.message == "hello world"


# --- dispatch -----------------------------------------------------------------------------------------------


def test_unknown_program_gives_generic_event() -> None:
    event = parse_syslog("<30>Nov 23 10:00:00 web01 myapp[42]: something happened", CTX)
    assert event.event.dataset == "syslog.generic" and event.vigil.category == Category.SYSTEM
    assert event.vigil.parser == "syslog"
    assert event.message == "something happened"
    assert event.host and event.host.name == "web01"
    assert event.process and (event.process.name, event.process.pid) == ("myapp", 42)
    assert event.log and event.log.level == "info"
    assert event.log.syslog and (event.log.syslog.facility, event.log.syslog.severity) == (3, 6)
    assert event.event.severity == 6
    assert event.vigil.entity == "host:web01"


@pytest.mark.parametrize(
    ("raw", "dataset"),
    [
        (
            "Jul  3 14:59:17 host sshd-session[1571]: Failed password for root from 192.0.2.1 port 5 ssh2",
            "system.auth",
        ),
        ("Jan 31 13:55:24 x postfix-incoming/smtpd[3462]: connect from a[1.2.3.4]", "postfix.log"),
        (
            "Feb 24 01:46:44 p sm-mta[24422]: ruleset=check_relay, arg1=a, arg2=1.2.3.4, relay=a "
            "[1.2.3.4], reject=421 "
            "4.3.2 Connection rate limit exceeded.",
            "sendmail.log",
        ),
        (
            "Jul 19 18:11:26 srv2 vsftpd: pam_unix(vsftpd:auth): authentication failure; logname= uid=0 "
            "euid=0 tty=ftp "
            "ruser=an8767 rhost=www.google.com",
            "system.auth",
        ),
        (
            "Jul 19 18:11:50 srv2 daemon: pam_unix(auth): authentication failure; logname= uid=0 euid=0 "
            "tty=x ruser= "
            "rhost=192.0.2.1",
            "system.auth",
        ),
        (
            "Jan  8 03:37:09 h kernel: iptables DROP: IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8 PROTO=TCP",
            "iptables.log",
        ),
        ("Jun 28 04:35:30 Abc-A1 [X-1-D] IN=a OUT=b SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP", "iptables.log"),
        (
            "Nov 23 10:00:00 fw01 date=2026-11-23 time=10:00:00 srcip=10.0.0.5 dstip=8.8.8.8 action=deny",
            "firewall.log",
        ),
        (
            "Oct 23 02:06:39 security: info: client @0x1 192.0.2.8#53 (e.io): query (cache) 'e.io/A/IN' "
            "denied",
            "dns.query",
        ),
        (
            "Nov 23 10:00:00 fs01 smbd_audit[9]: alice|10.0.0.5|finance|pread|ok|/srv/finance/q3.xlsx",
            "samba.full_audit",
        ),
    ],
)
def test_dispatch_by_program_prefix_and_content(raw: str, dataset: str) -> None:
    assert parse_syslog(raw, CTX).event.dataset == dataset


def test_named_operational_chatter_stays_generic() -> None:
    event = parse_syslog("<30>Mar 11 23:51:31 ib named[30325]: resolver priming query complete", CTX)
    assert event.event.dataset == "syslog.generic" and event.process and event.process.name == "named"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("just some text", "no <PRI> and no timestamp"),
        ("", "no <PRI> and no timestamp"),
        ("<999>Nov 23 10:00:00 h p: x", "out of range"),
        ("type=USER_LOGIN msg=audit(1373330716.415:4063): user pid=1", "auditd parser"),
        (
            "11-Aug-2013 03:36:11.372 error: client 1.2.3.4#52115: zone transfer 'd/AXFR/IN' denied",
            "parse_dns_file",
        ),
        ("[1387288694] nsd[7745]: info: ratelimit block example.com. type any", "parse_dns_file"),
        (
            'Fri Jan 19 12:20:33 2007 [pid 27202] [anonymous] FAIL LOGIN: Client "64.106.46.98"',
            "parse_vsftpd_log",
        ),
        ("atom named[1806]: client @0x7fb 192.0.2.1#61977 (.): query (cache) './ANY/IN' denied", "no <PRI>"),
    ],
)
def test_not_syslog_raises_actionable_parse_error(raw: str, reason: str) -> None:
    with pytest.raises(ParseError, match="not syslog") as info:
        parse_syslog(raw, CTX)
    assert reason in str(info.value)
