"""`POST /ingest`: one NDJSON line per record, and what became of each line."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from api.models.common import PublicModel
from core.names import Category
from ingest.parsers.registry import FORMATS


def _known_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"unknown format {value!r}; known: {', '.join(FORMATS)}")
    return value


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


FormatName = Annotated[str, AfterValidator(_known_format)]
ZoneName = Annotated[str, AfterValidator(_known_zone)]


class IngestRecordBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: FormatName | None = Field(None, description="parser family or `auto` (default)")
    timezone: ZoneName | None = Field(None, description="zone of timestamps without one; default: the server's")
    category: Category | None = Field(None, description="override the parser's `vigil.category`")


class IngestRecord(IngestRecordBase):
    """One JSON line of a batch."""

    message: str = Field(min_length=1, description="the raw log record")
    source: str | None = Field(None, min_length=1, max_length=200, description="source id; default `http-<token>`")
    position: str | None = Field(
        None,
        max_length=500,
        description="where the record sits at its origin (file:offset...); makes client retries idempotent",
    )


class TextBatch(IngestRecordBase):
    """`?source=&format=`: every line of the body is a raw record of that source."""

    source: str = Field(min_length=1, max_length=200)


class DeadLetteredLine(PublicModel):
    line: int = Field(description="1-based line number in the request body")
    id: str
    reason: str


class IngestPublic(PublicModel):
    accepted: int = Field(description="records on vigil.raw, acknowledged by Kafka")
    deadlettered: int = Field(description="lines sent to vigil.deadletter (stage `collect`) with the reason")
    blank: int = Field(description="empty lines, skipped")
    deadletters: list[DeadLetteredLine]


class IngestQuery(IngestRecordBase):
    """Query parameters of `POST /ingest`: `source` switches the body to plain text lines."""

    source: str | None = Field(None, min_length=1, max_length=200, description="plain-text mode: the lines' source")

    @model_validator(mode="after")
    def _text_mode_only(self) -> IngestQuery:
        if self.source is None and (self.format or self.timezone or self.category):
            raise ValueError("format, timezone and category apply to plain-text lines: give source= too")
        return self

    def text_batch(self) -> TextBatch | None:
        if self.source is None:
            return None
        return TextBatch(source=self.source, format=self.format, timezone=self.timezone, category=self.category)
