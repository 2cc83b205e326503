"""All policy detectors together over real loghub samples: the attack is found, the rest stays quiet.

Noise budget: at most 1 alert per 1,000 events on benign data. loghub's Windows (CBS), HDFS, Zookeeper
and BGL samples are application logs no Vigil parser reads, so they produce no events here; the
benign sets measured are Apache (error log), Proxifier and the non-attack part of Linux.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta

import pytest

from core.models.alert import AlertDraft
from detectors.policy import build_policy_detectors
from detectors.policy.brute_force import BruteForceConfig
from tests.datasets import lines
from tests.unit.policy_support import parse, sample_index

BUDGET_PER_1000 = 1.0
ATTACK_RULES = {"vigil-policy-brute-force", "vigil-policy-password-spray", "vigil-policy-brute-force-success"}


def run(*parts: str) -> tuple[int, list[AlertDraft]]:
    detectors = build_policy_detectors(sample_index())
    events = [parse(line) for line in lines(*parts)]
    alerts = [a for ev in events for d in detectors for a in d.on_event(ev, [])]
    if events:  # the end of the input, as a replay ends: windows decided past the lateness
        settle = max(e.timestamp for e in events) + BruteForceConfig().lateness + timedelta(seconds=1)
        alerts += [a for d in detectors for a in d.on_tick(settle)]
    return len(events), alerts


def test_openssh_brute_force_is_detected() -> None:
    count, alerts = run("loghub", "OpenSSH", "OpenSSH_2k.log")
    by_rule = Counter(a.rule.id for a in alerts)
    assert count == 2000 and by_rule["vigil-policy-brute-force"] >= 5 and by_rule["vigil-policy-password-spray"] >= 1
    assert set(by_rule) <= ATTACK_RULES  # nothing but the attack


def test_linux_auth_failures_are_the_only_alerts() -> None:
    count, alerts = run("loghub", "Linux", "Linux_2k.log")
    attack = [a for a in alerts if a.rule.id in ATTACK_RULES]
    failing = {m.group(1) for line in lines("loghub", "Linux", "Linux_2k.log")
               if (m := re.search(r"(?:failure;.* rhost=|Authentication failed from )(\S+)", line))}  # fmt: skip
    assert attack and {a.entity.value for a in attack} <= failing
    noise = len(alerts) - len(attack)
    assert noise * 1000 / count <= BUDGET_PER_1000


@pytest.mark.parametrize("parts", [("loghub", "Apache", "Apache_2k.log"), ("loghub", "Proxifier", "Proxifier_2k.log")])
def test_benign_sets_stay_under_the_noise_budget(parts: tuple[str, ...]) -> None:
    count, alerts = run(*parts)
    assert count == 2000 and len(alerts) * 1000 / count <= BUDGET_PER_1000


SAMPLELOGS = [("apache", "apache-combined.log"), ("auditd", "test.log"), ("authlog", "sshd.log"),
              ("dns_bind", "test-dns.log"), ("iptables", "iptables.log"), ("nginx", "access.log"),
              ("postfix", "postfix.log"), ("squid", "access1.log"), ("squid", "access4.log")]  # fmt: skip


def test_benign_samplelogs_raise_nothing() -> None:
    total = 0
    for parts in SAMPLELOGS:
        count, alerts = run("samplelogs", *parts)
        total += count
        assert alerts == [], parts
    assert total >= 300


def test_every_detector_state_survives_json_after_real_traffic() -> None:
    """The worker's checkpoint: snapshot → JSON text → restore → the same state, for all detectors."""
    index = sample_index()
    detectors = build_policy_detectors(index)
    for line in [
        *lines("loghub", "OpenSSH", "OpenSSH_2k.log")[:800],
        *lines("loghub", "Proxifier", "Proxifier_2k.log"),
    ]:
        event = parse(line)
        for detector in detectors:
            detector.on_event(event, [])
    for before, fresh in zip(detectors, build_policy_detectors(index), strict=True):
        text = before.snapshot().model_dump_json()
        fresh.restore(json.loads(text))
        assert fresh.snapshot().model_dump_json() == text, before.name
