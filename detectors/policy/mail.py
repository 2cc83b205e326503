"""Mail (policy rule 5): attachments over 5 MB, and mass mail, per sender, from the MTA log (postfix qmgr).

`email.size` is the whole message as queued, so an attachment over the limit shows as a message over
it (base64 inflates by a third: the limit is applied to the message, a conservative reading).
Mass mail: `mass_recipients` recipients or `mass_messages` messages from one sender in `window`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from core.models.alert import AlertDraft, Severity
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.policy.common import Finding, PolicyDetector, PolicyRule, entity, entry, event_id
from detectors.policy.window import BinnedWindow, Cooldown, WindowedConfig

LARGE = PolicyRule(
    "vigil-policy-mail-large-attachment",
    "Mail with attachments over the size limit",
    "data-leak",
    Severity.MEDIUM,
    ("attack.exfiltration", "attack.t1048.003"),
    "5",
)
MASS = PolicyRule(
    "vigil-policy-mass-mail", "Mass mail from one sender", "policy-violation", Severity.MEDIUM, ("attack.t1534",), "5"
)


class MailConfig(WindowedConfig):
    max_bytes: int = Field(default=5 * 1024**2, ge=1)
    window: timedelta = timedelta(hours=1)
    lateness: timedelta = timedelta(minutes=10)
    mass_recipients: int = Field(default=200, ge=1)
    mass_messages: int = Field(default=100, ge=1)
    suppress: timedelta = timedelta(hours=1)


class MailState(BaseModel):
    senders: dict[str, BinnedWindow] = Field(default_factory=dict)
    cooldown: Cooldown = Field(default_factory=Cooldown)
    late: int = 0


class MailDetector(PolicyDetector[MailState]):
    name = "policy.mail"
    keyed_by = ("email.from",)
    state_model = MailState

    def __init__(self, config: MailConfig | None = None) -> None:
        super().__init__()
        self.config = config or MailConfig()
        self._spec = self.config.spec

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        mail = event.email
        if event.event.action != "mail-queued" or mail is None or mail.from_ is None or not mail.from_.address:
            return []
        sender = mail.from_.address[0].lower()
        cfg, alerts = self.config, []
        size = mail.size or 0
        if size > cfg.max_bytes:
            mb = size / 1024**2
            alerts.append(Finding(
                LARGE, entity("user", sender), [event],
                en=f"{sender} sent a {mb:.1f} MB message (limit {cfg.max_bytes / 1024**2:.0f} MB)",
                zh=f"{sender} 发送了 {mb:.1f} MB 的邮件，超过 {cfg.max_bytes / 1024**2:.0f} MB 附件限制",
                dedup=f"{sender}|{mail.local_id or event_id(event)}",
                context={"bytes": size, "queue_id": mail.local_id, "sender": sender},
            ).alert())  # fmt: skip
        count = event.labels.get("email_recipient_count", "1")
        nrcpt = float(count) if count.isdigit() else 1.0
        window = entry(self.state.senders, sender, BinnedWindow)
        if not window.add(event.timestamp, self._spec, nrcpt, event_id(event)):
            self.state.late += 1
            return alerts
        # No span holds more messages or recipients than the whole window: count the span (linear in a
        # busy sender's hour) only when that bound reaches a threshold and an alert could be raised.
        if window.held_count < cfg.mass_messages and window.held_total < cfg.mass_recipients:
            return alerts
        if self.state.cooldown.blocked(sender, event.timestamp, cfg.suppress):
            return alerts
        span = window.around(event.timestamp, self._spec)
        recipients, messages = int(span.total), span.count
        if (recipients >= cfg.mass_recipients or messages >= cfg.mass_messages) and self.state.cooldown.ready(
            sender, event.timestamp, cfg.suppress
        ):
            minutes = int(cfg.window.total_seconds() // 60)
            alerts.append(Finding(
                MASS, entity("user", sender), [event],
                en=f"{sender} sent {messages} messages to {recipients} recipients within {minutes} min",
                zh=f"{sender} 在 {minutes} 分钟内发送 {messages} 封邮件、收件人 {recipients} 个，疑似群发",
                dedup=sender, event_ids=span.event_ids(), count=span.count,
                context={"messages": messages, "recipients": recipients, "sender": sender},
            ).alert())  # fmt: skip
        return alerts

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        horizon = now - self.config.window - self.config.lateness
        for sender in [s for s, w in self.state.senders.items() if w.newest is None or w.newest < horizon]:
            del self.state.senders[sender]
        self.state.cooldown.expire(now, self.config.suppress)
        return []
