"""The console channel: the notification as a log record (`vigil.notify`), for development and as a last resort."""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from playbooks.notify.message import Delivery, NotifyMessage, plain_text

logger = logging.getLogger("vigil.notify")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class ConsoleChannel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["console"]
    name: str = Field(min_length=1)
    level: Literal["debug", "info", "warning", "error"] = "warning"


def send(channel: ConsoleChannel, message: NotifyMessage, recipients: list[str] | None) -> Delivery:
    to = f" → {', '.join(recipients)}" if recipients else ""
    logger.log(LEVELS[channel.level], "[%s] %s%s (%s)\n%s", channel.name, message.title, to, message.key,
               plain_text(message))  # fmt: skip
    return Delivery(channel=channel.name, ok=True, detail=f"logged at {channel.level}")
