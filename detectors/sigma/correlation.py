"""Sigma correlation rules on the event stream: sliding event-time windows per rule and group.

Semantics (the spec leaves them open; these are Vigil's):
- A window is `[t - timespan, t]`, both ends inclusive, on event time; there are no clock buckets.
- Conditions with only lower bounds (`gt`, `gte`; temporal types by default) are decided at each
  event: the rule holds when the window ending at that event satisfies the condition.
- Conditions with an upper bound, `eq` or `neq` are decided when a window closes (`on_tick`): the
  group's earliest open event anchors a window `[a, a + timespan]`, which closes once the group's
  watermark passes its end; the next window starts at the first event after it.
- Each group has its own watermark: its latest event time - `allowance`. An event at or after it is
  inserted in time order and every window it belongs to is evaluated again; an event behind it (or,
  for at-close rules, inside a window already decided) is late: counted per rule and kept as a sample
  in the state, never put in a window. Per group, not per detector, because one partition mixes live
  sources with imported old files and sources with wrong clocks: a global watermark would make every
  imported event late, and one future-dated event would make everything late.
- An at-close window also closes on the clock: once `now - allowance` is past its end and the group
  has had no event for `allowance` (ticks, else event time), so a group that went quiet is decided.
  A group without events for allowance + timespan on the clock is forgotten.
- Dedup: a group alerts once per episode; the episode lasts while the condition keeps holding within
  one timespan of the last time it held. The alert id (rule, group, first event time) is the same
  after a restart or a replay.
- Group-by values are read through the Sigma field view (`view.py`), with the rule's `aliases`,
  compared case-insensitively; an event without a value for a group-by field is not counted
  (as in a backend's grouped aggregation) but counted in `ungrouped`.
- State is per detector instance. `vigil.events` is partitioned by entity (user, else host), so a rule
  grouped by the user or host sees every event of its groups in one partition; a rule grouped by
  other fields (an IP across many users: password spraying) needs its events keyed by that group.
- A correlation referenced by another one feeds it each time it holds (not only when it alerts), with
  its group values as fields; rules and correlations referenced only with `generate: false` do not
  alert on their own (`CorrelationSet.quiet`, see `suppresses`).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core.models.alert import AlertDraft, DetectorKind, RuleRef, Severity, Summary
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.sigma.correlation_fields import Derived, entity_of, entry_value, field_value
from detectors.sigma.correlation_rules import CorrelationRule, CorrelationSet, span_text
from detectors.sigma.correlation_state import (
    CorrelationState,
    CorrelationStatus,
    GroupState,
    LateEvent,
    RuleState,
    RuleStatus,
    WindowEntry,
)
from detectors.sigma.correlation_window import RunningWindow, entry_time, measure
from detectors.sigma.view import FieldView, build_view, norm_field


@dataclass(frozen=True, slots=True)
class CorrelationSettings:
    allowance: timedelta = timedelta(minutes=5)  # how far behind the latest event time an event may arrive
    max_event_ids: int = 200  # event ids listed in one alert (event_count stays exact)
    late_samples: int = 20  # late events kept in the state for `status()`
    max_entries: int = 100_000  # per rule and group; beyond it the oldest entries go (counted in `dropped`)


@dataclass(slots=True)
class _Pending:
    """One event's contribution to one group of one correlation."""

    fields: dict[str, str]
    rules: list[str] = field(default_factory=list)
    value: str | float | None = None


class CorrelationDetector:
    """Runs every resolved correlation rule; implements `detectors.base.Detector`."""

    name = "sigma-correlation"

    def __init__(self, correlations: CorrelationSet, settings: CorrelationSettings | None = None) -> None:
        self.correlations = correlations
        self.settings = settings or CorrelationSettings()
        self._listening = frozenset(ref for rule in correlations.rules for ref in rule.rules)
        self._state = CorrelationState()
        # (rule id, group key) → the aggregate of the window ending at the group's latest entry
        self._running: dict[tuple[str, str], RunningWindow] = {}

    def suppresses(self, rule_id: str) -> bool:
        """Whether the stream should drop the stand-alone alerts of a rule (`generate: false`)."""
        return self.correlations.suppresses(rule_id)

    # --- the Detector protocol ----------------------------------------------------------------------

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        state = self._state
        if state.max_event_time is None or event.timestamp > state.max_event_time:
            state.max_event_time = event.timestamp
        matched = [h.rule_id for h in hits if h.rule_id in self._listening]
        if not matched:
            return []
        view = build_view(event)
        event_id = view.event_id or event.event.id
        late: list[LateEvent] = []
        alerts = self._apply({rule_id: [None] for rule_id in matched}, event.timestamp, event_id, view, event, late)
        if late:
            state.late += 1
            state.late_recent += late
            del state.late_recent[: -self.settings.late_samples]
        return alerts

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        """Decide the at-close windows that are over and forget idle groups. A replay ticks with its
        event clock and ends with a tick past `latest + allowance + the longest timespan`, so the
        last windows are decided too."""
        state = self._state
        if state.last_tick is None or now > state.last_tick:
            state.last_tick = now
        alerts: list[AlertDraft] = []
        for rule in self.correlations.rules:
            rule_state = self._rule_state(rule.id)
            if rule.condition.at_close:
                alerts += self._close(rule, rule_state, now)
            self._collect(rule, rule_state, now)
        return alerts

    def snapshot(self) -> CorrelationState:
        return self._state

    def restore(self, state: Mapping[str, object]) -> None:
        restored = CorrelationState.model_validate(state)
        known = {rule.id for rule in self.correlations.rules}
        restored.rules = {rule_id: s for rule_id, s in restored.rules.items() if rule_id in known}
        self._state = restored
        self._running.clear()

    def status(self) -> CorrelationStatus:
        rules = []
        for rule in self.correlations.rules:
            s = self._rule_state(rule.id)
            entries = sum(len(g.entries) for g in s.groups.values())
            rules.append(RuleStatus(rule_id=rule.id, title=rule.title, groups=len(s.groups), entries=entries,
                                    alerts=s.alerts, late=s.late, ungrouped=s.ungrouped,
                                    dropped=s.dropped))  # fmt: skip
        state = self._state
        return CorrelationStatus(max_event_time=state.max_event_time, last_tick=state.last_tick, late=state.late,
                                 late_recent=state.late_recent, rules=rules)  # fmt: skip

    # --- windows ------------------------------------------------------------------------------------

    def _apply(
        self,
        sources: dict[str, list[Derived | None]],
        at: datetime,
        event_id: str | None,
        view: FieldView | None,
        event: EcsEvent | None,
        late: list[LateEvent],
    ) -> list[AlertDraft]:
        """Insert one event (or a correlation that held) into every window it belongs to, in dependency
        order so a correlation that holds feeds the correlations built on it in the same call."""
        alerts: list[AlertDraft] = []
        seq = self._state.seq
        self._state.seq += 1
        for rule in self.correlations.rules:
            refs = [ref for ref in rule.rules if ref in sources]
            if not refs:
                continue
            rule_state = self._rule_state(rule.id)
            held: list[Derived] = []
            was_late = False
            for key, pending in self._grouped(rule, refs, sources, view, rule_state).items():
                group = rule_state.groups.get(key)
                if group is None:
                    clock = self._state.last_tick or at
                    group = rule_state.groups[key] = GroupState(fields=pending.fields, max_t=at, touched=clock)
                elif (behind := self._behind(group, at)) is not None:
                    was_late = True
                    shown = ", ".join(f"{k}={v}" for k, v in group.fields.items())
                    late.append(LateEvent(event_id=event_id, t=at, rule_id=rule.id, group=shown, watermark=behind))
                    continue
                entry = WindowEntry(t=at, seq=seq, event_id=event_id, rules=tuple(pending.rules), value=pending.value)
                window = self._insert(rule, key, group, entry)
                if window is None:
                    continue
                held.append(group.fields)
                alert = self._episode(rule, rule_state, group, window, event)
                if alert is not None:
                    alerts.append(alert)
            if was_late:
                rule_state.late += 1
            if held:
                sources[rule.id] = list(held)
        return alerts

    def _behind(self, group: GroupState, at: datetime) -> datetime | None:
        """The group watermark (or decided window end) an event is behind, if it is late."""
        watermark = group.max_t - self.settings.allowance
        if at < watermark:
            return watermark
        if group.closed_until is not None and at <= group.closed_until:
            return group.closed_until
        return None

    def _grouped(
        self,
        rule: CorrelationRule,
        refs: Sequence[str],
        sources: Mapping[str, Sequence[Derived | None]],
        view: FieldView | None,
        rule_state: RuleState,
    ) -> dict[str, _Pending]:
        groups: dict[str, _Pending] = {}
        ungrouped = False
        for ref in refs:
            for derived in sources[ref]:
                fields: dict[str, str] = {}
                for name in rule.group_by:
                    value = field_value(rule.field_for(name, ref), derived, view)
                    if value is None:
                        break
                    fields[name] = value
                else:
                    key = "\x1f".join(v.lower() for v in fields.values())
                    pending = groups.setdefault(key, _Pending(fields))
                    pending.rules.append(ref)
                    if pending.value is None:
                        pending.value = entry_value(rule, ref, derived, view)
                    continue
                ungrouped = True
        if ungrouped and not groups:
            rule_state.ungrouped += 1
        return groups

    def _insert(self, rule: CorrelationRule, key: str, group: GroupState, entry: WindowEntry) -> tuple[int, int] | None:
        """Insert in time order; for conditions decided at events, the first window (start, stop) that
        holds among those the entry belongs to (the ones ending at it or at a later event within span)."""
        entries = group.entries
        span = rule.timespan
        running_key = (rule.id, key)
        lo, hi = bisect_left(entries, entry.t, key=entry_time), bisect_right(entries, entry.t, key=entry_time)
        if entry.event_id is not None and any(e.event_id == entry.event_id for e in entries[lo:hi]):
            return None  # the same event delivered again (at-least-once)
        entries.insert(hi, entry)
        group.touched = self._state.last_tick or entry.t
        if entry.t > group.max_t:
            group.max_t = entry.t
            if not rule.condition.at_close:  # no event the group still accepts reaches these
                hi -= self._trim(running_key, entries, entry.t - self.settings.allowance - span)
        if len(entries) > self.settings.max_entries:  # a flood: bounded memory, counted, windows undercount
            overflow = len(entries) - self.settings.max_entries
            self._rule_state(rule.id).dropped += overflow
            hi -= self._drop(running_key, entries, overflow)
            if hi < 0:
                return None  # the entry itself was the oldest
        if rule.condition.at_close:
            return None
        if hi == len(entries) - 1:  # in time order: move the running window
            running = self._running.get(running_key)
            if running is None:
                start = bisect_left(entries, entry.t - span, key=entry_time)
                running = self._running[running_key] = RunningWindow.build(rule, entries, start)
            else:
                running.add(rule, entry)
                while entries[running.start].t < entry.t - span:
                    running.remove(rule, entries[running.start])
                    running.start += 1
            measured = running.measure(rule, entries)
            held = measured is not None and rule.condition.holds(measured)
            return (running.start, len(entries)) if held else None
        self._running.pop(running_key, None)  # out of order: evaluate the windows it joined from scratch
        for stop in range(hi + 1, len(entries) + 1):
            end = entries[stop - 1].t
            if end - entry.t > span:
                break
            start = bisect_left(entries, end - span, key=entry_time)
            measured = measure(rule, entries, start, stop)
            if measured is not None and rule.condition.holds(measured):
                return start, stop
        return None

    def _trim(self, running_key: tuple[str, str], entries: list[WindowEntry], horizon: datetime) -> int:
        """Drop the entries before `horizon`; how many."""
        return self._drop(running_key, entries, bisect_left(entries, horizon, key=entry_time))

    def _drop(self, running_key: tuple[str, str], entries: list[WindowEntry], cut: int) -> int:
        """Drop the `cut` oldest entries, keeping the running window in step."""
        if not cut:
            return 0
        del entries[:cut]
        running = self._running.get(running_key)
        if running is not None and cut <= running.start:  # only entries before its window went
            running.start -= cut
        elif running is not None:
            del self._running[running_key]
        return cut

    def _collect(self, rule: CorrelationRule, rule_state: RuleState, now: datetime) -> None:
        """Forget groups idle (no event) for allowance + timespan on the clock: their windows and
        episodes are over. At-close groups go once their windows are decided."""
        idle = now - self.settings.allowance - rule.timespan
        for key, group in list(rule_state.groups.items()):
            if group.touched < idle and not (rule.condition.at_close and group.entries):
                del rule_state.groups[key]
                self._running.pop((rule.id, key), None)

    def _close(self, rule: CorrelationRule, rule_state: RuleState, now: datetime) -> list[AlertDraft]:
        """Decide the at-close windows that end before the group's watermark, or before the clock's
        (`now - allowance`) when the group has had no event for `allowance`."""
        alerts: list[AlertDraft] = []
        allowance, span = self.settings.allowance, rule.timespan
        for group in list(rule_state.groups.values()):
            limit = group.max_t - allowance
            if now - group.touched > allowance:
                limit = max(limit, now - allowance)
            entries = group.entries
            while entries and entries[0].t + span < limit:
                end = entries[0].t + span
                stop = bisect_right(entries, end, key=entry_time)
                measured = measure(rule, entries, 0, stop)
                if measured is not None and rule.condition.holds(measured):
                    alert = self._episode(rule, rule_state, group, (0, stop), None)
                    alerts += [alert] if alert is not None else []
                    alerts += self._apply({rule.id: [group.fields]}, entries[stop - 1].t, None, None, None, [])
                del entries[:stop]
                group.closed_until = end
        return alerts

    def _episode(
        self,
        rule: CorrelationRule,
        rule_state: RuleState,
        group: GroupState,
        window: tuple[int, int],
        event: EcsEvent | None,
    ) -> AlertDraft | None:
        held_at = group.entries[window[1] - 1].t
        last = group.episode_last
        group.episode_last = held_at if last is None or held_at > last else last
        if last is not None and abs(held_at - last) <= rule.timespan:
            return None  # the same episode: alerted already
        if self.correlations.suppresses(rule.id):
            return None  # only feeds the correlations built on it
        rule_state.alerts += 1
        return self._draft(rule, group, group.entries[window[0] : window[1]], event)

    def _rule_state(self, rule_id: str) -> RuleState:
        found = self._state.rules.get(rule_id)
        if found is None:
            found = self._state.rules[rule_id] = RuleState()
        return found

    # --- alerts -------------------------------------------------------------------------------------

    def _draft(
        self, rule: CorrelationRule, group: GroupState, entries: Sequence[WindowEntry], event: EcsEvent | None
    ) -> AlertDraft:
        measured = measure(rule, entries, 0, len(entries))
        shown = ", ".join(f"{k}={v}" for k, v in group.fields.items()) or "all events"
        key = "|".join(f"{norm_field(k)}={v.lower()}" for k, v in group.fields.items())
        span = span_text(rule.timespan)
        value = f"{measured:g}" if measured is not None else "-"
        return AlertDraft(
            rule=RuleRef(id=rule.id, version=rule.version, title=rule.title, kind=DetectorKind.CORRELATION),
            severity=Severity.of(rule.level),
            tags=list(rule.tags),
            entity=entity_of(group.fields, event, rule),
            dedup_key=f"{rule.id}|{key}",
            event_ids=[e.event_id for e in entries if e.event_id][: self.settings.max_event_ids],
            event_count=len(entries),
            first_seen=entries[0].t,
            last_seen=entries[-1].t,
            summary=Summary.model_validate(
                {
                    "en": f"{rule.title}: {rule.describe()} held for {shown} ({len(entries)} events, value {value})",
                    "zh-CN": f"关联规则「{rule.title}」命中：{shown}，{span} 内 {len(entries)} 个事件"
                    f"（{rule.type.value} {rule.condition}，实测 {value}）",
                }
            ),
            playbook=None,
            context={
                "correlation_type": rule.type.value,
                "condition": str(rule.condition),
                "timespan_seconds": int(rule.timespan.total_seconds()),
                "value": measured,
                **{f"group.{k}": v for k, v in group.fields.items()},
            },
        )
