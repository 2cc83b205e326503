"""Alert triage, pure: the transition table and what one change does to status, assignee, history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.errors import Conflict
from api.models.alerts import AlertUpdate
from api.triage import TRANSITIONS, InvalidTransition, Triage, check_transition
from core.models.alert import AlertStatus as S

AT = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def update(**fields: object) -> AlertUpdate:
    return AlertUpdate.model_validate(fields)


def test_the_lifecycle_and_its_shortcuts() -> None:
    allowed = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert allowed == {
        (S.NEW, S.ACKNOWLEDGED), (S.NEW, S.FALSE_POSITIVE),
        (S.ACKNOWLEDGED, S.INVESTIGATING), (S.ACKNOWLEDGED, S.RESOLVED), (S.ACKNOWLEDGED, S.FALSE_POSITIVE),
        (S.INVESTIGATING, S.RESOLVED), (S.INVESTIGATING, S.FALSE_POSITIVE),
        (S.RESOLVED, S.INVESTIGATING), (S.FALSE_POSITIVE, S.INVESTIGATING),
    }  # fmt: skip
    assert set(TRANSITIONS) == set(S)


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (S.NEW, S.RESOLVED, "cannot go from new to resolved; from new it may go to acknowledged, false_positive"),
        (S.RESOLVED, S.NEW, "cannot go from resolved to new; from resolved it may go to investigating"),
        (S.ACKNOWLEDGED, S.ACKNOWLEDGED, "already acknowledged"),
    ],
)
def test_an_invalid_transition_says_what_is_allowed(current: S, target: S, message: str) -> None:
    with pytest.raises(InvalidTransition, match=message):
        check_transition(current, target)


def test_a_change_appends_who_and_when() -> None:
    triage = Triage().changed(update(status="acknowledged", assignee="bob"), "alice", AT)
    assert (triage.status, triage.assignee) == (S.ACKNOWLEDGED, "bob")
    [entry] = triage.history
    assert (entry.at, entry.by, entry.status, entry.assignee, entry.comment) == (
        AT,
        "alice",
        S.ACKNOWLEDGED,
        "bob",
        None,
    )
    later = triage.changed(update(comment="looked at the host"), "bob", AT.replace(hour=9))
    assert later.status is S.ACKNOWLEDGED and later.assignee == "bob"
    assert [(h.by, h.status, h.comment) for h in later.history] == [
        ("alice", S.ACKNOWLEDGED, None), ("bob", None, "looked at the host")]  # fmt: skip
    assert later.to_document()["history"][1] == {
        "at": "2026-11-23T09:00:00Z",
        "by": "bob",
        "comment": "looked at the host",
    }


def test_same_assignee_alone_is_not_a_change() -> None:
    triage = Triage(status=S.ACKNOWLEDGED, assignee="bob")
    with pytest.raises(Conflict, match="already assigned to bob"):
        triage.changed(update(assignee="bob"), "alice", AT)
    # With a comment it is a change: the comment is recorded, the unchanged assignee is not repeated.
    entry = triage.changed(update(assignee="bob", comment="still mine"), "bob", AT).history[-1]
    assert (entry.assignee, entry.comment) == (None, "still mine")


def test_an_empty_update_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one of status, assignee, comment"):
        update()
