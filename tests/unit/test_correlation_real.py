"""Correlation rules on real logs: brute force in the mdecrevoisier Windows samples (4625) and in
loghub OpenSSH (failed passwords), each checked against a plain recount of the same events."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from core.models.ecs import EcsEvent
from ingest.parsers.base import ParseContext
from ingest.parsers.syslog import parse_syslog
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset, lines
from tests.unit.correlation_kit import FAILED, Harness, correlation

CTX = ParseContext(source="test", received_at=datetime(2026, 11, 23, 4, 0, tzinfo=UTC), zone=ZoneInfo("Asia/Shanghai"))
BRUTE_FORCE_DIR = ("attack", "mdecrevoisier", "TA0006-Credential Access", "T1110.xxx-Brut force")


def windows_failures() -> list[EcsEvent]:
    folder = dataset(*BRUTE_FORCE_DIR)
    events = [
        parse_windows(line, CTX)
        for path in sorted(folder.glob("*4625*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    return sorted(events, key=lambda e: e.timestamp)  # three captures of different days, as one stream


def test_windows_4625_brute_force_per_user_and_workstation():
    rule = correlation("event_count", ["failed_login"], timespan="5m", group_by=("TargetUserName", "WorkstationName"),
                       condition="gte: 5")  # fmt: skip
    h = Harness(FAILED, rule)
    alerts = h.feed(*windows_failures())
    found = {(a.context["group.TargetUserName"], a.context["group.WorkstationName"]): a for a in alerts}
    # 5 x admmig@offsec.lan and 5 x NOUSER on FS01 (OpenSSH for Windows), 8 x Admin and 8 x Administrator on WIN
    assert set(found) == {("admmig@offsec.lan", "FS01"), ("NOUSER", "FS01"), ("Admin", "WIN"), ("Administrator", "WIN")}
    assert [found[k].event_count for k in sorted(found)] == [5, 5, 5, 5]  # the alert is raised at the 5th
    assert found[("Admin", "WIN")].entity.key == "user:admin"
    assert all("attack.t1110" in a.tags and a.rule.kind.value == "correlation" for a in alerts)
    assert all(len(a.event_ids) == 5 and a.last_seen - a.first_seen <= timedelta(minutes=5) for a in alerts)

    stricter = Harness(FAILED, rule.replace("gte: 5", "gte: 6"))
    assert {a.context["group.TargetUserName"] for a in stricter.feed(*windows_failures())} == {"Admin", "Administrator"}


def test_windows_4625_password_spraying_is_a_value_count():
    rule = correlation("value_count", ["failed_login"], timespan="1m", group_by=("WorkstationName",),
                       condition="field: TargetUserName; gte: 2")  # fmt: skip
    alerts = Harness(FAILED, rule).feed(*windows_failures())
    # WIN saw Admin and Administrator within a second; FS01's two users were a day apart
    assert [(a.context["group.WorkstationName"], a.context["value"]) for a in alerts] == [("WIN", 2)]
    assert alerts[0].entity.key == "host:win"


SSH_FAILED = """title: sshd failed password
id: 0d000000-0000-4000-8000-000000000001
name: ssh_failed_password
level: low
logsource: {product: linux, service: sshd}
detection:
    keywords: ['Failed password']
    condition: keywords
"""


def ssh_events() -> list[EcsEvent]:
    events = [parse_syslog(row, CTX) for row in lines("loghub", "OpenSSH", "OpenSSH_2k.log")]
    return [e.model_copy(update={"event": e.event.model_copy(update={"id": f"ssh-{i}"})}) for i, e in enumerate(events)]


def test_openssh_failed_passwords_per_source_ip_match_a_plain_recount():
    rule = correlation("event_count", ["ssh_failed_password"], timespan="5m", group_by=("source.ip",),
                       condition="gte: 10")  # fmt: skip
    h = Harness(SSH_FAILED, rule)
    events = ssh_events()
    alerts = h.feed(*events)
    h.tick(10**9)  # and garbage collection of everything at the end
    failed = defaultdict(list)
    for e in events:
        if "Failed password" in (e.message or "") and e.source and e.source.ip:
            failed[e.source.ip].append(e.timestamp)
    window = timedelta(minutes=5)
    episodes: dict[str, list[datetime]] = {}  # ip → first hold time of each episode
    for ip, times in failed.items():
        holds = [t for t in times if sum(1 for u in times if t - window <= u <= t) >= 10]
        starts = [t for i, t in enumerate(holds) if i == 0 or t - holds[i - 1] > window]
        if starts:
            episodes[ip] = starts
    assert {a.entity.value for a in alerts} == set(episodes)
    assert len(episodes) >= 3
    assert sorted((a.entity.value, a.last_seen) for a in alerts) == sorted(
        (ip, t) for ip, starts in episodes.items() for t in starts
    )
    assert all(a.event_count == 10 and a.severity.value == "high" for a in alerts)
    assert h.detector.status().rules[0].groups == 0
    assert h.detector.snapshot().late == 0
