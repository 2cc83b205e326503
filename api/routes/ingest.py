"""`POST /ingest`: NDJSON batches onto `vigil.raw`, acknowledged only once Kafka has them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.bodies import media_type, read_limited
from api.deps import BackendsDep, ClientIp, Ingester, SettingsDep
from api.errors import BadRequest
from api.ingest_batch import Origin, split_batch
from api.models.common import AUTH_RESPONSES, ErrorPublic
from api.models.ingest import DeadLetteredLine, IngestPublic, IngestQuery
from core.models.envelope import DeadLetter

router = APIRouter(prefix="/ingest", tags=["ingest"])

NDJSON_TYPES = {"application/x-ndjson", "application/jsonl", "application/json-lines", "text/plain"}


async def read_body(request: Request, settings: SettingsDep) -> bytes:
    """The request body, refused early (413) once it passes the size limit: never buffered whole first."""
    media_type(request, NDJSON_TYPES, "application/x-ndjson")
    return await read_limited(request, settings.api_max_body_bytes)


@router.post(
    "",
    response_model=IngestPublic,
    responses={**AUTH_RESPONSES, 413: {"model": ErrorPublic}, 415: {"model": ErrorPublic},
               503: {"model": ErrorPublic, "description": "Kafka did not acknowledge: retry the same batch"}},
    openapi_extra={"requestBody": {"required": True, "content": {"application/x-ndjson": {"schema": {
        "type": "string", "example": '{"message": "Nov 23 10:00:01 web01 sshd[42]: Failed password for root"}\n'}}}}},
    summary="Ingest a batch of log records (NDJSON, or plain text lines with ?source=)",
)  # fmt: skip
def ingest(
    user: Ingester,
    params: Annotated[IngestQuery, Query()],
    body: Annotated[bytes, Depends(read_body)],
    ip: ClientIp,
    settings: SettingsDep,
    backends: BackendsDep,
) -> IngestPublic:
    """Each line is a JSON object `{"message", "source"?, "format"?, "timezone"?, "category"?, "position"?}`,
    or, with `?source=` (and optionally `format`, `timezone`, `category`), one raw log line.
    Lines that are not valid records go to `vigil.deadletter` with the reason: nothing is dropped.
    The response comes after Kafka acknowledged every record; on 503 retry the same batch."""
    origin = Origin(
        default_source=f"http-{user.name}",
        received_at=datetime.now(UTC),
        peer=ip,
        max_line_bytes=settings.max_line_bytes,
    )
    batch = split_batch(body, text=params.text_batch(), origin=origin)
    if not batch.lines:
        raise BadRequest("the batch has no records: send one record per line")
    backends.publish([line.item for line in batch.lines])
    letters = [
        DeadLetteredLine(line=line.number, id=line.item.id, reason=line.item.reason)
        for line in batch.lines
        if isinstance(line.item, DeadLetter)
    ]
    return IngestPublic(
        accepted=len(batch.lines) - len(letters), deadlettered=len(letters), blank=batch.blank, deadletters=letters
    )
