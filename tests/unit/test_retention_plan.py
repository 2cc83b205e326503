"""Pure retention logic with a fake `now`: the floor, the 59/60/61-day boundary, holds, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from core.errors import ConfigError, RetentionError
from core.models.hold import Hold
from core.names import RetentionScope
from core.settings import RetentionPolicy, Settings
from retention.indices import DailyIndex, parse_index
from retention.overview import scope_status
from retention.plan import Action, deletable_at, make_plan
from retention.policy import enforce_floor, load_policy

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def index(scope: str, day: date) -> DailyIndex:
    name = f"vigil-deadletter-{day:%Y.%m.%d}" if scope == "deadletter" else f"logs-{scope}-{day:%Y.%m.%d}"
    parsed = parse_index(name)
    assert parsed is not None
    return parsed


def days_ago(n: int, now: datetime = NOW) -> date:
    return (now - timedelta(days=n)).astimezone(UTC).date()


def hold(
    entity: str = "user:alice", start: datetime | None = None, end: datetime | None = None, **extra: object
) -> Hold:
    return Hold.model_validate({"id": "h1", "entity": entity, "from": start or NOW - timedelta(days=70),
                                "to": end, "reason": "incident 7", "created_by": "officer",
                                "created_at": NOW, **extra})  # fmt: skip


def actions(plan_items: object) -> dict[str, Action]:
    return {item.index.name: item.action for item in plan_items}  # type: ignore[attr-defined]


# -- the floor --------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["network", "system", "user", "deadletter"])
def test_a_setting_below_the_floor_is_refused_naming_the_category(scope: str) -> None:
    with pytest.raises(ValidationError, match=rf"retention for '{scope}' is 59 days, below the 60-day floor"):
        Settings(retention={scope: 59})


def test_the_settings_factory_turns_a_below_floor_environment_into_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from core.settings import get_settings

    monkeypatch.setenv("VIGIL_RETENTION__USER", "30")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="retention for 'user' is 30 days, below the 60-day floor"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_a_yaml_file_below_the_floor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "retention.yml"
    path.write_text("network: 90\nsystem: 14\n")
    with pytest.raises(ConfigError, match=r"retention\.yml: system: .*'system' is 14 days, below the 60-day floor"):
        load_policy(Settings(retention_file=path))


def test_a_yaml_file_at_or_above_the_floor_loads(tmp_path: Path) -> None:
    path = tmp_path / "retention.yml"
    path.write_text("network: 90\nuser: 60\n")
    policy = load_policy(Settings(retention_file=path))
    assert (policy.network, policy.system, policy.user, policy.deadletter) == (90, 60, 60, 60)


def test_the_job_checks_the_floor_again_on_a_policy_that_skipped_validation() -> None:
    forged = RetentionPolicy.model_construct(network=60, system=60, user=7, deadletter=60)
    with pytest.raises(RetentionError, match="'user' is 7 days, below the 60-day floor"):
        enforce_floor(forged)
    with pytest.raises(RetentionError, match="'user' is 7 days"):
        make_plan([index("user", days_ago(100))], [], forged, NOW)


# -- the boundary -----------------------------------------------------------------------------


def test_61_days_goes_60_and_59_stay() -> None:
    indices = [index("user", days_ago(n)) for n in (59, 60, 61)]
    plan = make_plan(indices, [], RetentionPolicy(), NOW)
    assert actions(plan.items) == {
        f"logs-user-{days_ago(61):%Y.%m.%d}": Action.DELETE,
        f"logs-user-{days_ago(60):%Y.%m.%d}": Action.KEEP,
        f"logs-user-{days_ago(59):%Y.%m.%d}": Action.KEEP,
    }


def test_a_day_goes_exactly_when_its_last_instant_is_past_the_retention() -> None:
    day = index("system", date(2026, 10, 1))
    assert deletable_at(day, 60) == datetime(2026, 12, 1, tzinfo=UTC)
    just_before = datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)
    assert make_plan([day], [], RetentionPolicy(), just_before).items[0].action is Action.KEEP
    assert make_plan([day], [], RetentionPolicy(), datetime(2026, 12, 1, tzinfo=UTC)).items[0].action is Action.DELETE


def test_each_category_uses_its_own_retention() -> None:
    indices = [index(scope, days_ago(61)) for scope in ("network", "system", "user", "deadletter")]
    plan = make_plan(indices, [], RetentionPolicy(network=90, deadletter=365), NOW)
    assert {i.index.scope.value: i.action for i in plan.items} == {
        "network": Action.KEEP, "system": Action.DELETE, "user": Action.DELETE, "deadletter": Action.KEEP,
    }  # fmt: skip


def test_other_indices_are_not_retention_material() -> None:
    for name in ("vigil-holds", "logs-user-2026.13.01", "logs-other-2026.10.01", "vigil-evidence-h1", "logs-user"):
        assert parse_index(name) is None


# -- time zones -------------------------------------------------------------------------------


def test_now_in_another_zone_is_the_same_instant() -> None:
    """00:30 on 1 December in Shanghai is 16:30 UTC on 30 November: the 1 October index is not yet
    past 60 days (that happens at 1 December 00:00 UTC = 08:00 Shanghai)."""
    shanghai = ZoneInfo("Asia/Shanghai")
    day = index("user", date(2026, 10, 1))
    early = datetime(2026, 12, 1, 0, 30, tzinfo=shanghai)
    late = datetime(2026, 12, 1, 8, 0, tzinfo=shanghai)
    assert make_plan([day], [], RetentionPolicy(), early).items[0].action is Action.KEEP
    assert make_plan([day], [], RetentionPolicy(), late).items[0].action is Action.DELETE


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        make_plan([], [], RetentionPolicy(), datetime(2026, 12, 1, 9, 0))


# -- holds ------------------------------------------------------------------------------------


def test_an_expired_day_meeting_an_active_hold_is_planned_with_its_evidence_copy() -> None:
    held_day, free_day = date(2026, 9, 20), date(2026, 9, 25)
    h = hold(start=datetime(2026, 9, 20, 23, 0, tzinfo=UTC), end=datetime(2026, 9, 21, 1, 0, tzinfo=UTC))
    plan = make_plan([index("user", held_day), index("user", free_day)], [h], RetentionPolicy(), NOW)
    by_day = {item.index.day: item for item in plan.items}
    assert by_day[held_day].action is Action.DELETE and by_day[held_day].holds == ("h1",)
    assert by_day[free_day].holds == ()


def test_hold_range_end_is_exclusive_and_start_inclusive() -> None:
    h = hold(start=datetime(2026, 9, 21, tzinfo=UTC), end=datetime(2026, 9, 22, tzinfo=UTC))
    plan = make_plan([index("user", date(2026, 9, d)) for d in (20, 21, 22)], [h], RetentionPolicy(), NOW)
    assert [item.holds for item in plan.items] == [(), ("h1",), ()]


def test_released_holds_and_other_categories_do_not_hold() -> None:
    released = hold(released_by="admin", released_at=NOW, release_reason="case closed")
    network_only = hold(category="network")
    plan = make_plan([index("user", date(2026, 9, 20))], [released, network_only], RetentionPolicy(), NOW)
    assert plan.items[0].holds == ()


def test_an_open_ended_hold_on_everything_meets_every_later_day() -> None:
    h = hold(entity="*", start=datetime(2026, 9, 1, tzinfo=UTC))
    plan = make_plan([index(s, date(2026, 9, 20)) for s in ("network", "deadletter")], [h], RetentionPolicy(), NOW)
    assert all(item.holds == ("h1",) for item in plan.items)


@pytest.mark.parametrize("entity", ["alice", "group:x", "ip:not-an-ip", "user:"])
def test_bad_hold_entities_are_refused(entity: str) -> None:
    with pytest.raises(ValidationError):
        hold(entity=entity)


def test_an_empty_hold_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="range is empty"):
        hold(start=NOW, end=NOW)


# -- compliance -------------------------------------------------------------------------------


def status_of(days: list[int], first_deleted: date | None = None, scope: str = "user") -> object:
    indices = [index(scope, days_ago(n)) for n in days]
    return scope_status(RetentionScope(scope), indices, [], RetentionPolicy(), first_deleted, NOW)


def test_a_young_deployment_without_gaps_is_compliant() -> None:
    status = status_of(list(range(1, 11)))
    assert status.compliant and status.missing_days == []  # type: ignore[attr-defined]


def test_a_missing_day_inside_the_window_is_not_compliant() -> None:
    status = status_of([n for n in range(1, 62) if n != 30])
    assert not status.compliant  # type: ignore[attr-defined]
    assert status.missing_days == status.window_gaps == [days_ago(30)]  # type: ignore[attr-defined]


def test_a_silent_category_has_window_gaps_after_its_newest_day() -> None:
    status = status_of([10, 9, 8])
    assert not status.compliant and status.missing_days == []  # type: ignore[attr-defined]
    assert status.window_gaps == [days_ago(n) for n in range(7, 0, -1)]  # type: ignore[attr-defined]


def test_a_deleted_oldest_day_inside_the_window_shows_through_the_deletion_record() -> None:
    """The job deleted up to 62 days ago; someone else deleted days 59 to 50: no longer 'a young
    deployment', the gap is reported."""
    status = status_of(list(range(1, 50)), first_deleted=days_ago(62))
    assert not status.compliant and status.missing_days == []  # type: ignore[attr-defined]
    assert status.window_gaps == [days_ago(n) for n in range(60, 49, -1)]  # type: ignore[attr-defined]


def test_gaps_older_than_the_window_do_not_break_compliance() -> None:
    status = status_of([*range(1, 62), 70], first_deleted=None)
    assert status.compliant and days_ago(65) in status.missing_days  # type: ignore[attr-defined]


def test_no_logs_at_all_is_not_compliant_but_no_dead_letters_is_fine() -> None:
    assert not status_of([]).compliant  # type: ignore[attr-defined]
    assert status_of([], scope="deadletter").compliant  # type: ignore[attr-defined]
    assert status_of([5, 1], scope="deadletter").compliant  # type: ignore[attr-defined]


def test_next_deletion_is_the_oldest_day_at_its_deletable_instant() -> None:
    status = status_of([3, 40, 59])
    nxt = status.next_deletion  # type: ignore[attr-defined]
    assert nxt.day == days_ago(59) and nxt.at == deletable_at(index("user", days_ago(59)), 60) and not nxt.overdue


# -- ILM backstop and hold queries -------------------------------------------------------------


def test_the_ilm_delete_policy_waits_past_the_retention() -> None:
    from retention.ilm import GRACE_DAYS, policy_body

    body = policy_body(60)
    assert body == {"phases": {"delete": {"min_age": f"{60 + GRACE_DAYS}d", "actions": {"delete": {}}}}}
    assert int(body["phases"]["delete"]["min_age"][:-1]) >= 60


def test_a_hold_query_is_clipped_to_the_day_and_matches_the_entity_fields() -> None:
    from retention.holds import hold_query

    h = hold(start=datetime(2026, 9, 20, 22, 0, tzinfo=UTC), end=None)
    day = index("user", date(2026, 9, 20))
    query = hold_query(h, day.scope, day.start, day.end)
    time_range, entity = query["bool"]["filter"]
    assert time_range == {"range": {"@timestamp": {"gte": "2026-09-20T22:00:00+00:00",
                                                   "lt": "2026-09-21T00:00:00+00:00"}}}  # fmt: skip
    fields = {next(iter(clause["term"])) for clause in entity["bool"]["should"]}
    assert {"user.name", "vigil.entity"} <= fields


def test_an_everything_hold_matches_the_whole_range_and_dead_letters_match_the_raw_line() -> None:
    from retention.holds import hold_query

    day = index("deadletter", date(2026, 9, 20))
    assert hold_query(hold(entity="*"), day.scope, day.start, day.end)["bool"]["filter"][1:] == []
    should = hold_query(hold(entity="host:WS01"), day.scope, day.start, day.end)["bool"]["filter"][1]["bool"]["should"]
    assert {"match_phrase": {"raw": "WS01"}} in should
    assert {"wildcard": {"raw": {"value": "*WS01*", "case_insensitive": True}}} in should


class FakeIlmCluster:
    """Just enough of a production cluster with ILM to see which calls `install_ilm` makes."""

    def __init__(self, names: list[str]) -> None:
        self.calls: list[tuple[str, str]] = []
        modules = {"nodes": {"n1": {"modules": [{"name": "x-pack-core"}, {"name": "x-pack-ilm"}]}}}
        rows = [{"index": name, "docs.count": "1", "store.size": "10"} for name in names]
        self.nodes = SimpleNamespace(info=lambda **_: modules)
        self.cat = SimpleNamespace(indices=lambda **_: SimpleNamespace(body=rows))
        self.ilm = SimpleNamespace(
            get_status=lambda: {"operation_mode": "RUNNING"},
            put_lifecycle=lambda name, policy: self.calls.append(
                ("policy", f"{name}={policy['phases']['delete']['min_age']}")
            ),
            remove_policy=lambda index: self.calls.append(("detach", index)),
        )
        self.indices = SimpleNamespace(
            put_settings=lambda index, settings: self.calls.append(
                ("attach", f"{index}={settings['index.lifecycle.name']}")
            )
        )


def test_ilm_is_a_backstop_that_never_manages_a_held_index() -> None:
    from retention.ilm import install_ilm

    cluster = FakeIlmCluster(["logs-user-2026.09.20", "logs-user-2026.09.25", "vigil-deadletter-2026.09.20"])
    h = hold(start=datetime(2026, 9, 20, tzinfo=UTC), end=datetime(2026, 9, 21, tzinfo=UTC), category="user")
    names = install_ilm(cluster, RetentionPolicy(user=90), [h])  # type: ignore[arg-type]
    assert names == [f"vigil-retention-{s.value}" for s in RetentionScope]
    assert ("policy", "vigil-retention-user=92d") in cluster.calls
    assert ("policy", "vigil-retention-network=62d") in cluster.calls
    assert ("attach", "logs-user-2026.09.25=vigil-retention-user") in cluster.calls
    assert ("attach", "vigil-deadletter-2026.09.20=vigil-retention-deadletter") in cluster.calls
    assert not any(call == "attach" and index.startswith("logs-user-2026.09.20") for call, index in cluster.calls)
    assert ("detach", "logs-user-2026.09.20") in cluster.calls
