"""Large uploads through the proxy (policy rule 5: sending company files out; ATT&CK T1048/T1567).

Bytes out are what the client sent: Proxifier's `close, N bytes sent` (`source.bytes`) and, for
squid, the request size when the `logformat` records it (`http.request.bytes`; the native format
logs only the reply size, so native squid lines carry no upload figure). One connection over
`single_bytes`, or `window_bytes` in the sliding window, per user (else host, else source).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from core.models.alert import AlertDraft, EntityRef, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import Finding, PolicyDetector, PolicyRule, entry, event_id
from detectors.policy.window import BinnedWindow, Cooldown, WindowedConfig

RULE = PolicyRule(
    "vigil-policy-proxy-upload",
    "Large upload through the proxy",
    "data-leak",
    Severity.HIGH,
    ("attack.exfiltration", "attack.t1048"),
    "5",
)


class UploadConfig(WindowedConfig):
    single_bytes: int = Field(default=100 * 1024**2, ge=1)
    window_bytes: int = Field(default=500 * 1024**2, ge=1)
    window: timedelta = timedelta(hours=1)
    lateness: timedelta = timedelta(minutes=10)
    suppress: timedelta = timedelta(hours=1)


class UploadState(BaseModel):
    windows: dict[str, BinnedWindow] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    late: int = 0


def bytes_out(event: EcsEvent) -> int | None:
    if event.event.dataset == "proxifier.log" and event.source and event.source.bytes is not None:
        return event.source.bytes
    if event.http and event.http.request and event.http.request.bytes is not None:
        return event.http.request.bytes
    return None


class ProxyUploadDetector(PolicyDetector[UploadState]):
    name = "policy.proxy_upload"
    keyed_by = ("entity",)
    state_model = UploadState

    def __init__(self, config: UploadConfig | None = None) -> None:
        super().__init__()
        self.config = config or UploadConfig()
        self._spec = self.config.spec

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        sent = bytes_out(event)
        if not sent:
            return []
        cfg = self.config
        who = EntityRef.parse(event.vigil.entity or event.entity())
        window = entry(self.state.windows, who.key, BinnedWindow)
        if not window.add(event.timestamp, self._spec, sent, event_id(event)):
            self.state.late += 1
            return []
        if sent < cfg.single_bytes and window.held_total < cfg.window_bytes:
            return []  # the span's total cannot reach the threshold either
        if self.state.cooldown.blocked(who.key, event.timestamp, cfg.suppress):
            return []  # nor could an alert be raised: the span (linear in its bins) need not be summed
        span = window.around(event.timestamp, self._spec)
        total = span.total
        if sent < cfg.single_bytes and total < cfg.window_bytes:
            return []
        if not self.state.cooldown.ready(who.key, event.timestamp, cfg.suppress):
            return []
        dest = (event.destination.domain or event.destination.ip) if event.destination else None
        app = event.process.name if event.process else None
        minutes = int(cfg.window.total_seconds() // 60)
        return [Finding(
            RULE, who, [event],
            en=f"{who.value} uploaded {total / 1024**2:.1f} MB through the proxy within {minutes} min"
               f" (last: {sent / 1024**2:.1f} MB to {dest})",
            zh=f"{who.value} 在 {minutes} 分钟内经代理上传 {total / 1024**2:.1f} MB"
               f"（最近一次 {sent / 1024**2:.1f} MB 至 {dest}），疑似外发数据",
            dedup=who.key, event_ids=span.event_ids(), count=span.count,
            context={"bytes": int(total), "last_bytes": sent, "destination": dest, "process": app},
        ).alert()]  # fmt: skip

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        horizon = now - self.config.window - self.config.lateness
        for key in [k for k, w in self.state.windows.items() if w.newest is None or w.newest < horizon]:
            del self.state.windows[key]
        self.state.cooldown.expire(now, self.config.suppress)
        return []
