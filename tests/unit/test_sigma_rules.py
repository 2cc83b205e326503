"""The SigmaHQ rule set as shipped: load counts, the regression dataset, routing on real events.

One engine with every rule of rules/, rules-threat-hunting/ and rules-emerging-threats/ is built per
module (about 8 s); everything else reuses it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from core.models.ecs import EcsEvent
from detectors.sigma import SigmaEngine, SkipReason
from detectors.sigma.loader import rule_files
from detectors.sigma.regression import run_regression, sample_event, sample_events
from detectors.sigma.view import build_view
from ingest.parsers.base import ParseContext
from ingest.parsers.registry import parse_record
from ingest.parsers.windows import parse_windows
from tests.datasets import dataset

RULE_DIRS = ("rules", "rules-threat-hunting", "rules-emerging-threats")
# The only acceptable reasons to leave a rule out; a parser or compiler failure is a defect to fix.
ALLOWED_SKIPS = {SkipReason.UNSUPPORTED_LOGSOURCE, SkipReason.UNRESOLVED_PLACEHOLDER}
# Rule documents and loaded rules per directory at SigmaHQ @8eaafff. A change here means routing or
# parsing changed: look at `engine.skipped` before updating the numbers.
EXPECTED = {
    "rules": (3141, 2702),
    "rules-threat-hunting": (140, 127),
    "rules-emerging-threats": (473, 460),
}
# info.yml files whose match_count (a templated "1") undercounts their own sample: three events of each
# sample satisfy the rule by the spec (user.conf.new, user.conf~RF…TMP and user.conf.new again under
# AnyDesk's folder; procdump.exe, procdump64.exe and procdump64a.exe dropped; three ZoneMap\Domains
# values set to zone 2). SigmaHQ's runner only checks that the rule fires, so these pass there and in
# mode "sigmahq", not in "exact".
UNDERCOUNTED_UPSTREAM = {
    "0b9ad457-2554-44c1-82c2-d56a99c42377",
    "8fbf3271-1ef6-4e94-8210-03c2317947f6",
    "45e112d0-7759-4c2a-aa36-9f8fb79d3393",
}


@pytest.fixture(scope="module")
def engine() -> SigmaEngine:
    return SigmaEngine.from_paths([dataset("sigma", name) for name in RULE_DIRS])


@pytest.fixture(scope="module")
def ctx() -> ParseContext:
    return ParseContext(source="test", received_at=datetime(2024, 1, 1, tzinfo=UTC), zone=ZoneInfo("UTC"))


def regression_root() -> Path:
    return dataset("sigma-regression")


def info_files() -> list[Path]:
    return sorted((regression_root() / "info").rglob("info.yml"))


# --- loading -----------------------------------------------------------------------------------------


def test_every_rule_loads_or_is_skipped_for_an_allowed_reason(engine: SigmaEngine):
    report = engine.report()
    for name, (documents, loaded) in EXPECTED.items():
        counts = report.dirs[name]
        assert counts.files == len(rule_files(dataset("sigma", name)))
        assert (counts.rules, counts.loaded) == (documents, loaded), (name, counts)
        assert counts.loaded + counts.skipped == counts.rules
    assert {s.reason for s in engine.skipped} <= ALLOWED_SKIPS
    assert all(s.detail for s in engine.skipped)
    unsupported = [s for s in engine.skipped if s.reason is SkipReason.UNSUPPORTED_LOGSOURCE]
    # Only log sources no Vigil parser produces: clouds, SaaS, macOS, zeek... and ETW-only Windows categories.
    assert not [s for s in unsupported if s.detail.startswith(("windows/process_creation", "windows/-/security"))]


def test_skipped_rules_name_their_log_source(engine: SigmaEngine):
    details = {s.detail.split(":")[0] for s in engine.skipped if s.reason is SkipReason.UNSUPPORTED_LOGSOURCE}
    assert {"aws/-/cloudtrail", "macos/process_creation/-", "windows/file_access/-"} <= details


# --- regression dataset --------------------------------------------------------------------------------


def test_regression_dataset_passes_100_percent(engine: SigmaEngine):
    summary = run_regression(regression_root(), [], engine=engine, mode="sigmahq")
    assert summary.total == len(info_files()) == 102
    assert summary.failed == 0, [r for r in summary.results if not r.ok]
    assert summary.rule_errors == {}
    assert json.loads(summary.model_dump_json())["passed"] == 102


def test_regression_exact_counts_differ_only_where_upstream_undercounts(engine: SigmaEngine):
    summary = run_regression(regression_root(), [], engine=engine, mode="exact")
    failed = {r.rule_id: r for r in summary.results if not r.ok}
    assert set(failed) == UNDERCOUNTED_UPSTREAM
    for rule_id, result in failed.items():
        matching = [e for e in _samples_of(rule_id) if rule_id in {m.rule_id for m in engine.match(e)}]
        assert (result.expected, result.matched, len(matching)) == (1, 3, 3)
        assert len({e.winlog.record_id for e in matching if e.winlog}) == 3  # three distinct records


def _samples_of(rule_id: str) -> Iterator[EcsEvent]:
    for path in (regression_root() / "samples_json").rglob(f"{rule_id}.json"):
        for event in sample_events(path):
            assert isinstance(event, EcsEvent), path  # every SigmaHQ sample is a raw EVTX record
            yield event


def test_regression_samples_reach_their_rule_through_routing(engine: SigmaEngine):
    """A routed rule must never see zero events because of a mapping slip: each regression sample is
    routed to the rule under test (and to every rule sharing its log source)."""
    loaded = {r.info.id: r for r in engine.rules}
    checked = 0
    for info_path in info_files():
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        rule_id = str(info["rule_metadata"][0]["id"])
        assert rule_id in loaded, f"rule under test {rule_id} was not loaded"
        rel = info_path.parent.relative_to(regression_root() / "info")
        events = [e for p in (regression_root() / "samples_json" / rel).glob("*.json") for e in sample_events(p)]
        for event in events or _raw_lines(rel):
            view = build_view(event)
            assert set(loaded[rule_id].routes) & set(view.routes), (rule_id, view.routes)
            checked += 1
    assert checked >= 102


def _raw_lines(rel: Path) -> list[dict[str, Any]]:
    lines = [
        line for p in (regression_root() / "samples_raw" / rel).glob("*.raw") for line in p.read_text().splitlines()
    ]
    return [{"message": line, "event": {"original": line}} for line in lines if line.strip()]


def test_index_finds_exactly_what_evaluating_every_routed_rule_finds(engine: SigmaEngine):
    events = [e for p in sorted((regression_root() / "samples_json").rglob("*.json")) for e in sample_events(p)]
    attack = dataset("attack", "mdecrevoisier")
    for path in sorted(attack.rglob("*.jsonl")):
        lines = [line for line in path.read_text().splitlines()[:15] if line.strip()]
        events += [sample_event(json.loads(line), line) for line in lines]
    assert len(events) > 1800
    routed: dict[tuple[str, ...], list[Any]] = {}
    for event in events:
        view = build_view(event)
        indexed = {m.rule_id for m in engine.evaluate_view(view).matches}
        rules = routed.setdefault(view.routes, engine.rules_for_routes(view.routes))
        assert indexed == {r.info.id for r in rules if r.pred(view)}


# --- routing and mapping on real events -------------------------------------------------------------------


def _attack_matches(engine: SigmaEngine, ctx: ParseContext, name: str) -> set[str]:
    [path] = [p for p in dataset("attack", "mdecrevoisier").rglob("*.jsonl") if p.name.startswith(name)]
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {m.rule_id for line in lines for m in engine.match(parse_windows(line, ctx))}


@pytest.mark.parametrize(
    ("file_prefix", "expected"),
    [
        # Security 1102 and System 104 log clearing
        ("ID104-1102-Event log cleared",
         {"d99b79d2-0a6f-4f46-ad8b-260b6e17f982", "a62b37e0-45d3-48d9-a517-90c1a1b0186b"}),
        # Defender channel rule, and the product-less `antivirus` category through the Defender mapping
        ("ID1116-1117-Defender threat detected",
         {"57b649ef-ff42-4fb0-8bf6-62da243a1708", "fa0c05b6-8ad3-468d-8231-c1cbccb64fba"}),
        # System 7045 service installation
        ("ID7045-New service for Mimikatz", {"4976aa50-8f41-45c6-8b15-ab3fc10e79ed"}),
        # Sysmon pipe_created (17/18) and file_event (11)
        ("ID11,13,17,18-PSexec as system",
         {"f3f3a972-f982-40ad-b63c-bca6afdfad7c", "259e5a6a-b8d2-4c38-86e2-26c5e651361d"}),
        # process_creation rules on Security 4688 (NewProcessName → Image)
        ("ID4688-Obfuscated payload transfer", {"f4bbd493-b796-416e-bbf2-121235348529"}),
        # PowerShell module logging (4103)
        ("ID4103-4104-CrackMapExec payload", {"7d0d0329-0ef1-4e84-a9f5-49500f9d7c6c"}),
    ],
)  # fmt: skip
def test_real_windows_events_trigger_expected_rules(engine: SigmaEngine, ctx: ParseContext, file_prefix, expected):
    assert expected <= _attack_matches(engine, ctx, file_prefix)


TEXT_LOGS = [
    # (format, raw line, rule expected to fire)
    ("squid", "1157689320.327   2864 10.105.21.199 TCP_MISS/200 10182 GET http://x.pastebin.com/raw/AbCd "
              "bob DIRECT/207.58.145.61 text/plain", "5468045b-4fcc-4d1a-973c-c9c9578edacb"),
    ("auto", '203.0.113.9 - - [23/Mar/2018:12:31:01 +0000] "GET /cgi-bin/../../../etc/passwd HTTP/1.1" 404 28 "-" '
             '"curl/8"', "7745c2ea-24a5-4290-b680-04359cb84b35"),
    ("auto", "<30>Mar 11 23:51:31 ns1 named[11042]: 07-Apr-2022 08:08:10.043 client 192.168.0.1#57398 UDP: query: "
             "ifferfsodp9ifjaposdfjhgosurijfaewrwergwea.com IN A response: NOERROR +ED",
     "3eaf6218-3bed-4d8a-8707-274096f12a18"),
    ("auto", "Jan  8 03:37:09 fw1 kernel: iptables ACCEPT: IN=eth0 OUT=eth1 SRC=10.0.0.5 DST=69.42.98.86 LEN=52 "
             "TTL=64 ID=1 DF PROTO=TCP SPT=50000 DPT=443 WINDOW=8192 RES=0x00 SYN URGP=0",
     "881834a4-6659-4773-821e-1c151789d873"),
    ("auto", 'type=EXECVE msg=audit(1700000000.123:42): argc=3 a0="chattr" a1="-i" a2="/etc/passwd"',
     "a5b977d6-8a81-4475-91b9-49dbfcd941f7"),
    ("auto", 'type=EXECVE msg=audit(1700000000.123:43): argc=3 a0="/usr/bin/apt" a1="remove" a2="auditd"',
     "95d61234-7f56-465c-6f2d-b562c6fedbc4"),
    ("auto", "Jan  1 00:00:00 web1 sshd[812]: Corrupted MAC on input.", "e76b413a-83d0-4b94-8e4c-85db4a5b8bdc"),
]  # fmt: skip


@pytest.mark.parametrize(("fmt", "line", "rule_id"), TEXT_LOGS)
def test_text_logs_through_vigil_parsers_reach_their_rules(engine: SigmaEngine, ctx: ParseContext, fmt, line, rule_id):
    event = parse_record(line, fmt, ctx)
    assert rule_id in {m.rule_id for m in engine.match(event)}, build_view(event).routes


def test_every_route_a_rule_listens_on_is_produced_by_some_event(engine: SigmaEngine, ctx: ParseContext):
    """No rule hangs on a route key that no event can carry (a mapping slip that silences rules)."""
    from detectors.sigma import logsources as ls

    produced: set[str] = set()
    windows = {pair for pairs in ls.WINDOWS_CATEGORIES.values() for pair in pairs}
    windows |= {(ls.DEFENDER, eid) for eid in ls.DEFENDER_DETECTIONS}
    windows |= {(channel, "1") for channels in ls.WINDOWS_SERVICES.values() for channel in channels}
    windows |= {("rpcfw", "3"), (ls.LINUX_SYSMON, "1"), (ls.LINUX_SYSMON, "3"), (ls.LINUX_SYSMON, "11")}
    for channel, event_id in windows:
        produced |= set(build_view({"winlog": {"channel": channel, "event_id": event_id, "event_data": {}}}).routes)
    for fmt, line, _ in TEXT_LOGS:
        produced |= set(build_view(parse_record(line, fmt, ctx)).routes)
    for line in (
        "Jan  1 00:00:00 h sudo:    bob : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
        "Jan  1 00:00:00 h CRON[1]: (root) CMD (true)",
        "Jan  1 00:00:00 h vsftpd[1]: [bob] OK LOGIN: Client \"1.2.3.4\"",
        "Jan  1 00:00:00 h clamd[1]: /tmp/x: Eicar-Test-Signature FOUND",
        "Jan  1 00:00:00 h guacd[1]: User \"bob\" joined connection",
        'type=PATH msg=audit(1700000000.1:44): item=1 name="/tmp/x" nametype=CREATE',
        '[Sun Mar 11 23:51:31.000000 2024] [core:error] [pid 1] [client 1.2.3.4:5] AH00126: Invalid URI',
        "2024/03/11 23:51:31 [error] 1#1: *1 open() failed, client: 1.2.3.4, server: x, request: \"GET / HTTP/1.1\"",
        "[03.11 23:51:31] chrome.exe - proxy.example.com:443 open through proxy proxy.example.com:8080 HTTPS",
    ):  # fmt: skip
        produced |= set(build_view(parse_record(line, "auto", ctx)).routes)
    produced |= set(build_view({"message": "1.2.3.4 1: %PARSER-5-CFGLOG_LOGGEDCMD: User:a logged command:x"}).routes)
    listened = {key for rule in engine.rules for key in rule.routes}
    assert listened - produced == set()
