"""What every parser family shares: the parse context and the event builder.

A parser is a pure function ``(raw: str, ctx: ParseContext) -> EcsEvent`` that raises
``ParseError(reason)`` when the line is not of its family; the reason becomes the
dead-letter reason, so write it for the person who will read the dead-letter index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from core.errors import ParseError
from core.models.ecs import EcsEvent
from core.names import Category


@dataclass(frozen=True)
class ParseContext:
    source: str
    received_at: datetime
    zone: ZoneInfo
    raw_id: str = ""
    category: Category | None = None


class Parser(Protocol):
    def __call__(self, raw: str, ctx: ParseContext) -> EcsEvent: ...


def build_event(
    ctx: ParseContext,
    *,
    parser: str,
    category: Category,
    timestamp: datetime,
    raw: str,
    dataset: str,
    **fields: Any,
) -> EcsEvent:
    """Assemble an ECS event from a parser's fields (ECS names, nested dicts or models).

    Sets what every event carries: event.original/ingested/dataset/id and the `vigil` block.
    ``fields["event"]`` may add event.* keys (category, type, action, outcome...).
    """
    event_fields: dict[str, Any] = dict(fields.pop("event", None) or {})
    event_fields.setdefault("dataset", dataset)
    event_fields.setdefault("module", dataset.split(".", 1)[0])
    event_fields["original"] = raw
    event_fields["ingested"] = datetime.now(UTC)
    if ctx.raw_id:
        event_fields["id"] = ctx.raw_id
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=ctx.zone)
    document = {
        "@timestamp": timestamp,
        "event": event_fields,
        "vigil": {"category": ctx.category or category, "source": ctx.source, "parser": parser},
        **{key: value for key, value in fields.items() if value not in (None, {}, [])},
    }
    try:
        event = EcsEvent.model_validate(document)
    except ValueError as exc:  # pydantic.ValidationError is a ValueError
        raise ParseError(f"{parser}: parsed fields do not fit the event model: {exc}") from exc
    event.vigil.entity = event.entity()
    return event
