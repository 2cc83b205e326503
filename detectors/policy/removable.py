"""Bulk writes to removable media (policy rule 5: copying controlled files; ATT&CK T1052.001), per host.

A media session opens when a host reports removable storage (kernel `usb-storage` / `Attached SCSI
removable disk`, udisks `Mounted /dev/sdb1 at /media/...`, Windows 6416 for a disk-class device) and
closes on unmount/unplug or after `session_ttl`. While it is open, file writes on that host under the
mount point (or, when no mount point is known, on a path matching `removable_paths`) are counted in a
sliding window; `min_files` distinct files or `min_bytes` bytes raise one alert per session.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.inventory import norm_path
from detectors.policy.common import Finding, PolicyDetector, PolicyRule, entity, event_id, has, host_of, user_of
from detectors.policy.window import BinnedWindow, WindowedConfig

RULE = PolicyRule(
    "vigil-policy-removable-media-copy",
    "Bulk copy to removable media",
    "data-leak",
    Severity.HIGH,
    ("attack.exfiltration", "attack.t1052.001"),
    "5",
)
OPEN_ACTIONS = ["removable-storage-mounted", "removable-storage-attached", "usb-mass-storage-detected"]
CLOSE_ACTIONS = ["removable-storage-unmounted", "usb-device-disconnected"]
DISK_CLASSES = ["diskdrive", "wpd", "volume", "usb", "cdrom"]


class RemovableConfig(WindowedConfig):
    window: timedelta = timedelta(minutes=10)
    lateness: timedelta = timedelta(minutes=5)
    session_ttl: timedelta = timedelta(hours=12)
    min_files: int = Field(default=50, ge=1)
    min_bytes: int = Field(default=500 * 1024**2, ge=1)
    removable_paths: str = r"^(?:[d-z]:/|/media/|/run/media/|/mnt/usb)"


class MediaSession(BaseModel):
    opened: AwareDatetime
    mounts: list[str] = Field(default_factory=list)
    device: str | None = None
    alerted: bool = False
    window: BinnedWindow = Field(default_factory=BinnedWindow)


class RemovableState(BaseModel):
    sessions: dict[str, MediaSession] = Field(default_factory=dict)
    late: int = 0


class RemovableMediaDetector(PolicyDetector[RemovableState]):
    name = "policy.removable_media"
    keyed_by = ("host",)
    state_model = RemovableState

    def __init__(self, config: RemovableConfig | None = None) -> None:
        super().__init__()
        self.config = config or RemovableConfig()
        self._removable = re.compile(self.config.removable_paths, re.IGNORECASE)
        self._spec = self.config.spec

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        host = host_of(event)
        if host is None:
            return []
        action = event.event.action or ""
        if action in OPEN_ACTIONS or self._disk_recognised(event):
            self._open(host, event)
            return []
        if action in CLOSE_ACTIONS:
            self.state.sessions.pop(host, None)
            return []
        session = self.state.sessions.get(host)
        if session is None or not has(event, "file", "creation", "change") or event.event.outcome == "failure":
            return []
        if event.timestamp - session.opened > self.config.session_ttl or event.timestamp < session.opened:
            return []
        path = event.file.path if event.file else None
        if not path or not self._on_media(session, path):
            return []
        return self._count(host, session, event, path)

    def _disk_recognised(self, event: EcsEvent) -> bool:
        cls = event.labels.get("device_class", "").lower()
        return event.event.action == "device-recognized" and any(c in cls for c in DISK_CLASSES)

    def _open(self, host: str, event: EcsEvent) -> None:
        session = self.state.sessions.get(host)
        if session is None or event.timestamp - session.opened > self.config.session_ttl:
            session = self.state.sessions[host] = MediaSession(opened=event.timestamp)
        mount = event.file.path if event.file and event.event.action == "removable-storage-mounted" else None
        if mount and norm_path(mount) not in session.mounts:
            session.mounts.append(norm_path(mount))
        desc = event.device.model.name if event.device and event.device.model else None
        session.device = desc or session.device

    def _on_media(self, session: MediaSession, path: str) -> bool:
        target = norm_path(path)
        if session.mounts:
            return any(target.startswith(m.rstrip("/") + "/") for m in session.mounts)
        return bool(self._removable.search(target))

    def _count(self, host: str, session: MediaSession, event: EcsEvent, path: str) -> list[AlertDraft]:
        cfg = self.config
        size = float(event.file.size or 0) if event.file else 0.0
        if not session.window.add(event.timestamp, self._spec, size, event_id(event), norm_path(path)):
            self.state.late += 1
            return []
        window = session.window
        if session.alerted or (window.held_keys < cfg.min_files and window.held_total < cfg.min_bytes):
            return []  # one alert per media session; and no span holds more files or bytes than the window
        span = window.around(event.timestamp, self._spec)
        files, total = len(span.keys()), span.total
        if files < cfg.min_files and total < cfg.min_bytes:
            return []
        session.alerted = True
        who = user_of(event)
        device = session.device or "removable disk"
        minutes = int(cfg.window.total_seconds() // 60)
        actor = f"{who} on {host}" if who else host
        return [Finding(
            RULE, entity("user", who) if who else entity("host", host), [event],
            en=f"{actor} wrote {files} files ({total / 1024**2:.1f} MB) to {device} within {minutes} min",
            zh=f"{actor} 在 {minutes} 分钟内向移动存储（{device}）写入 {files} 个文件"
               f"（{total / 1024**2:.1f} MB），疑似违规拷贝",
            dedup=f"{host}|{session.opened.isoformat()}", event_ids=span.event_ids(), count=span.count,
            context={"host": host, "files": files, "bytes": int(total), "device": session.device,
                     "mounts": ";".join(session.mounts) or None, "media_since": session.opened.isoformat()},
        ).alert()]  # fmt: skip

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        ttl = self.config.session_ttl
        for host in [h for h, s in self.state.sessions.items() if now - s.opened > ttl]:
            del self.state.sessions[host]
        return []
