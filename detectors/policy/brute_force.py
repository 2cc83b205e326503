"""Brute force and password spraying (policy rule 4: overreach; ATT&CK T1110), per user and per source.

Failures are counted in a sliding window per account and per source address:
- `brute-force-success`: at least `failures` failures then a success for the same key inside the
  window: the guess worked (critical);
- `brute-force`: `attempts` failures in the window without a success (an attack in progress);
- `password-spray`: one source failing for `spray_users` distinct accounts inside the window.

Decided on event time behind a watermark, as the correlation engine does (`detectors/sigma/correlation.py`):
each key has its own watermark, its newest event time - `lateness`. An event at or after it waits in the
key's `pending` list; events are decided one by one in event-time order (a failure before a success
of the same instant, then by event id) once the watermark has passed them, or on the clock once the
key had no event for `lateness` (ticks, else event time), so a key that went quiet is decided too.
So any arrival order within the allowance gives the alerts of time order; the price is that an
alert comes up to `lateness` (in event time, or on the clock) after the event that completes it,
hence a default of 2 minutes rather than the correlation engine's 5. An event behind the watermark
(or not after the last one decided) is late: counted in `late` and judged at once, out of order
(best effort: the global lane reading one partition ahead of another delivers such events, and
dropping them would lose more than judging them late); older than window + lateness, it is
`dropped`, never binned.

The wait is bounded in events too, as stream processors bound out-of-orderness: a key holds at most
`max_pending` events. A spraying burst (thousands of failures a second from one address) would
otherwise keep every event of the last `lateness` in memory and in each checkpoint; beyond the cap
the key's oldest pending events are decided at once, in event-time order, and counted in `early`.
That moves the key's decided mark forward, so an event arriving later behind it is `late` (judged at
once). A stream that never fills the cap is decided exactly as without it.

sshd logs one guess as several lines ("Invalid user", PAM "authentication failure", "Failed password");
only the sshd `Failed ...` line counts, so thresholds are in guesses, not lines.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, EntityKind, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    auth_outcome,
    entity,
    entry,
    event_id,
    program,
    source_ip,
    user_of,
)
from detectors.policy.window import BinnedWindow, Cooldown, WindowedConfig, WindowItem

_TAGS = ("attack.credential-access", "attack.t1110")
SUCCESS = PolicyRule(
    "vigil-policy-brute-force-success",
    "Logon succeeded after repeated failures",
    "brute-force",
    Severity.CRITICAL,
    (*_TAGS, "attack.t1110.001"),
    "4",
)
ATTEMPT = PolicyRule(
    "vigil-policy-brute-force",
    "Repeated logon failures (brute force)",
    "brute-force",
    Severity.HIGH,
    (*_TAGS, "attack.t1110.001"),
    "4",
)
SPRAY = PolicyRule(
    "vigil-policy-password-spray",
    "One source failing logons for many accounts",
    "brute-force",
    Severity.HIGH,
    (*_TAGS, "attack.t1110.003"),
    "4",
)


class BruteForceConfig(WindowedConfig):
    window: timedelta = timedelta(minutes=10)
    lateness: timedelta = timedelta(minutes=2)  # the watermark's allowance, see the module docstring
    failures: int = Field(default=5, ge=1, description="failures before a success that make it suspicious")
    attempts: int = Field(default=20, ge=1, description="failures alone that make a brute-force alert")
    spray_users: int = Field(default=10, ge=2)
    suppress: timedelta = timedelta(hours=1)
    # The busiest key of the real data (loghub OpenSSH, a root brute force) holds 62 in its 2 minutes;
    # 5,000 is a key at 40 events/s for the whole allowance, and about 0.7 MB of checkpoint (~145 bytes each).
    max_pending: int = Field(default=5_000, ge=1, description="events one key holds for its watermark")
    # Lines a program writes in addition to the one line per guess that counts.
    companion_actions: dict[str, list[str]] = Field(default_factory=lambda: {
        "sshd": ["ssh_invalid_user", "ssh_userauth_request", "pam_check_pass", "pam_auth_failure",
                 "ssh_too_many_auth_failures", "ssh_max_auth_attempts", "ssh_auth_timeout"],
    })  # fmt: skip


class PendingAuth(BaseModel):
    """One logon outcome waiting for its key's watermark."""

    failure: bool
    item: WindowItem

    @property
    def order(self) -> tuple[datetime, bool, str]:
        return self.item.ts, not self.failure, self.item.event_id


class KeyWatermark(BaseModel):
    pending: list[PendingAuth] = Field(default_factory=list)  # in `order`
    newest: AwareDatetime | None = None  # the key's latest event time
    decided: AwareDatetime | None = None  # the latest event time decided
    touched: AwareDatetime | None = None  # clock (last tick, else event time) of the key's latest event

    def late(self, ts: datetime, lateness: timedelta) -> bool:
        return (self.newest is not None and ts < self.newest - lateness) or (
            self.decided is not None and ts <= self.decided
        )


class BruteForceState(BaseModel):
    failures: dict[str, BinnedWindow] = Field(default_factory=dict)  # "user:x" / "ip:y"
    successes: dict[str, BinnedWindow] = Field(default_factory=dict)
    open: dict[str, KeyWatermark] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    last_tick: AwareDatetime | None = None
    late: int = 0  # behind the watermark: judged out of order
    dropped: int = 0  # older than window + lateness: not judged
    early: int = 0  # decided before the watermark passed them: their key held `max_pending` events


class BruteForceDetector(PolicyDetector[BruteForceState]):
    name = "policy.brute_force"
    keyed_by = ("user", "source.ip")
    state_model = BruteForceState

    def __init__(self, config: BruteForceConfig | None = None) -> None:
        super().__init__()
        self.config = config or BruteForceConfig()
        self._spec = self.config.spec

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        outcome = auth_outcome(event)
        if outcome is None or self._companion(event):
            return []
        user, ip = user_of(event), source_ip(event)
        keys = [k for k in (f"user:{user}" if user else None, f"ip:{ip}" if ip else None) if k]
        item = WindowItem(ts=event.timestamp, value=_weight(event), key=user or "", event_id=event_id(event))
        pending = PendingAuth(failure=outcome == "failure", item=item)
        lateness, alerts = self.config.lateness, []
        for key in keys:
            mark = entry(self.state.open, key, KeyWatermark)
            if mark.late(item.ts, lateness):
                self.state.late += 1
                if mark.newest is not None and item.ts < mark.newest - self.config.window - lateness:
                    self.state.dropped += 1
                else:
                    alerts += self._decide(key, pending)
                continue
            insort(mark.pending, pending, key=lambda p: p.order)
            mark.newest = max(mark.newest, item.ts) if mark.newest else item.ts
            mark.touched = self.state.last_tick or item.ts
            alerts += self._release(key, mark, mark.newest - lateness)
        return alerts

    def _release(self, key: str, mark: KeyWatermark, watermark: datetime | None) -> list[AlertDraft]:
        """Decide, in event-time order, the key's pending events before `watermark` (None: all), and
        the oldest of the rest beyond `max_pending`."""
        waiting = mark.pending
        cut = len(waiting) if watermark is None else bisect_left(waiting, watermark, key=lambda p: p.item.ts)
        if (excess := len(waiting) - cut - self.config.max_pending) > 0:
            self.state.early += excess
            cut += excess
        ready = waiting[:cut]
        del waiting[:cut]
        alerts: list[AlertDraft] = []
        for pending in ready:
            alerts += self._decide(key, pending)
            mark.decided = pending.item.ts
        return alerts

    def _decide(self, key: str, pending: PendingAuth) -> list[AlertDraft]:
        item = pending.item
        store = self.state.failures if pending.failure else self.state.successes
        if not entry(store, key, BinnedWindow).add(item.ts, self._spec, item.value, item.event_id, item.key):
            self.state.dropped += 1  # a late event older than the window's own horizon
            return []
        return self._judge_failures(key, item) if pending.failure else self._judge_success(key, item)

    def _companion(self, event: EcsEvent) -> bool:
        actions = self.config.companion_actions.get(program(event) or "", [])
        return (event.event.action or "") in actions

    def _judge_success(self, key: str, win: WindowItem) -> list[AlertDraft]:
        """A success with enough failures in the window before it (all decided: they come first)."""
        fails = self.state.failures.get(key)
        if fails is None:
            return []
        cfg = self.config
        before = fails.span(win.ts, self._spec)
        count = int(before.total)
        if count < cfg.failures or not self.state.cooldown.ready(f"s|{key}", win.ts, cfg.suppress):
            return []
        kind, value = key.split(":", 1)
        alert = Finding(
            SUCCESS, entity(_kind(kind), value), [], span=(win.ts, win.ts),
            en=f"successful logon for {key} after {count} failures within {_minutes(cfg.window)} min",
            zh=f"{key} 在 {_minutes(cfg.window)} 分钟内失败 {count} 次后登录成功，疑似暴力破解得手",
            dedup=key, event_ids=[*before.event_ids(), win.event_id], count=before.count + 1,
            context={"failures": count, "window_s": int(cfg.window.total_seconds()),
                     "success_at": win.ts.isoformat(), "users": _users(before.keys())},
        ).alert()  # fmt: skip
        fails.forget_through(win.ts, self._spec)  # those failures are accounted for
        return [alert]

    def _judge_failures(self, key: str, fail: WindowItem) -> list[AlertDraft]:
        cfg, alerts, at = self.config, [], fail.ts
        kind, value = key.split(":", 1)
        window, cooldown = self.state.failures[key], self.state.cooldown
        # No span holds more guesses or accounts than the window: it is counted (linear in its bins)
        # only when an alert it could raise is neither below that bound nor suppressed.
        attempt = window.held_total >= cfg.attempts and not cooldown.blocked(f"a|{key}", at, cfg.suppress)
        spray = (
            kind == "ip" and window.held_keys >= cfg.spray_users and not cooldown.blocked(f"p|{key}", at, cfg.suppress)
        )
        if not attempt and not spray:
            return []
        span = window.span(at, self._spec)
        count, users, ids = int(span.total), span.keys(), span.event_ids()
        if attempt and count >= cfg.attempts and cooldown.ready(f"a|{key}", at, cfg.suppress):
            alerts.append(Finding(
                ATTEMPT, entity(_kind(kind), value), [], span=(at, at),
                en=f"{count} failed logons for {key} within {_minutes(cfg.window)} min",
                zh=f"{key} 在 {_minutes(cfg.window)} 分钟内登录失败 {count} 次，疑似暴力破解",
                dedup=key, event_ids=ids, count=span.count, context={"failures": count, "users": _users(users)},
            ).alert())  # fmt: skip
        if spray and len(users) >= cfg.spray_users and cooldown.ready(f"p|{key}", at, cfg.suppress):
            alerts.append(Finding(
                SPRAY, entity("ip", value), [], span=(at, at),
                en=f"{value} failed logons for {len(users)} different accounts within {_minutes(cfg.window)} min",
                zh=f"{value} 在 {_minutes(cfg.window)} 分钟内对 {len(users)} 个不同账号登录失败，疑似密码喷洒",
                dedup=key, event_ids=ids, count=span.count, context={"accounts": len(users), "users": _users(users)},
            ).alert())  # fmt: skip
        return alerts

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        """Decide the keys quiet for `lateness` on the clock; forget windows past window + lateness."""
        self.state.last_tick = now
        cfg, alerts = self.config, []
        for key, mark in list(self.state.open.items()):
            quiet = mark.touched is not None and mark.touched <= now - cfg.lateness
            if mark.pending and quiet:
                alerts += self._release(key, mark, None)
            if not mark.pending and mark.newest is not None and mark.newest < now - cfg.window - cfg.lateness:
                del self.state.open[key]  # late-judging needs it no longer: its windows are gone too
        horizon = now - cfg.window - cfg.lateness
        for store in (self.state.failures, self.state.successes):
            for key in [k for k, w in store.items() if w.newest is None or w.newest < horizon]:
                del store[key]
        self.state.cooldown.expire(now, cfg.suppress)
        return alerts


def _weight(event: EcsEvent) -> float:
    """syslog's "message repeated N times" stands for N guesses."""
    repeat = event.labels.get("repeat_count", "1")
    return float(repeat) if repeat.isdigit() else 1.0


def _kind(kind: str) -> EntityKind:
    return "ip" if kind == "ip" else "user"


def _users(keys: set[str]) -> str:
    names = sorted(keys)
    return ",".join(names[:20]) + (",…" if len(names) > 20 else "")


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
