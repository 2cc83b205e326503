"""One person, one entity key: `EcsEvent.entity()` (the `vigil.events` partition key), the inventory
lookups and correlation group-by entities normalise accounts and hosts alike, on real samples."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from core.models.ecs import EcsEvent, account_key, host_key
from core.models.entity import Inventory, User
from core.models.envelope import RawEnvelope
from detectors.inventory import EntityIndex
from detectors.sigma.correlation_fields import entity_of
from ingest.collectors.file_import import iter_file_envelopes
from ingest.normaliser import encode_result, normalise
from tests.datasets import dataset, lines

ATTACK = ("attack", "mdecrevoisier")
SAM_THE_ADMIN = (
    *ATTACK,
    "EVTX_full_APT_attack_steps",
    "ID47x,4661-4662,5136,4688,4697-SAM the admin (CVE-2021-42287).jsonl",
)
KERBEROAST = (*ATTACK, "TA0006-Credential Access", "T1558-Steal or Forge Kerberos Tickets",
              "ID4769-Kerberoast ticket with low encryption.jsonl")  # fmt: skip
SSH_BRUTE = (
    *ATTACK,
    "TA0006-Credential Access",
    "T1110.xxx-Brut force",
    "ID4625-OpenSSH brutforce with valid users.jsonl",
)
RECEIVED = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def windows_events(*path: str) -> list[EcsEvent]:
    out = []
    for envelope in iter_file_envelopes(dataset(*path), source="keys", fmt="windows"):
        event = normalise(envelope, ZoneInfo("UTC"))
        assert isinstance(event, EcsEvent), event
        out.append(event)
    return out


def text_event(raw: str) -> EcsEvent:
    envelope = RawEnvelope.build(source="keys", transport="cli", raw=raw, position="1", format="auto",
                                 received_at=RECEIVED)  # fmt: skip
    event = normalise(envelope, ZoneInfo("Asia/Shanghai"))
    assert isinstance(event, EcsEvent), event
    return event


@pytest.mark.parametrize(
    ("written", "key"),
    [("CORP\\Alice", "alice"), ("alice@corp.local", "alice"), (" ALICE ", "alice"), ("WS01$", "ws01$"),
     ("WEC01$@OFFSEC.LAN", "wec01$"), ("NT AUTHORITY\\SYSTEM", "system"), ("-", ""), ("", "")],
)  # fmt: skip
def test_account_key_rule(written: str, key: str) -> None:
    assert account_key(written) == key


def test_host_key_rule() -> None:
    assert host_key("WS01.corp.local") == host_key(" ws01 ") == "ws01"
    assert host_key("10.0.0.5") == "10.0.0.5" and host_key("fe80::1") == "fe80::1" and host_key("-") == ""


def test_a_upn_logon_and_a_plain_one_share_the_entity_key_and_the_original_is_kept() -> None:
    """4776 writes the UPN (`HealthMailbox…@offsec.lan`), 4624/4769 the bare account of the same person."""
    events = windows_events(*SAM_THE_ADMIN) + windows_events(*KERBEROAST) + windows_events(*SSH_BRUTE)
    upn = [e for e in events if e.user and e.user.name and "@" in e.user.name]
    assert upn and all(e.event.code == "4776" for e in upn)
    for event in upn:
        assert event.entity() == f"user:{event.user.name.split('@')[0].lower()}"  # type: ignore[union-attr]
        assert event.vigil.entity == event.entity()  # the normaliser's key is the same
    admmig = {e.entity() for e in events if e.user and e.user.name and account_key(e.user.name) == "admmig"}
    assert admmig == {"user:admmig"}
    machines = {e.entity() for e in events if e.user and e.user.name and e.user.name.endswith("$")}
    assert machines and all(m.endswith("$") for m in machines)  # never merged into a person or a host


def test_the_same_linux_user_written_three_ways_lands_on_one_partition_key_and_one_inventory_person() -> None:
    line = next(
        r for r in lines("loghub", "OpenSSH", "OpenSSH_2k.log") if "Failed password for invalid user webmaster" in r
    )
    forms = ["webmaster", "CORP\\WebMaster", "webmaster@corp.local", "WEBMASTER"]
    events = [text_event(line.replace("user webmaster", f"user {form}")) for form in forms]
    assert [e.user.name for e in events] == ["webmaster", "CORP\\WebMaster", "webmaster@corp.local", "WEBMASTER"]  # type: ignore[union-attr]
    assert {e.entity() for e in events} == {"user:webmaster"}
    assert {encode_result(e)[1] for e in events} == {b"user:webmaster"}  # one Kafka key: one partition
    index = EntityIndex.build(Inventory(users=[User(name="WebMaster", hosts=["LabSZ.corp.local"])]))
    person = index.user("webmaster")
    assert person is not None and all(index.user(e.user.name) is person for e in events)  # type: ignore[union-attr]
    assert index.owner_of_host(events[0].host.name if events[0].host else None) is person


def test_a_correlation_grouped_by_user_names_the_partition_entity() -> None:
    event = text_event(next(r for r in lines("loghub", "OpenSSH", "OpenSSH_2k.log") if "Failed password for root" in r))
    rule = type("Rule", (), {"id": "r"})()
    assert entity_of({"TargetUserName": "OFFSEC\\Admmig"}, event, rule).key == "user:admmig"  # type: ignore[arg-type]
    assert entity_of({"Computer": "WS01.offsec.lan"}, event, rule).key == "host:ws01"  # type: ignore[arg-type]
    assert entity_of({"TargetUserName": "-"}, event, rule).key == event.entity() == "user:root"  # type: ignore[arg-type]
