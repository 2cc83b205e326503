"""Alert triage, pure: which status may follow which, and what one change does to the triage fields.

The lifecycle is new → acknowledged → investigating → resolved / false_positive. Shortcuts a
queue needs are allowed (an obvious false positive closed from `new`, a quick fix resolved from
`acknowledged`), and a closed alert may be reopened into `investigating` when it turns out to matter
after all. Nothing goes back to `new`: that would erase the time-to-acknowledge the evaluations
measure. Setting the status an alert already has is refused too, so of two officers acknowledging
at once the second learns that someone else already did.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from api.errors import Conflict
from api.models.alerts import AlertUpdate
from core.models.alert import AlertChange, AlertStatus

S = AlertStatus
TRANSITIONS: dict[AlertStatus, frozenset[AlertStatus]] = {
    S.NEW: frozenset({S.ACKNOWLEDGED, S.FALSE_POSITIVE}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.RESOLVED, S.FALSE_POSITIVE}),
    S.INVESTIGATING: frozenset({S.RESOLVED, S.FALSE_POSITIVE}),
    S.RESOLVED: frozenset({S.INVESTIGATING}),
    S.FALSE_POSITIVE: frozenset({S.INVESTIGATING}),
}
TRIAGE_FIELDS = ("status", "assignee", "history")


class InvalidTransition(Conflict):
    """The requested status may not follow the alert's current one."""


def check_transition(current: AlertStatus, target: AlertStatus) -> None:
    if target is current:
        raise InvalidTransition(f"the alert is already {current.value}")
    allowed = TRANSITIONS[current]
    if target not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise InvalidTransition(
            f"an alert cannot go from {current.value} to {target.value}; from {current.value} it may go to {names}"
        )


class Triage(BaseModel):
    """The triage fields of a stored alert: the only fields the API writes."""

    model_config = ConfigDict(extra="ignore")

    status: AlertStatus = AlertStatus.NEW
    assignee: str | None = None
    history: list[AlertChange] = Field(default_factory=list)

    def changed(self, update: AlertUpdate, by: str, at: datetime) -> Triage:
        """The fields after `update` by `by`, with the change appended to the history.
        Raises InvalidTransition; an assignee equal to the current one is not a change."""
        if update.status is not None:
            check_transition(self.status, update.status)
        assignee = update.assignee if update.assignee != self.assignee else None
        change = AlertChange(at=at, by=by, status=update.status, assignee=assignee, comment=update.comment)
        if change.status is None and change.assignee is None and change.comment is None:
            raise Conflict(f"nothing to change: the alert is already assigned to {self.assignee}")
        return Triage(
            status=update.status or self.status,
            assignee=assignee or self.assignee,
            history=[*self.history, change],
        )

    def to_document(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)
