"""What is sent (`NotifyMessage`), what came of it (`Delivery`), and the renderings every channel shares."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Both languages in one prefix: the people paged read either, and a drill must never pass for a real incident.
DRILL_PREFIX = "【演练】[DRILL] "


class NotifyMessage(BaseModel):
    """One notification about an incident. `key` is the idempotency key (`<incident>:<step>:<attempt>`):
    a retried delivery carries the same key, so receivers can drop the duplicate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(min_length=1)
    incident_id: str = Field(min_length=1)
    subject: str
    text: str
    severity: str
    drill: bool = False
    link: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)

    @property
    def title(self) -> str:
        """The subject as every channel shows it: drills marked (once: a subject the caller marked stays as is)."""
        marked = "演练" in self.subject or "DRILL" in self.subject
        return f"{DRILL_PREFIX}{self.subject}" if self.drill and not marked else self.subject


class Delivery(BaseModel):
    """The outcome of one delivery attempt; `detail` is safe to store and show (no secrets)."""

    channel: str
    ok: bool
    detail: str
    at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


def plain_text(message: NotifyMessage) -> str:
    """The body for mail and the console: text, then the fields, then the link."""
    lines = [message.text, "", f"incident: {message.incident_id}", f"severity: {message.severity}"]
    lines += [f"{name}: {value}" for name, value in message.fields.items()]
    if message.drill:
        lines.append("drill: 演练 / this is a drill, not a real incident")
    if message.link:
        lines += ["", message.link]
    return "\n".join(lines)


def markdown(message: NotifyMessage, *, heading: bool = True) -> str:
    """The body for the chat robots (WeCom, DingTalk, Feishu cards): their common Markdown subset."""
    lines = [f"### {message.title}", ""] if heading else []
    lines += [message.text, "", f"- **incident**: {message.incident_id}", f"- **severity**: {message.severity}"]
    lines += [f"- **{name}**: {value}" for name, value in message.fields.items()]
    if message.link:
        lines += ["", f"[{message.link}]({message.link})"]
    return "\n".join(lines)


def redact(text: str, secrets: list[str]) -> str:
    """`text` with every secret (longest first, so no fragment of one survives) replaced by `***`."""
    for secret in sorted((s for s in secrets if len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
