"""Mass copying of controlled files (policy rule 5: 信息泄露; ATT&CK T1039/T1005), per user.

Counts the distinct files a user reads or copies (Samba full_audit reads, Windows 4663 object access
and 5145 share access, Sysmon 11 file creation, FTP downloads) and their bytes where the log says, in a
sliding window. Alerts when the window is above BOTH the absolute threshold AND the user's own
baseline: an EWMA of the user's past active windows (tumbling, event time). Only windows in which
the user did something feed the baseline, so the quiet nights do not make every working hour look like
a spike; while a user has fewer than `min_history` windows the absolute threshold alone decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import Finding, PolicyDetector, PolicyRule, entity, entry, event_id, host_of, user_of
from detectors.policy.window import Baseline, BinnedWindow, Cooldown, WindowedConfig

RULE = PolicyRule(
    "vigil-policy-mass-copy",
    "Mass file reading or copying by one user",
    "data-leak",
    Severity.HIGH,
    ("attack.collection", "attack.t1039", "attack.t1005"),
    "5",
)
READ_ACTIONS = ["openat", "open", "pread", "pread_send", "read", "sendfile", "copy_chunk", "offload_read",
                "object-accessed", "network-share-object-checked", "file-created", "ftp_download"]  # fmt: skip


class MassCopyConfig(WindowedConfig):
    window: timedelta = timedelta(minutes=10)
    lateness: timedelta = timedelta(minutes=5)
    min_files: int = Field(default=200, ge=1)
    min_bytes: int = Field(default=1024**3, ge=1)
    actions: list[str] = Field(default_factory=lambda: list(READ_ACTIONS))
    alpha: float = 0.2
    z: float = 3.0
    factor: float = 3.0
    min_history: int = 5
    suppress: timedelta = timedelta(hours=1)


class UserCopies(BaseModel):
    window: BinnedWindow = Field(default_factory=BinnedWindow)
    bucket_start: AwareDatetime | None = None
    bucket_files: set[str] = Field(default_factory=set)
    bucket_bytes: float = 0.0
    files: Baseline = Field(default_factory=Baseline)
    bytes: Baseline = Field(default_factory=Baseline)


class MassCopyState(BaseModel):
    users: dict[str, UserCopies] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    late: int = 0


class MassCopyDetector(PolicyDetector[MassCopyState]):
    name = "policy.mass_copy"
    keyed_by = ("user",)
    state_model = MassCopyState

    def __init__(self, config: MassCopyConfig | None = None) -> None:
        super().__init__()
        self.config = config or MassCopyConfig()
        self._actions = {a.lower() for a in self.config.actions}
        self._spec = self.config.spec

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        account = user_of(event)
        path = event.file.path if event.file else None
        if not account or not path or "file" not in event.event.category or event.event.outcome == "failure":
            return []
        if (event.event.action or "").lower() not in self._actions or path.endswith(("/", "\\")):
            return []
        cfg = self.config
        user = entry(self.state.users, account, UserCopies)
        size = float(event.file.size or 0) if event.file else 0.0
        if not user.window.add(event.timestamp, self._spec, size, event_id(event), path.lower()):
            self.state.late += 1
            return []
        self._roll(user, event.timestamp, path.lower(), size)
        # `_suspicious` only grows with files and bytes, and no span holds more than the whole window:
        # the span (linear in a busy reader's window) is counted only when the bound could alert.
        if self.state.cooldown.blocked(account, event.timestamp, cfg.suppress):
            return []
        if not self._suspicious(user, user.window.held_keys, user.window.held_total):
            return []
        span = user.window.around(event.timestamp, self._spec)
        files, total = len(span.keys()), span.total
        if not self._suspicious(user, files, total):
            return []
        if not self.state.cooldown.ready(account, event.timestamp, cfg.suppress):
            return []
        minutes = int(cfg.window.total_seconds() // 60)
        mb = total / 1024**2
        usual = f"{user.files.mean:.0f}" if user.files.n else "n/a"
        return [Finding(
            RULE, entity("user", account), [event],
            en=f"{account} read or copied {files} files ({mb:.1f} MB) within {minutes} min; usual {usual}",
            zh=f"{account} 在 {minutes} 分钟内读取或复制了 {files} 个文件（{mb:.1f} MB），"
               f"平时约 {usual} 个，疑似批量拷贝",
            dedup=account, event_ids=span.event_ids(), count=span.count,
            context={"files": files, "bytes": int(total), "baseline_files": round(user.files.mean, 1),
                     "baseline_windows": user.files.n, "host": host_of(event),
                     "share": event.labels.get("share") or event.labels.get("share_name")},
        ).alert()]  # fmt: skip

    def _suspicious(self, user: UserCopies, files: int, total: float) -> bool:
        cfg = self.config
        by_files = files >= cfg.min_files and (
            user.files.n < cfg.min_history or user.files.exceeded(files, cfg.z, cfg.factor)
        )
        by_bytes = total >= cfg.min_bytes and (
            user.bytes.n < cfg.min_history or user.bytes.exceeded(total, cfg.z, cfg.factor, floor=1024**2)
        )
        return by_files or by_bytes

    def _roll(self, user: UserCopies, ts: datetime, path: str, size: float) -> None:
        """Tumbling windows of active use feed the baseline; late items count in the current one."""
        span = self.config.window
        start = _floor(ts, span)
        if user.bucket_start is None:
            user.bucket_start = start
        elif start > user.bucket_start:
            self._close(user)
            user.bucket_start = start
        if path not in user.bucket_files:
            user.bucket_files.add(path)
            user.bucket_bytes += size

    def _close(self, user: UserCopies) -> None:
        if user.bucket_files:
            user.files.update(len(user.bucket_files), self.config.alpha)
            user.bytes.update(user.bucket_bytes, self.config.alpha)
        user.bucket_files, user.bucket_bytes = set(), 0.0

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        """Close the users' windows that ended (so a quiet user's last window enters the baseline)."""
        cfg = self.config
        for user in self.state.users.values():
            if user.bucket_start is not None and user.bucket_start + cfg.window + cfg.lateness <= now:
                self._close(user)
                user.bucket_start = None
        self.state.cooldown.expire(now, cfg.suppress)
        return []


def _floor(ts: datetime, span: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + span * ((ts - epoch) // span)
