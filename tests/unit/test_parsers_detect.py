"""Format detection over every line of the shared sample files (and the first 50 of each attack file).

The expected family of each file comes from what the file is (its source and SOURCES.tsv), not from
the classifier; files that mix families get a per-line rule that is independent of detect.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from itertools import islice

import pytest

from ingest.parsers.detect import detect_format
from tests.datasets import DATASETS, dataset, lines

Rule = Callable[[str], str]


def everything(family: str) -> Rule:
    return lambda _row: family


# fail2ban apache-auth: 4 lines have a syslog header in front of the Apache message.
APACHE_AUTH: Rule = lambda row: "apache_error" if row.startswith("[") else "syslog"  # noqa: E731
# fail2ban nginx-botsearch: access lines start with the client address, the rest are error-log lines.
NGINX_BOTSEARCH: Rule = lambda row: (  # noqa: E731
    "apache_access" if re.match(r"\d+\.\d+\.\d+\.\d+ - ", row) else "apache_error"
)
# rsyslog .parse1: raw input lines start with <PRI>; the lines after them are rsyslog's expected CSV.
PARSE1: Rule = lambda row: "syslog" if row.startswith("<") else "unknown"  # noqa: E731

FILES: dict[tuple[str, ...], Rule] = {
    ("samplelogs", "apache", "apache-combined.log"): everything("apache_access"),
    ("samplelogs", "apache", "darwin-2.4.23.log"): everything("apache_access"),
    ("samplelogs", "apache", "test.log"): everything("apache_access"),
    ("samplelogs", "nginx", "access.log"): everything("apache_access"),
    ("samplelogs", "nginx", "test.log"): everything("apache_access"),
    ("samplelogs", "fail2ban", "apache-auth"): APACHE_AUTH,
    ("samplelogs", "fail2ban", "apache-botsearch"): everything("apache_error"),
    ("samplelogs", "fail2ban", "apache-noscript"): everything("apache_error"),
    ("samplelogs", "fail2ban", "nginx-botsearch"): NGINX_BOTSEARCH,
    ("samplelogs", "fail2ban", "nginx-http-auth"): everything("apache_error"),
    ("samplelogs", "fail2ban", "nginx-limit-req"): everything("apache_error"),
    ("samplelogs", "fail2ban", "squid"): everything("squid"),
    ("samplelogs", "squid", "access1.log"): everything("squid"),
    ("samplelogs", "squid", "access4.log"): everything("squid"),
    ("samplelogs", "auditd", "test.log"): everything("auditd"),
    ("samplelogs", "auditd", "useradd.log"): everything("auditd"),
    ("samplelogs", "authlog", "sshd.log"): everything("syslog"),
    ("samplelogs", "authlog", "test.log"): everything("syslog"),
    ("samplelogs", "authlog", "timestamp.log"): everything("syslog"),
    ("samplelogs", "syslog", "reallife.parse1"): PARSE1,
    ("samplelogs", "syslog", "rfc3164.parse1"): PARSE1,
    ("samplelogs", "syslog", "rfc5424-3.parse1"): PARSE1,
    ("samplelogs", "syslog", "rfc5424.log"): everything("syslog"),
    ("samplelogs", "iptables", "iptables.log"): everything("syslog"),
    ("samplelogs", "iptables", "ipv6.log"): everything("syslog"),
    ("samplelogs", "iptables", "ubiquiti.log"): everything("syslog"),
    ("samplelogs", "postfix", "postfix.log"): everything("syslog"),
    ("samplelogs", "dns_bind", "test-dns.log"): everything("syslog"),
    ("loghub", "Apache", "Apache_2k.log"): everything("apache_error"),
    ("loghub", "Proxifier", "Proxifier_2k.log"): everything("proxifier"),
    ("loghub", "OpenSSH", "OpenSSH_2k.log"): everything("syslog"),
    ("loghub", "Linux", "Linux_2k.log"): everything("syslog"),
    # Not a family Vigil parses: dead-lettered as 'unrecognised format'.
    ("loghub", "HDFS", "HDFS_2k.log"): everything("unknown"),
    ("loghub", "BGL", "BGL_2k.log"): everything("unknown"),
    ("loghub", "Zookeeper", "Zookeeper_2k.log"): everything("unknown"),
    ("loghub", "Windows", "Windows_2k.log"): everything("unknown"),
}


@pytest.mark.parametrize("parts", FILES, ids=["/".join(p[1:]) for p in FILES])
def test_every_line_of_the_sample_files(parts: tuple[str, ...]) -> None:
    rule = FILES[parts]
    rows = lines(*parts, skip_comments=True)
    assert rows
    wrong = [(row[:80], detect_format(row), rule(row)) for row in rows if detect_format(row) != rule(row)]
    assert wrong == []


def test_windows_json_document_as_one_compact_line() -> None:
    doc = json.loads(dataset("samplelogs", "windows_usb", "test-6416.json").read_text(encoding="utf-8"))
    assert detect_format(json.dumps(doc, separators=(",", ":"))) == "windows"
    assert detect_format(json.dumps(doc["events"][0])) == "windows"


def test_first_50_lines_of_every_mdecrevoisier_attack_file() -> None:
    dataset("attack", "mdecrevoisier")
    files = sorted(DATASETS.glob("attack/mdecrevoisier/*/*/*.jsonl"))
    assert len(files) == 268  # ls attack/mdecrevoisier/*/*/*.jsonl | wc -l
    count = 0
    for path in files:
        with path.open(encoding="utf-8") as handle:
            for row in islice(handle, 50):
                count += 1
                assert detect_format(row.rstrip("\n")) == "windows", (path.name, row[:80])
    assert count == 2973  # for f in ...; do head -50 "$f"; done | wc -l


@pytest.mark.parametrize(
    ("raw", "family"),
    [
        ('{"level": "info", "msg": "started"}', "json"),
        ('{"EventID": 4624, "Channel": "Security", "Hostname": "dc1"}', "windows"),  # NXLog/Mordor flat
        ('{"winlog": {"event_id": "4688"}, "@timestamp": "2024-01-01T00:00:00Z"}', "windows"),
        ("[1, 2, 3]", "unknown"),
        ("node=web1 type=SYSCALL msg=audit(1364481363.243:24287): arch=c000003e syscall=2", "auditd"),
        # syslog framing wins over the content it carries: the syslog parser routes it
        (
            'Feb 15 16:23:00 srv httpd: 1.2.3.4 - - [15/Feb/2024:16:23:00 +0000] "GET / HTTP/1.0" 200 5',
            "syslog",
        ),
        ("Mar  1 00:00:00 host audispd: type=SYSCALL msg=audit(1.200:3): x=1", "syslog"),
        ("Jan  1 00:00:00 fw1 fortigate: srcip=10.0.0.1 dstip=10.0.0.2 srcport=1 dstport=2", "syslog"),
        ("<14>1 - - - - - - relayed without anything", "syslog"),
        ("<14>no timestamp at all", "syslog"),
        # key=value firewalls, bare or behind a bare <PRI>
        (
            'date=2024-05-10 time=11:37:47 devname="FG" srcip=10.1.1.1 dstip=2.2.2.2 action="deny"',
            "kv_firewall",
        ),
        (
            "<189>date=2024-05-10 time=11:37:47 srcip=10.1.1.1 srcport=5 dstip=2.2.2.2 dstport=443",
            "kv_firewall",
        ),
        ("the user typed src=1.2.3.4 into a long free text message with few pairs a=b c=d e=f", "unknown"),
        ("[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416] x", "apache_error"),
        ("[2019-01-01 12:00:00.123456] [core:error] [pid 1] message", "apache_error"),
        ("2015-07-29 17:41:44,747 - INFO  [main:Foo@1] - started", "unknown"),
        ("", "unknown"),
    ],
)
def test_synthetic_lines_and_order(raw: str, family: str) -> None:
    assert detect_format(raw) == family
