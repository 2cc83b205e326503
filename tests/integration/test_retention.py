"""Retention against the real Elasticsearch of the session stack, with backdated documents.

Documents are built through the real models (EcsEvent, DeadLetter) and routed to their indices by the
indexer's own `bulk_actions` + `index_batch`, with the production templates, so the layout is the
production one. Each test works at its own `now`, in the 1990s: the session's other tests index real
corpora (2005 onwards), so at these `now`s only this test's days are past retention, and the
job's choices can be asserted exactly without touching anyone else's indices.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from core import clients
from core.canonical import doc_sha256
from core.errors import ConfigError, HoldError, RetentionError
from core.index_templates import install_templates
from core.models import DeadLetter, EcsEvent
from core.models.hold import HoldRequest
from core.names import RETENTION_LOG_INDEX, RetentionScope, Topic, evidence_index
from core.settings import RetentionPolicy, Settings
from ingest.indexer import bulk_actions, index_batch
from retention import job, status
from retention.archive import restore_day
from retention.holds import list_holds, place_hold, release_hold
from retention.indices import index_name, list_daily_indices
from retention.plan import PlanItem
from retention.scan import iter_hits

pytestmark = pytest.mark.integration

CATEGORIES = ("network", "system", "user")
AGES = (61, 60, 59)


def event(ts: datetime, category: str, user: str, n: int) -> EcsEvent:
    return EcsEvent.model_validate({
        "@timestamp": ts,
        "message": f"{user} did thing {n} (ümlaut kept)",
        "event": {"id": f"ret-{category}-{user}-{ts:%Y%m%d%H%M%S}-{n}", "action": "logon", "original": f"raw {n}"},
        "user": {"name": user.upper() if n % 2 else user},  # case differs across logs; holds still match
        "host": {"name": f"ws-{user}"},
        "source": {"ip": "10.0.0.5" if user == "alice" else "10.0.0.9"},
        "vigil": {"category": category, "source": "retention-test", "parser": "test", "entity": f"user:{user}"},
    })  # fmt: skip


def dead_letter(ts: datetime, raw: str, n: int) -> DeadLetter:
    return DeadLetter.model_validate({"id": f"ret-dl-{ts:%Y%m%d}-{n}", "@timestamp": ts, "stage": "normalise",
                                      "reason": "no parser", "source": "retention-test", "transport": "file",
                                      "format": "auto", "raw": raw})  # fmt: skip


def seed(es: Elasticsearch, settings: Settings, now: datetime) -> dict[str, dict[str, str]]:
    """Per index: _id → SHA-256 of the stored document. Two alice and two bob events per category and
    age (at 01:00 and 22:00 UTC of the day), and two dead letters on the 61-day day."""
    install_templates(es, settings)
    docs = []
    for category in CATEGORIES:
        for age in AGES:
            day = (now - timedelta(days=age)).date()
            for n, hour in enumerate((1, 22)):
                ts = datetime(day.year, day.month, day.day, hour, 7, tzinfo=UTC)
                for user in ("alice", "bob"):
                    value = event(ts, category, user, n).model_dump_json(by_alias=True, exclude_none=True)
                    docs.append(bulk_actions(Topic.EVENTS.value, value.encode()))
    old = now - timedelta(days=61)
    for n, raw in enumerate(("garbage line from alice's laptop", "garbage line nobody owns")):
        docs.append(
            bulk_actions(Topic.DEADLETTER.value, dead_letter(old, raw, n).model_dump_json(by_alias=True).encode())
        )
    assert index_batch(es, docs) == []
    names = sorted({index for index, _, _ in docs})
    es.indices.refresh(index=",".join(names))
    return {name: {hit["_id"]: doc_sha256(hit["_source"]) for hit in iter_hits(es, name)} for name in names}


def snapshot(es: Elasticsearch) -> dict[str, int]:
    es.indices.refresh(index="logs-*,vigil-*")
    rows = es.cat.indices(index="logs-*,vigil-*", format="json", h="index,docs.count")
    return {row["index"]: int(row["docs.count"]) for row in rows}


def ours(names: Iterable[str], stored: dict[str, dict[str, str]]) -> set[str]:
    """The names this test seeded: the session's node may also hold other tests' backdated days, which the
    job rightly deletes as well."""
    return set(names) & set(stored)


def index_of(scope: str, now: datetime, age: int) -> str:
    return index_name(RetentionScope(scope), (now - timedelta(days=age)).date())


@pytest.fixture
def es(settings: Settings) -> Elasticsearch:
    return clients.es_client(settings)


def test_backdated_days_held_range_archive_restore(es: Elasticsearch, settings: Settings, tmp_path: Path) -> None:
    now = datetime(1999, 3, 1, 9, 30, tzinfo=UTC)
    stored = seed(es, settings, now)
    old_day = (now - timedelta(days=61)).date()
    start = datetime(old_day.year, old_day.month, old_day.day, tzinfo=UTC)
    held = place_hold(es, settings, HoldRequest.model_validate({
        "entity": "user:alice", "from": start, "to": start + timedelta(hours=12), "reason": "incident 42",
        "created_by": "officer-zhang", "incident_id": "inc-42"}), hold_id="ret-h-alice")  # fmt: skip
    released = place_hold(es, settings, HoldRequest.model_validate({
        "entity": "user:bob", "from": start, "reason": "mistake", "created_by": "officer-zhang"}),
        hold_id="ret-h-bob")  # fmt: skip
    release_hold(es, released.id, by="admin-li", reason="placed on the wrong user")
    assert [h.id for h in list_holds(es) if h.id.startswith("ret-h-")] == ["ret-h-alice"]
    bob = next(h for h in list_holds(es, active_only=False) if h.id == "ret-h-bob")
    assert (bob.released_by, bob.release_reason) == ("admin-li", "placed on the wrong user")

    expired = {index_of(c, now, 61) for c in (*CATEGORIES, "deadletter")}
    kept = {index_of(c, now, age) for c in CATEGORIES for age in (60, 59)}
    assert expired | kept == set(stored)

    # Dry run: the plan names exactly our 61-day indices, and nothing changes.
    before = snapshot(es)
    dry = job.run(es, settings, now=now, dry_run=True, archive=True)
    assert ours({item.index.name for item in dry.plan.deletions}, stored) == expired
    assert all(item.holds == ("ret-h-alice",) for item in dry.plan.deletions if item.index.name in expired)
    assert snapshot(es) == before
    assert not settings.archive_path().exists()

    report = job.run(es, settings, now=now, archive=True)
    assert report.failed == []
    assert ours(report.deleted, stored) == expired
    after = snapshot(es)
    assert not expired & set(after)
    assert all(after[name] == len(stored[name]) for name in kept)

    # The held documents (alice, 01:07 on the 61-day day, every category) are in the evidence index,
    # same ids, same content; bob's (released hold) and alice's 22:07 ones (outside the range) are not.
    held_evidence = evidence_index(held.id, RetentionScope.USER)
    evidence = {hit["_id"]: doc_sha256(hit["_source"]) for hit in iter_hits(es, held_evidence)}
    expected = {
        doc_id: digest
        for name in expired - {index_of("deadletter", now, 61)}
        for doc_id, digest in stored[name].items()
        if "-alice-" in doc_id and doc_id.endswith("010700-0")
    }
    assert len(expected) == 3 and evidence == expected, held_evidence
    dl_evidence = {h["_id"] for h in iter_hits(es, evidence_index(held.id, RetentionScope.DEADLETTER))}
    assert dl_evidence == {f"ret-dl-{old_day:%Y%m%d}-0"}  # the dead letter mentioning alice
    assert not es.indices.exists(index=evidence_index("ret-h-bob", RetentionScope.USER))

    # The deletions are on record.
    es.indices.refresh(index=RETENTION_LOG_INDEX)
    logged = es.search(index=RETENTION_LOG_INDEX, size=100, query={"terms": {"index": sorted(expired)}})
    assert {hit["_source"]["index"] for hit in logged["hits"]["hits"]} == expired

    # A second run deletes nothing more.
    again = job.run(es, settings, now=now, archive=True)
    assert again.deleted == [] and again.failed == []
    assert snapshot(es) == after

    # Archive → delete → restore: identical documents (hash-compared), identical ids.
    restored = restore_day(es, settings, old_day)
    assert set(restored) == expired
    for name in expired:
        assert {hit["_id"]: doc_sha256(hit["_source"]) for hit in iter_hits(es, name)} == stored[name]
    assert es.indices.get_alias(index=index_of("user", now, 61))  # same template: the vigil-logs alias

    # An altered archive is refused before anything is written.
    es.indices.delete(index=index_of("network", now, 61))
    archive = next((settings.archive_path() / f"{old_day:%Y.%m.%d}").glob("logs-network-*.ndjson.gz"))
    content = gzip.decompress(archive.read_bytes()).replace(b"alice", b"mallory")
    archive.write_bytes(gzip.compress(content))
    with pytest.raises(RetentionError, match="does not match its SHA-256"):
        restore_day(es, settings, old_day, RetentionScope.NETWORK)
    assert not es.indices.exists(index=index_of("network", now, 61))

    # Status sees the hold, the days, and the deleted day through the retention log.
    user = next(s for s in status(es, settings, now=now).scopes if s.scope is RetentionScope.USER)
    assert "ret-h-alice" in user.active_holds
    assert user.first_day_ingested is not None and user.first_day_ingested <= old_day
    assert user.newest_day is not None and user.newest_day >= (now - timedelta(days=59)).date()
    release_hold(es, held.id, by="admin-li", reason="incident 42 closed")


def test_below_floor_is_refused_and_deletes_nothing(es: Elasticsearch, settings: Settings, tmp_path: Path) -> None:
    now = datetime(1998, 1, 1, tzinfo=UTC)
    stored = seed(es, settings, now)
    before = snapshot(es)

    with pytest.raises(ValueError, match="retention for 'system' is 30 days, below the 60-day floor"):
        Settings(retention={"system": 30})
    forged = settings.model_copy(update={"retention": RetentionPolicy.model_construct(
        network=60, system=30, user=60, deadletter=60)})  # fmt: skip
    with pytest.raises(RetentionError, match="'system' is 30 days, below the 60-day floor"):
        job.run(es, forged, now=now)
    policy_file = tmp_path / "retention.yml"
    policy_file.write_text("user: 45\n")
    with pytest.raises(ConfigError, match="'user' is 45 days, below the 60-day floor"):
        job.run(es, settings.model_copy(update={"retention_file": policy_file}), now=now)
    # Status reports the refused policy as non-compliance instead of failing.
    result = status(es, settings.model_copy(update={"retention_file": policy_file}), now=now)
    assert not result.compliant and "below the 60-day floor" in (result.policy_error or "")
    assert snapshot(es) == before
    assert {ix.name for ix in list_daily_indices(es)} >= set(stored)


def test_cli_hold_and_retention_commands(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The `vigil retention` / `vigil hold` commands end to end (through typer, against the stack)."""
    from typer.testing import CliRunner

    from core.cli import app
    from core.settings import get_settings

    monkeypatch.setenv("VIGIL_ES_URL", settings.es_url)
    monkeypatch.setenv("VIGIL_DATA_DIR", str(settings.data_dir))
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        placed = runner.invoke(app, ["hold", "place", "--entity", "host:ws-cli", "--from", "2026-01-01T08:00",
                                     "--reason", "drill", "--by", "officer", "--id", "ret-h-cli"])  # fmt: skip
        assert placed.exit_code == 0, placed.output
        # A time without a zone is read in the configured zone (Asia/Shanghai): 08:00 there is 00:00 UTC.
        assert '"from": "2026-01-01T00:00:00Z"' in placed.output
        listed = runner.invoke(app, ["hold", "list", "--json"])
        assert "ret-h-cli" in listed.output
        released = runner.invoke(app, ["hold", "release", "ret-h-cli", "--by", "admin", "--reason", "drill over"])
        assert released.exit_code == 0 and '"release_reason": "drill over"' in released.output
        again = runner.invoke(app, ["hold", "release", "ret-h-cli", "--by", "admin", "--reason", "twice"])
        assert again.exit_code == 1 and "already released" in again.output
        refused = runner.invoke(app, ["hold", "place", "--entity", "alice", "--from", "2026-01-01T00:00Z",
                                      "--reason", "x", "--by", "y"])  # fmt: skip
        assert refused.exit_code != 0

        dry = runner.invoke(app, ["retention", "run", "--dry-run", "--json"])
        assert dry.exit_code == 0, dry.output
        assert '"dry_run": true' in dry.output
        shown = runner.invoke(app, ["retention", "status", "--json"])
        assert shown.exit_code == 0, shown.output
        body = json.loads(shown.output[shown.output.index("{") :])
        assert body["floor_days"] == 60 and {s["scope"] for s in body["scopes"]} == set(RetentionScope)
        missing = runner.invoke(app, ["retention", "restore", "1999-01-01"])
        assert missing.exit_code == 1 and "no archive for 1999.01.01" in missing.output

        monkeypatch.setenv("VIGIL_RETENTION__NETWORK", "59")
        get_settings.cache_clear()
        below = runner.invoke(app, ["retention", "run", "--dry-run"])
        assert below.exit_code == 1
        assert "retention for 'network' is 59 days, below the 60-day floor" in " ".join(below.output.split())
    finally:
        get_settings.cache_clear()


def test_a_failed_evidence_copy_or_a_late_event_keeps_the_day(es: Elasticsearch, settings: Settings) -> None:
    """Without a verified evidence copy, and when a day changes while it is processed, nothing goes;
    the next run finishes the work (a changed day is archived as a second part)."""
    now = datetime(1997, 6, 1, 12, 0, tzinfo=UTC)
    stored = seed(es, settings, now)
    old_day = (now - timedelta(days=61)).date()
    start = datetime(old_day.year, old_day.month, old_day.day, tzinfo=UTC)
    request = HoldRequest.model_validate({"entity": "user:alice", "from": start, "to": start + timedelta(hours=12),
                                          "reason": "incident 43", "created_by": "playbook"})  # fmt: skip
    hold = place_hold(es, settings, request, hold_id="ret-h-forged")
    assert place_hold(es, settings, request, hold_id="ret-h-forged") == hold  # a retried placement is harmless
    with pytest.raises(HoldError, match="a different hold already has id"):
        place_hold(es, settings, request.model_copy(update={"reason": "other"}), hold_id="ret-h-forged")

    user_day, system_day = index_of("user", now, 61), index_of("system", now, 61)
    alice = next(i for i in stored[user_day] if "-alice-" in i and i.endswith("010700-0"))
    evidence = evidence_index(hold.id, RetentionScope.USER)
    es.create(index=evidence, id=alice, document={"@timestamp": start.isoformat(), "message": "forged"},
              refresh="wait_for")  # fmt: skip

    current: list[str] = []
    late = event(start + timedelta(hours=5), "system", "carol", 0)

    def write_late_event(_: int) -> None:
        if current == [system_day]:
            es.create(index=system_day, id=late.event.id, document=late.to_document(), refresh="wait_for")
            current.clear()

    def track(item: PlanItem) -> None:
        current[:] = [item.index.name]

    report = job.run(es, settings, now=now, archive=True, advance=write_late_event, on_index=track)
    outcomes = {o.index: o for o in report.outcomes}
    assert ours(report.deleted, stored) == {index_of("network", now, 61), index_of("deadletter", now, 61)}
    assert outcomes[user_day].status == "kept" and f"{evidence} lacks or differs" in outcomes[user_day].reason
    assert outcomes[system_day].status == "kept" and "received documents while" in outcomes[system_day].reason
    assert es.count(index=user_day)["count"] == len(stored[user_day])

    es.delete(index=evidence, id=alice, refresh="wait_for")
    again = job.run(es, settings, now=now, archive=True)
    assert ours(again.deleted, stored) == {user_day, system_day} and again.failed == []
    assert {h["_id"] for h in iter_hits(es, evidence)} == {
        i for day in (user_day, system_day, index_of("network", now, 61)) for i in stored[day]
        if "-alice-" in i and i.endswith("010700-0")
    }  # fmt: skip

    # A later late event re-creates the deleted day (the indexer's own routing); the next run archives
    # it as a second part and deletes it again; the restore brings back both parts.
    later = event(start + timedelta(hours=6), "system", "dave", 0).model_dump_json(by_alias=True, exclude_none=True)
    recreated = bulk_actions(Topic.EVENTS.value, later.encode())
    assert recreated[0] == system_day and index_batch(es, [recreated]) == []
    es.indices.refresh(index=system_day)
    assert job.run(es, settings, now=now, archive=True).deleted == [system_day]
    manifest = json.loads((settings.archive_path() / f"{old_day:%Y.%m.%d}" / "manifest.json").read_text())
    assert sorted((e["part"], e["docs"]) for e in manifest["entries"] if e["index"] == system_day) == [
        (1, len(stored[system_day]) + 1), (2, 1)]  # fmt: skip
    assert restore_day(es, settings, old_day, RetentionScope.SYSTEM) == [system_day]
    restored = {hit["_id"]: doc_sha256(hit["_source"]) for hit in iter_hits(es, system_day)}
    assert restored == {**stored[system_day], late.event.id: doc_sha256(late.to_document()),
                        recreated[1]: doc_sha256(recreated[2])}  # fmt: skip
    release_hold(es, hold.id, by="admin-li", reason="test over")
