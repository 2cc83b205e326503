"""Which playbook an alert starts, and whether it joins an incident already open.

The most specific trigger wins: a rule id named exactly beats the alert's suggested playbook (`hints`),
which beats an ATT&CK tag; among equals, the first playbook in file order. An alert joins an open incident
of the same playbook about the same entity whose alert time range, widened by the playbook's
`group_window`, overlaps the alert's: one brute force burst is one incident, not forty.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from core.models.alert import Alert, Severity
from core.models.incident import Incident
from playbooks.loader import LoadedPlaybook
from playbooks.schema import Trigger

RULE, HINT, TAG = 3, 2, 1
# Alerts about the response itself never open incidents (an overdue deadline alerts on vigil.alerts).
RESPONSE_RULES = frozenset({"vigil-response-overdue"})


def strength(
    trigger: Trigger, *, rule_id: str, tags: Iterable[str], severity: Severity, hint: str | None, entity_kind: str
) -> int:
    """How specifically the trigger matches (RULE, HINT, TAG), or 0 when it does not."""
    if severity.rank < trigger.min_severity.rank:
        return 0
    if trigger.entity_kinds and entity_kind not in trigger.entity_kinds:
        return 0
    if rule_id in trigger.rules:
        return RULE
    if hint is not None and hint in trigger.hints:
        return HINT
    if tags_match(trigger.tags, tags):
        return TAG
    return 0


def tags_match(wanted: Sequence[str], tags: Iterable[str]) -> bool:
    """`attack.t1110` matches `attack.t1110.003`; tactics and techniques match exactly otherwise."""
    lowered = [t.lower() for t in tags]
    return any(t == w or t.startswith(w + ".") for w in wanted for t in lowered)


def alert_strength(trigger: Trigger, alert: Alert) -> int:
    if alert.rule.id in RESPONSE_RULES:
        return 0
    return strength(
        trigger,
        rule_id=alert.rule.id,
        tags=alert.tags,
        severity=alert.severity,
        hint=alert.playbook,
        entity_kind=alert.entity.kind,
    )


def choose(playbooks: Sequence[LoadedPlaybook], alert: Alert) -> LoadedPlaybook | None:
    best: tuple[int, LoadedPlaybook] | None = None
    for loaded in playbooks:
        score = alert_strength(loaded.playbook.trigger, alert)
        if score and (best is None or score > best[0]):
            best = (score, loaded)
    return best[1] if best else None


def joins(incident: Incident, alert: Alert, playbook_id: str, window: timedelta) -> bool:
    """Does the alert belong to this (open) incident?"""
    if incident.status.closed or incident.drill or incident.playbook != playbook_id:
        return False
    if incident.entity is None or incident.entity.key != alert.entity.key:
        return False
    if incident.first_seen is None or incident.last_seen is None:
        return False
    return overlaps(incident.first_seen, incident.last_seen, alert.first_seen, alert.last_seen, window)


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime, slack: timedelta) -> bool:
    return a_start - slack <= b_end and b_start <= a_end + slack
