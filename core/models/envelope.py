"""What collectors put on `vigil.raw`, and what a failed record becomes on `vigil.deadletter`."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from core.names import Category

Transport = Literal["syslog-udp", "syslog-tcp", "file", "http", "evtx", "json-export", "cli"]


def record_id(source: str, position: str, raw: str) -> str:
    """Deterministic id of one raw record: the same record collected twice gets the same id,
    so every later stage (and Elasticsearch's `_id`) is idempotent."""
    digest = hashlib.sha256(f"{source}\x1f{position}\x1f{raw}".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:40]


class RawEnvelope(BaseModel):
    """One raw record exactly as collected, plus where it came from."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str = Field(min_length=1, description="configured source id, e.g. 'web01-auth'")
    transport: Transport
    format: str = Field("auto", description="parser family, or 'auto' to detect from the content")
    raw: str
    received_at: AwareDatetime
    timezone: str | None = Field(None, description="zone of timestamps without one; default: settings")
    peer: str | None = Field(None, description="sender address for network collectors")
    path: str | None = None
    offset: int | None = None
    category: Category | None = Field(None, description="override the parser's category")

    @classmethod
    def build(
        cls,
        *,
        source: str,
        transport: Transport,
        raw: str,
        position: str,
        format: str = "auto",
        received_at: datetime | None = None,
        **extra: object,
    ) -> RawEnvelope:
        return cls(
            id=record_id(source, position, raw),
            source=source,
            transport=transport,
            format=format,
            raw=raw,
            received_at=received_at or datetime.now(UTC),
            **extra,  # type: ignore[arg-type]
        )


class DeadLetter(BaseModel):
    """A record that could not become an event: never dropped, always explained."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    timestamp: AwareDatetime = Field(alias="@timestamp")
    stage: Literal["collect", "normalise", "index"]
    reason: str
    source: str
    transport: str
    format: str
    raw: str
    path: str | None = None
    offset: int | None = None
    peer: str | None = None

    @classmethod
    def of(cls, envelope: RawEnvelope, stage: Literal["collect", "normalise", "index"], reason: str) -> DeadLetter:
        return cls.model_validate(
            {
                "id": envelope.id,
                "@timestamp": envelope.received_at,
                "stage": stage,
                "reason": reason,
                "source": envelope.source,
                "transport": envelope.transport,
                "format": envelope.format,
                "raw": envelope.raw,
                "path": envelope.path,
                "offset": envelope.offset,
                "peer": envelope.peer,
            }
        )

    def to_document(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
