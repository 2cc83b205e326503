"""Matches and detector drafts → alerts: dedup, suppression windows, per-rule rate caps.

Pure logic, no I/O; the stream worker, the forensic replay and the hunt all run this same code, so
the same events give the same alerts (same ids) whichever path saw them.

- **Dedup.** A one-event Sigma match becomes a draft with dedup key `rule id | entity`; drafts of
  stateful detectors bring their own key. Every draft goes through the same path.
- **Suppression.** A draft whose key has an open alert anchored within the rule's suppression window
  (default 10 min, per-rule overrides) merges into it: same id, more events, later `last_seen`. The
  window is measured in *event time* from the alert's first event (its id anchor), so a replay of last
  week's file and the live stream group the same way, and a late event still finds its alert.
- **Rate cap.** Past `rate_cap` new alerts of one rule within `rate_window` (event time), further new
  alerts of that rule merge into ONE "alert flood" meta-alert (`DetectorKind.META`, entity `rule:<id>`)
  until the rule quietens for a whole window. Across the partition lane's pipelines (one per partition
  of `vigil.events`, `partitions` of them) the cap holds by a budget, not by coordination: each
  pipeline allows `ceil(rate_cap / partitions)`, so a rule flooding on every partition raises at most
  about `rate_cap` alerts in all; and the flood meta-alert's id is the rule + the rate window (aligned
  on event time) its flood began in, the same in every pipeline, so the alert store merges the
  floods of all partitions into ONE meta-alert per window. Why not a shared counter: the pipelines are
  pure and checkpointed with their partition; a count in Elasticsearch would make every new alert
  wait for a round trip and lose exactness on every restart anyway. The cost: a rule flooding on one
  partition only is capped at its budget, stricter than `rate_cap`.
- **Emission.** A new alert is returned at once (latency matters); merges only mark it dirty and
  `on_tick` returns the latest version of each dirty alert, so a 10,000-event burst is one alert and a
  handful of updates on `vigil.alerts`, not 10,000 messages.
- **State.** `snapshot()` / `restore()` like a `Detector`. A window is dropped when nothing touched it
  for its suppression + `lateness` by the clock (in a replay the clock is the event time). Expiry follows
  the clock, not the largest event time seen, because one partition mixes sources whose times differ
  (an old file imported beside live logs must not close the live windows, nor the reverse).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.models.alert import (
    Alert,
    AlertDraft,
    AlertOrigin,
    DetectorKind,
    EntityRef,
    RuleRef,
    Severity,
    Summary,
    alert_id,
)
from core.models.ecs import EcsEvent
from detectors.playbook_hints import playbook_for
from detectors.sigma.engine import RuleMatch
from detectors.sigma.loader import RuleInfo

FLOOD_RULE_ID = "vigil-meta-alert-flood"
FLOOD_RULE_VERSION = "1"

_SEVERITY_ZH = {"informational": "提示", "low": "低危", "medium": "中危", "high": "高危", "critical": "严重"}
_ENTITY_ZH = {"user": "用户", "host": "主机", "ip": "IP", "source": "日志源", "process": "进程", "file": "文件",
              "rule": "规则"}  # fmt: skip


class AlertingSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    suppression: timedelta = timedelta(minutes=10)
    suppression_by_rule: dict[str, timedelta] = Field(default_factory=dict)
    rate_cap: int = Field(default=100, ge=1, description="new alerts per rule per rate_window before a flood alert")
    rate_window: timedelta = timedelta(hours=1)
    partitions: int = Field(default=1, ge=1, description="pipelines sharing the cap (the partition lane's)")
    max_event_ids: int = Field(default=100, ge=1, description="event ids stored per alert (the count keeps going)")
    lateness: timedelta = timedelta(minutes=5)

    def suppression_for(self, rule_id: str) -> timedelta:
        return self.suppression_by_rule.get(rule_id, self.suppression)

    @property
    def budget(self) -> int:
        """New alerts per rule and rate window this pipeline may raise: its share of the cap."""
        return math.ceil(self.rate_cap / self.partitions)

    def rate_bucket(self, ts: datetime) -> datetime:
        """The start of the event-time rate window holding `ts` (aligned on the epoch): the flood id's anchor."""
        step = self.rate_window.total_seconds()
        return datetime.fromtimestamp(math.floor(ts.timestamp() / step) * step, UTC)


class OpenAlert(BaseModel):
    alert: Alert
    anchor: AwareDatetime  # first_seen when it was raised: the id anchor and the window start
    touched: AwareDatetime  # the clock when it last raised or merged (expiry)
    dirty: bool = False  # merged since it was last emitted


class AlertingState(BaseModel):
    open: dict[str, list[OpenAlert]] = Field(default_factory=dict)  # dedup key → open windows
    # rule → event times of its latest `rate_cap` alerts: bounded by construction, never expired
    rates: dict[str, list[AwareDatetime]] = Field(default_factory=dict)
    floods: dict[str, OpenAlert] = Field(default_factory=dict)  # rule → its open flood meta-alert
    emitted: int = 0
    merged: int = 0
    flooded: int = 0


class Alerting:
    """One instance per stream partition (or per replay): its state is that partition's checkpoint."""

    name = "alerting"

    def __init__(self, settings: AlertingSettings, rules: Mapping[str, RuleInfo], origin: AlertOrigin) -> None:
        self.settings = settings
        self.rules = rules
        self.origin = origin
        self.state = AlertingState()

    # --- input ----------------------------------------------------------------------------------------

    def on_match(self, match: RuleMatch, event: EcsEvent, now: datetime) -> list[Alert]:
        return self.on_draft(self.sigma_draft(match, event), now)

    def on_draft(self, draft: AlertDraft, now: datetime) -> list[Alert]:
        if (window := self._window_for(draft)) is not None:
            self._merge(window, draft, now)
            return []
        if draft.rule.kind is not DetectorKind.META and self._over_cap(draft):
            return self._flood(draft, now)
        alert = Alert.of(draft, origin=self.origin, raised_at=now)
        window = OpenAlert(alert=alert, anchor=draft.first_seen, touched=now)
        self.state.open.setdefault(draft.dedup_key, []).append(window)
        rates = self.state.rates.setdefault(draft.rule.id, [])
        rates.append(draft.first_seen)
        del rates[: -self.settings.budget]  # only the latest `budget` can decide the next one
        self.state.emitted += 1
        return [alert]

    def on_tick(self, now: datetime) -> list[Alert]:
        """The latest version of every alert merged since it was emitted; expired windows dropped."""
        out = [w.alert for w in self._windows() if w.dirty]
        for window in self._windows():
            window.dirty = False
        self._expire(now)
        return out

    def snapshot(self) -> AlertingState:
        return self.state

    def restore(self, state: dict[str, object]) -> None:
        self.state = AlertingState.model_validate(state)

    # --- Sigma matches --------------------------------------------------------------------------------

    def sigma_draft(self, match: RuleMatch, event: EcsEvent) -> AlertDraft:
        info = self.rules.get(match.rule_id)
        entity = _entity(event)
        event_id = match.event_id or event.event.id
        logsource = (info.logsource.category, info.logsource.service) if info else ()
        return AlertDraft(
            rule=RuleRef(id=match.rule_id, version=info.version if info else None, title=match.title,
                         kind=DetectorKind.SIGMA),
            severity=Severity.of(match.level),
            tags=list(match.tags),
            entity=entity,
            dedup_key=f"{match.rule_id}|{entity.key}",
            event_ids=[event_id] if event_id else [],
            event_count=1,
            first_seen=event.timestamp,
            last_seen=event.timestamp,
            summary=sigma_summary(match.title, entity, Severity.of(match.level), 1),
            playbook=playbook_for(match.tags, logsource),
            context=_event_context(event),
        )  # fmt: skip

    # --- windows --------------------------------------------------------------------------------------

    def _window_for(self, draft: AlertDraft) -> OpenAlert | None:
        """The open alert of this key whose anchor is nearest the draft, if within the suppression."""
        reach = self.settings.suppression_for(draft.rule.id)
        candidates = [w for w in self.state.open.get(draft.dedup_key, ()) if abs(draft.first_seen - w.anchor) < reach]
        return min(candidates, key=lambda w: abs(draft.first_seen - w.anchor), default=None)

    def _merge(self, window: OpenAlert, draft: AlertDraft, now: datetime) -> None:
        alert = window.alert
        known = set(alert.event_ids)
        fresh = [e for e in draft.event_ids if e not in known]
        if draft.event_ids and not fresh:
            return  # the same event delivered again (at-least-once upstream): nothing new
        count = alert.event_count + (len(fresh) if draft.event_ids else draft.event_count)
        severity = max(alert.severity, draft.severity, key=lambda s: s.rank)
        update: dict[str, object] = {
            "event_count": count,
            "event_ids": (alert.event_ids + fresh)[: self.settings.max_event_ids],
            "first_seen": min(alert.first_seen, draft.first_seen),
            "last_seen": max(alert.last_seen, draft.last_seen),
            "severity": severity,
            "context": {**alert.context, **draft.context},
        }
        if alert.rule.kind is DetectorKind.SIGMA:
            update["summary"] = sigma_summary(alert.rule.title, alert.entity, severity, count)
        elif alert.rule.kind is DetectorKind.META:
            update["summary"] = flood_summary({**alert.context, **draft.context}, self.settings, count)
        else:
            update["summary"] = draft.summary
        window.alert = alert.model_copy(update=update)
        window.dirty = True
        window.touched = max(window.touched, now)
        self.state.merged += 1

    def _over_cap(self, draft: AlertDraft) -> bool:
        window = self.settings.rate_window
        recent = [t for t in self.state.rates.get(draft.rule.id, ()) if abs(draft.first_seen - t) < window]
        return len(recent) >= self.settings.budget

    def _flood(self, draft: AlertDraft, now: datetime) -> list[Alert]:
        self.state.flooded += 1
        flood = self.state.floods.get(draft.rule.id)
        if flood is not None and abs(draft.first_seen - flood.alert.last_seen) < self.settings.rate_window:
            suppressed = int(flood.alert.context.get("suppressed_alerts") or 0) + 1
            meta = self._flood_draft(draft, {**flood.alert.context, "suppressed_alerts": suppressed})
            self._merge(flood, meta, now)
            return []
        context: dict[str, str | int | float | bool | None] = {
            "rule_id": draft.rule.id, "rule_title": draft.rule.title, "cap": self.settings.rate_cap,
            "window_s": int(self.settings.rate_window.total_seconds()), "suppressed_alerts": 1,
        }  # fmt: skip
        meta = self._flood_draft(draft, context)
        anchor = self.settings.rate_bucket(meta.first_seen)  # every partition's flood of this window: one id
        alert = Alert.of(meta, origin=self.origin, raised_at=now)
        alert = alert.model_copy(update={"id": alert_id(FLOOD_RULE_ID, meta.dedup_key, anchor)})
        self.state.floods[draft.rule.id] = OpenAlert(alert=alert, anchor=meta.first_seen, touched=now)
        self.state.emitted += 1
        return [alert]

    def _flood_draft(self, draft: AlertDraft, context: Mapping[str, str | int | float | bool | None]) -> AlertDraft:
        severity = max(draft.severity, Severity.MEDIUM, key=lambda s: s.rank)
        return draft.model_copy(
            update={
                "rule": RuleRef(id=FLOOD_RULE_ID, version=FLOOD_RULE_VERSION, title="Alert flood",
                                kind=DetectorKind.META),
                "severity": severity,
                "entity": EntityRef(kind="rule", value=draft.rule.id),
                "dedup_key": f"flood|{draft.rule.id}",
                "event_ids": draft.event_ids[: self.settings.max_event_ids],
                "summary": flood_summary(context, self.settings, draft.event_count),
                "context": dict(context),
            }
        )  # fmt: skip

    def _expire(self, now: datetime) -> None:
        grace = self.settings.lateness
        for key, windows in list(self.state.open.items()):
            reach = self.settings.suppression_for(windows[0].alert.rule.id)
            kept = [w for w in windows if w.touched + reach + grace > now]
            if kept:
                self.state.open[key] = kept
            else:
                del self.state.open[key]
        for rule_id, flood in list(self.state.floods.items()):
            if flood.touched + self.settings.rate_window + grace <= now:
                del self.state.floods[rule_id]

    def _windows(self) -> Iterable[OpenAlert]:
        for windows in self.state.open.values():
            yield from windows
        yield from self.state.floods.values()


# --- text --------------------------------------------------------------------------------------------


def sigma_summary(title: str, entity: EntityRef, severity: Severity, count: int) -> Summary:
    events = "1 event" if count == 1 else f"{count} events"
    zh_entity = f"{_ENTITY_ZH.get(entity.kind, entity.kind)} {entity.value}"
    return _summary(
        f"{title} ({severity.value}) on {entity.kind} {entity.value}: {events}",
        f"检测到「{title}」（{_SEVERITY_ZH[severity.value]}）：{zh_entity}，共 {count} 个事件",
    )


def flood_summary(context: Mapping[str, object], settings: AlertingSettings, events: int) -> Summary:
    title, cap = context.get("rule_title"), settings.rate_cap
    minutes = int(settings.rate_window.total_seconds() // 60)
    suppressed = context.get("suppressed_alerts", 1)
    return _summary(
        f"Alert flood: rule '{title}' raised more than {cap} alerts in {minutes} min; "
        f"{suppressed} further alerts ({events} events) are merged here",
        f"告警风暴：规则「{title}」在 {minutes} 分钟内超过 {cap} 条告警，"
        f"后续 {suppressed} 条告警（{events} 个事件）合并于此",
    )


def _entity(event: EcsEvent) -> EntityRef:
    """The event's partition key as an entity; a key some other producer shaped oddly is recomputed."""
    try:
        return EntityRef.parse(event.vigil.entity or event.entity())
    except ValueError:
        return EntityRef.parse(event.entity())


def _summary(en: str, zh: str) -> Summary:
    return Summary.model_validate({"en": en, "zh-CN": zh})


def _event_context(event: EcsEvent) -> dict[str, str | int | float | bool | None]:
    """A few fields an analyst reads first; the full events are fetched by id."""
    out: dict[str, str | int | float | bool | None] = {"log_source": event.vigil.source}
    if event.host and (event.host.name or event.host.hostname):
        out["host"] = event.host.name or event.host.hostname
    if event.user and event.user.name:
        out["user"] = event.user.name
    if event.source and event.source.ip:
        out["source_ip"] = event.source.ip
    if event.process and (event.process.executable or event.process.name):
        out["process"] = event.process.executable or event.process.name
    return out
