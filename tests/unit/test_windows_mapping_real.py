"""Windows records the way the recorded attacks (mdecrevoisier) log them, seen by Sigma and the policy detectors:
OpenSSH for Windows through the Linux sshd rules, SQL Server logins as authentication, Security access-right
codes and GUIDs matched in either spelling SigmaHQ rules use."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from core.models.ecs import EcsEvent
from detectors.policy.brute_force import ATTEMPT, SPRAY, BruteForceConfig, BruteForceDetector
from detectors.sigma import SigmaEngine
from detectors.sigma.view import build_view, guid_forms
from ingest.parsers import linux_auth
from tests.datasets import dataset, lines
from tests.unit.policy_support import feed, parse

ATTACK = ("attack", "mdecrevoisier")
BRUTE = (*ATTACK, "TA0006-Credential Access", "T1110.xxx-Brut force")
SECURITY_RULES = ("sigma", "rules", "windows", "builtin", "security")
ATEXEC = (*ATTACK, "TA0002-Execution", "T1053.005-Scheduled Task",
          "ID5145-Remote schedule task creation (ATexec).jsonl")  # fmt: skip
LOGGING = (*ATTACK, "TA0005-Defense Evasion", "T1562.002-Disable Windows Event Logging")


def events(*parts: str) -> list[EcsEvent]:
    """Every record of a recorded attack, through format detection as the pipeline parses it."""
    return [parse(line) for line in lines(*parts)]


def decide(det: BruteForceDetector, evs: list[EcsEvent]) -> list:
    alerts = feed(det, evs)
    return alerts + det.on_tick(max(e.timestamp for e in evs) + det.config.lateness + timedelta(seconds=1))


def engine(*rule_files: str) -> SigmaEngine:
    return SigmaEngine.from_paths([dataset(*SECURITY_RULES, name) for name in rule_files])


def matches(eng: SigmaEngine, evs: list[EcsEvent]) -> Counter[str]:
    return Counter(m.title for e in evs for m in eng.match(e))


# --- OpenSSH/Operational 4 ------------------------------------------------------------------------------------


def test_openssh_event_4_is_the_linux_sshd_line() -> None:
    """The same fields as sshd's syslog line: the Linux rules read `payload`, not a copy of them."""
    evs = events(*BRUTE, "ID4-OpenSSH brutforce with valid users.jsonl")
    failed = [e for e in evs if e.event.action == "ssh_login"]
    assert len(failed) == 5
    for e in failed:
        assert e.event.category == ["authentication"] and e.event.outcome == "failure"
        assert e.user is not None and e.user.name == "admmig"
        assert e.source is not None and str(e.source.ip) == "10.23.23.9" and e.source.port == 56605
        assert e.process is not None and e.process.name == "sshd"
    payload = json.loads(lines(*BRUTE, "ID4-OpenSSH brutforce with valid users.jsonl")[1])
    linux = linux_auth.message_fields("sshd", payload["Event"]["EventData"]["payload"])
    assert linux is not None
    assert failed[0].event.action == linux["event"]["action"] and failed[0].labels["ssh_method"] == "password"
    assert [e.event.action for e in evs] == ["ssh_connection_closed", *["ssh_login"] * 5, "ssh_too_many_auth_failures"]


def test_openssh_guesses_count_once_in_the_brute_force_detector() -> None:
    """5 `Failed password` lines; `Invalid user` and `Too many authentication failures` are sshd's companions."""
    evs = events(*BRUTE, "ID4-OpenSSH brutforce with non existing users (sshd logs).jsonl")
    assert Counter(e.event.outcome for e in evs) == {"failure": 7}
    at_five = decide(BruteForceDetector(BruteForceConfig(attempts=5)), evs)
    assert {(a.rule.id, a.entity.key) for a in at_five} == {(ATTEMPT.id, "user:hacker"), (ATTEMPT.id, "ip:10.23.23.9")}
    assert decide(BruteForceDetector(BruteForceConfig(attempts=6)), evs) == []


def test_openssh_server_listening_still_matches_its_sigma_rule() -> None:
    eng = SigmaEngine.from_paths([dataset("sigma", "rules", "windows", "builtin", "openssh")])
    evs = events(*ATTACK, "TA0008-Lateral Movement", "T1021.004-Remote Service SSH",
                 "ID4-OpenSSH server listening.jsonl")  # fmt: skip
    assert matches(eng, evs) == {"OpenSSH Server Listening On Socket": 6}
    assert {e.event.outcome for e in evs} == {None}  # not a logon


# --- SQL Server (mssql family) --------------------------------------------------------------------------------


def test_sql_server_33205_failed_logins_are_a_brute_force() -> None:
    evs = events(*BRUTE, "ID33205-SQL Server failed login with SA wrong password.jsonl")
    assert len(evs) == 27 and {e.event.action for e in evs} == {"logon-failed"}
    first = evs[0]
    assert first.event.category == ["authentication"] and first.event.outcome == "failure"
    assert first.user is not None and first.user.name == "sa"
    assert first.source is not None and str(first.source.ip) == "10.23.23.9"
    assert first.event.reason == "Password did not match that for the login provided."
    assert first.labels["sql_action_id"] == "LGIF" and first.labels["sql_instance"] == "MSSQL01\\RADAR"
    alerts = decide(BruteForceDetector(), evs)  # default thresholds: 20 failures in 10 minutes
    assert {(a.rule.id, a.entity.key) for a in alerts} == {(ATTEMPT.id, "user:sa"), (ATTEMPT.id, "ip:10.23.23.9")}


def test_sql_server_logins_for_many_accounts_are_a_password_spray() -> None:
    evs = events(*BRUTE, "ID33205-SQL Server failed login with non existing accounts.jsonl")
    users = {e.user.name for e in evs if e.user}
    assert len(evs) == 72 and len(users) >= 10 and {str(e.source.ip) for e in evs if e.source} == {"10.23.123.11"}
    rules = Counter(a.rule.id for a in decide(BruteForceDetector(), evs))
    assert rules[SPRAY.id] == 1 and rules[ATTEMPT.id] == 1  # one source: spray, and its attempts


def test_sql_server_18456_and_successful_logins() -> None:
    failed = events(*BRUTE, "ID18456-SQL Server failed login because only Windows auth.jsonl")
    assert {(e.event.outcome, e.user.name if e.user else None, str(e.source.ip) if e.source else None)
            for e in failed} == {("failure", "unexisting-user", "10.23.23.9")}  # fmt: skip
    assert failed[0].event.reason is not None and failed[0].event.reason.startswith("An attempt to login using SQL")
    audit = events(*LOGGING, "ID33205-SQL Server audit specification disabled.jsonl")
    login, change = audit
    assert (login.event.action, login.event.outcome) == ("logged-in", "success")
    assert login.event.category == ["authentication"]
    assert login.user is not None and (login.user.name, login.user.domain) == ("admin-hacker", "OFFSEC")
    # Other audit actions stay audit records (the MSSQL Sigma rules read their `Data`), not logons.
    assert (change.event.action, change.event.category, change.labels["sql_action_id"]) == ("sql-audit", [], "AL")


# --- Security: access-right codes and GUIDs in both spellings ---------------------------------------------------


def test_access_list_codes_match_rules_written_by_name() -> None:
    """5145 logs `%%4416 %%4417`; win_security_atsvc_task asks `AccessList|contains: 'WriteData'`."""
    eng = engine("win_security_atsvc_task.yml", "win_security_svcctl_remote_service.yml")
    atexec = events(*ATEXEC)
    assert matches(eng, atexec) == {"Remote Task Creation via ATSVC Named Pipe": 1}
    smb = events(*ATTACK, "TA0008-Lateral Movement", "T1021.002-SMB Windows Admin Shares",
                 "ID5145-remote shell execution via SMB admin share.jsonl")  # fmt: skip
    assert matches(eng, smb) == {"Remote Service Activity via SVCCTL Named Pipe": 1}
    hit = next(e for e in atexec if eng.match(e))
    raw = hit.winlog.event_data["AccessList"] if hit.winlog else None
    assert build_view(hit).text("accesslist") == (raw, "ReadData (or ListDirectory) WriteData (or AddFile)")


def test_access_list_codes_still_match_rules_written_as_codes() -> None:
    rule = """
title: code spelling
id: 00000000-0000-4000-8000-000000004417
logsource: {product: windows, service: security}
detection:
    selection: {EventID: 5145, RelativeTargetName: atsvc, AccessList|contains: '%%4417'}
    condition: selection
"""
    eng = SigmaEngine.from_texts({"code.yml": rule})
    atexec = events(*ATEXEC)
    assert matches(eng, atexec) == {"code spelling": 1}


def test_4719_bare_guids_match_rules_written_in_braces() -> None:
    """4719 logs `0CCE9217-…`; the rules list `{0CCE9217-…}`: the critical rule fires, and the broad one's
    filter (written in braces to leave those subcategories to the critical rule) now takes them out."""
    eng = engine("win_security_disable_event_auditing.yml", "win_security_disable_event_auditing_critical.yml")
    evs = events(*LOGGING, "ID4719-Audit policy deactivation.jsonl")
    assert matches(eng, evs) == {"Important Windows Event Auditing Disabled": 13, "Windows Event Auditing Disabled": 17}


def test_4662_percent_guids_match_rules_written_bare() -> None:
    """4662 logs `%{19195a5b-…}` (domainDNS); win_security_ad_object_writedac_access asks `ObjectType: '19195a5b-…'`."""
    eng = engine("win_security_ad_object_writedac_access.yml")
    evs = events(*ATTACK, "TA0005-Defense Evasion", "T1222.001-File and Directory Permissions Modification",
                 "ID5136-Permission change on top root AD (DCsync).jsonl")  # fmt: skip
    assert matches(eng, evs) == {"AD Object WriteDAC Access": 1}


@pytest.mark.parametrize(
    "value",
    ["%{bf967aba-0de6-11d0-a285-00aa003049e2}", "{bf967aba-0de6-11d0-a285-00aa003049e2}",
     "bf967aba-0de6-11d0-a285-00aa003049e2"],
)  # fmt: skip
def test_guid_forms_start_with_the_value_as_logged(value: str) -> None:
    bare = "bf967aba-0de6-11d0-a285-00aa003049e2"
    forms = guid_forms(value)
    assert forms is not None and forms[0] == value and set(forms) == {bare, "{" + bare + "}", "%{" + bare + "}"}


def test_guid_forms_leave_other_values_alone() -> None:
    assert guid_forms("domainDNS") is None and guid_forms("%{not-a-guid}") is None
    assert guid_forms("SAM_USER") is None

