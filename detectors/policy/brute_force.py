"""Brute force and password spraying (policy rule 4: overreach; ATT&CK T1110), per user and per source.

Failures are counted in a sliding window per account and per source address:
- `brute-force-success`: at least `failures` failures then a success for the same key inside the
  window: the guess worked (critical). A success that arrives before its (late) failures is kept and
  re-judged when they come, so out-of-order delivery does not hide it;
- `brute-force`: `attempts` failures in the window without a success (an attack in progress);
- `password-spray`: one source failing for `spray_users` distinct accounts inside the window.

sshd logs one guess as several lines ("Invalid user", PAM "authentication failure", "Failed password");
only the sshd `Failed ...` line counts, so thresholds are in guesses, not lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from core.models.alert import AlertDraft, EntityKind, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import (
    Finding,
    PolicyDetector,
    PolicyRule,
    auth_outcome,
    entity,
    event_id,
    program,
    source_ip,
    user_of,
)
from detectors.policy.window import Cooldown, SlidingWindow, WindowItem

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


class BruteForceConfig(BaseModel):
    window: timedelta = timedelta(minutes=10)
    lateness: timedelta = timedelta(minutes=5)
    failures: int = Field(default=5, ge=1, description="failures before a success that make it suspicious")
    attempts: int = Field(default=20, ge=1, description="failures alone that make a brute-force alert")
    spray_users: int = Field(default=10, ge=2)
    suppress: timedelta = timedelta(hours=1)
    # Lines a program writes in addition to the one line per guess that counts.
    companion_actions: dict[str, list[str]] = Field(default_factory=lambda: {
        "sshd": ["ssh_invalid_user", "ssh_userauth_request", "pam_check_pass", "pam_auth_failure",
                 "ssh_too_many_auth_failures", "ssh_max_auth_attempts", "ssh_auth_timeout"],
    })  # fmt: skip


class BruteForceState(BaseModel):
    failures: dict[str, SlidingWindow] = Field(default_factory=dict)  # "user:x" / "ip:y"
    successes: dict[str, SlidingWindow] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    late: int = 0


class BruteForceDetector(PolicyDetector[BruteForceState]):
    name = "policy.brute_force"
    keyed_by = ("user", "source.ip")
    state_model = BruteForceState

    def __init__(self, config: BruteForceConfig | None = None) -> None:
        super().__init__()
        self.config = config or BruteForceConfig()

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        outcome = auth_outcome(event)
        if outcome is None or self._companion(event):
            return []
        user, ip = user_of(event), source_ip(event)
        keys = [k for k in (f"user:{user}" if user else None, f"ip:{ip}" if ip else None) if k]
        item = WindowItem(ts=event.timestamp, value=_weight(event), key=user or "", event_id=event_id(event))
        cfg, alerts = self.config, []
        for key in keys:
            store = self.state.failures if outcome == "failure" else self.state.successes
            if not store.setdefault(key, SlidingWindow()).add(item, cfg.window, cfg.lateness):
                self.state.late += 1
                continue
            alerts += self._judge_successes(key, event)
            if outcome == "failure":
                alerts += self._judge_failures(key, event)
        return alerts

    def _companion(self, event: EcsEvent) -> bool:
        actions = self.config.companion_actions.get(program(event) or "", [])
        return (event.event.action or "") in actions

    def _judge_successes(self, key: str, event: EcsEvent) -> list[AlertDraft]:
        """Every success in the key's window with enough failures before it (handles late failures)."""
        wins, fails = self.state.successes.get(key), self.state.failures.get(key)
        if wins is None or fails is None or not fails.items:
            return []
        cfg, alerts = self.config, []
        for win in [w for w in wins.items if w.ts >= fails.items[0].ts]:
            before = [i for i in fails.span_items(win.ts, cfg.window) if i.ts <= win.ts]
            count = int(sum(i.value for i in before))
            if count < cfg.failures or not self.state.cooldown.ready(f"s|{key}", win.ts, cfg.suppress):
                continue
            kind, value = key.split(":", 1)
            alerts.append(Finding(
                SUCCESS, entity(_kind(kind), value), [event],
                en=f"successful logon for {key} after {count} failures within {_minutes(cfg.window)} min",
                zh=f"{key} 在 {_minutes(cfg.window)} 分钟内失败 {count} 次后登录成功，疑似暴力破解得手",
                dedup=key, event_ids=[*(i.event_id for i in before), win.event_id],
                context={"failures": count, "window_s": int(cfg.window.total_seconds()),
                         "success_at": win.ts.isoformat(), "users": _users(before)},
            ).alert())  # fmt: skip
            fails.items = [i for i in fails.items if i.ts > win.ts]  # those failures are accounted for
        return alerts

    def _judge_failures(self, key: str, event: EcsEvent) -> list[AlertDraft]:
        cfg, alerts = self.config, []
        items = self.state.failures[key].span_items(event.timestamp, cfg.window)
        count = int(sum(i.value for i in items))
        kind, value = key.split(":", 1)
        ids = [i.event_id for i in items]
        if count >= cfg.attempts and self.state.cooldown.ready(f"a|{key}", event.timestamp, cfg.suppress):
            alerts.append(Finding(
                ATTEMPT, entity(_kind(kind), value), [event],
                en=f"{count} failed logons for {key} within {_minutes(cfg.window)} min",
                zh=f"{key} 在 {_minutes(cfg.window)} 分钟内登录失败 {count} 次，疑似暴力破解",
                dedup=key, event_ids=ids, context={"failures": count, "users": _users(items)},
            ).alert())  # fmt: skip
        users = {i.key for i in items if i.key}
        spray_key = f"p|{key}"
        if (
            kind == "ip"
            and len(users) >= cfg.spray_users
            and self.state.cooldown.ready(spray_key, event.timestamp, cfg.suppress)
        ):
            alerts.append(Finding(
                SPRAY, entity("ip", value), [event],
                en=f"{value} failed logons for {len(users)} different accounts within {_minutes(cfg.window)} min",
                zh=f"{value} 在 {_minutes(cfg.window)} 分钟内对 {len(users)} 个不同账号登录失败，疑似密码喷洒",
                dedup=key, event_ids=ids, context={"accounts": len(users), "users": _users(items)},
            ).alert())  # fmt: skip
        return alerts

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        horizon = now - self.config.window - self.config.lateness
        for store in (self.state.failures, self.state.successes):
            for key in [k for k, w in store.items() if w.newest is None or w.newest < horizon]:
                del store[key]
        self.state.cooldown.expire(now, self.config.suppress)
        return []


def _weight(event: EcsEvent) -> float:
    """syslog's "message repeated N times" stands for N guesses."""
    repeat = event.labels.get("repeat_count", "1")
    return float(repeat) if repeat.isdigit() else 1.0


def _kind(kind: str) -> EntityKind:
    return "ip" if kind == "ip" else "user"


def _users(items: list[WindowItem]) -> str:
    names = sorted({i.key for i in items if i.key})
    return ",".join(names[:20]) + (",…" if len(names) > 20 else "")


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)
