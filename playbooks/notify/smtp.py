"""E-mail over SMTP (stdlib `smtplib` + `email`): plain, STARTTLS or implicit TLS, optional login.

The mail is UTF-8 throughout (RFC 2047 subject, UTF-8 body), so zh-CN subjects and bodies arrive intact. It
carries `X-Vigil-Delivery: <key>` and the `Message-ID` `<key@vigil>` (see `message_id`): a retried delivery is
recognisably the same mail, and mail clients show it once.
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from playbooks.notify.message import Delivery, NotifyMessage, plain_text, redact

DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# RFC 5322 `atext` minus "=", the escape: what may stand unescaped left of the "@" in a Message-ID.
_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/?^_`{|}~")


def message_id(key: str) -> str:
    """`<key@vigil>`, with the key's characters a message id may not hold (`:` of `inc:step:1`, dots, non-ASCII)
    written as `=XX` per UTF-8 byte, reversibly: parsers cut `<inc:step:1@vigil>` at the first colon."""
    escaped = "".join(c if c in _ID_CHARS else "".join(f"={b:02X}" for b in c.encode()) for c in key)
    return f"<{escaped}@vigil>"


class SmtpChannel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    type: Literal["smtp"]
    name: str = Field(min_length=1)
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535, description="default: 25, 587 (starttls) or 465 (ssl)")
    security: Literal["none", "starttls", "ssl"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(alias="from", min_length=3, description="From: `Vigil 安全值班 <vigil@corp.example>`")
    recipients: list[str] = Field(default_factory=list, description="used when the call names none")
    ca_file: Path | None = Field(None, description="CA bundle for a server with a private certificate")
    timeout_s: float = Field(10.0, gt=0)

    @model_validator(mode="after")
    def _login_pair(self) -> SmtpChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both or neither")
        return self


def compose(channel: SmtpChannel, message: NotifyMessage, to: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = channel.sender
    mail["To"] = ", ".join(to)
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = message_id(message.key)
    mail["X-Vigil-Delivery"] = message.key
    mail["X-Vigil-Incident"] = message.incident_id
    mail["X-Vigil-Severity"] = message.severity
    if message.drill:
        mail["X-Vigil-Drill"] = "true"
    mail.set_content(plain_text(message), charset="utf-8")
    return mail


def send(channel: SmtpChannel, message: NotifyMessage, recipients: list[str] | None) -> Delivery:
    to = channel.recipients if recipients is None else recipients
    if not to:
        return Delivery(channel=channel.name, ok=False, detail="no recipients: none given and none configured")
    mail = compose(channel, message, to)
    try:
        with _connect(channel) as smtp:
            if channel.username and channel.password:
                smtp.login(channel.username, channel.password.get_secret_value())
            refused = smtp.send_message(mail, to_addrs=to)
    except (smtplib.SMTPException, OSError) as exc:  # OSError: refused, unreachable, timeout, TLS failure
        secrets = [channel.password.get_secret_value()] if channel.password else []
        detail = redact(f"SMTP {channel.host}: {type(exc).__name__}: {exc}", secrets)
        return Delivery(channel=channel.name, ok=False, detail=detail)
    if refused:
        listed = "; ".join(f"{to_} ({code} {reply.decode(errors='replace')})" for to_, (code, reply) in refused.items())
        detail = f"accepted {len(to) - len(refused)} of {len(to)} recipients; refused: {listed}"
        return Delivery(channel=channel.name, ok=False, detail=detail)
    return Delivery(channel=channel.name, ok=True, detail=f"accepted by {channel.host} for {len(to)} recipient(s)")


def _connect(channel: SmtpChannel) -> smtplib.SMTP:
    port = channel.port or DEFAULT_PORTS[channel.security]
    context = ssl.create_default_context(cafile=str(channel.ca_file) if channel.ca_file else None)
    if channel.security == "ssl":
        return smtplib.SMTP_SSL(channel.host, port, timeout=channel.timeout_s, context=context)
    smtp = smtplib.SMTP(channel.host, port, timeout=channel.timeout_s)
    if channel.security == "starttls":
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
    return smtp
