"""Notifications for incident response: SMTP mail, webhooks (generic JSON, WeCom, DingTalk, Feishu), console.

`deliver(channel, message)` makes one attempt and reports it as a `Delivery`; transport failures are values
(`ok=False` and a reason without secrets), never exceptions, so the playbook engine records them and retries
with a new attempt number in the key.
"""

from __future__ import annotations

import logging

from playbooks.notify import console, smtp, webhook
from playbooks.notify.config import Channel, NotifyConfig
from playbooks.notify.console import ConsoleChannel
from playbooks.notify.message import DRILL_PREFIX, Delivery, NotifyMessage
from playbooks.notify.smtp import SmtpChannel
from playbooks.notify.webhook import WebhookChannel

__all__ = ["DRILL_PREFIX", "Channel", "ConsoleChannel", "Delivery", "NotifyConfig", "NotifyMessage", "SmtpChannel",
           "WebhookChannel", "deliver"]  # fmt: skip

logger = logging.getLogger("vigil.notify")


def deliver(channel: Channel, message: NotifyMessage, *, recipients: list[str] | None = None) -> Delivery:
    match channel:
        case SmtpChannel():
            delivery = smtp.send(channel, message, recipients)
        case WebhookChannel():
            delivery = webhook.send(channel, message, recipients)
        case ConsoleChannel():
            delivery = console.send(channel, message, recipients)
    logger.log(logging.INFO if delivery.ok else logging.WARNING, "delivery %s via %s: %s — %s", message.key,
               channel.name, "ok" if delivery.ok else "FAILED", delivery.detail)  # fmt: skip
    return delivery
