"""Raw request bodies (NDJSON batches, YAML uploads), refused early (413) once past the size limit."""

from __future__ import annotations

from fastapi import Request

from api.errors import PayloadTooLarge, UnsupportedMediaType


def media_type(request: Request, accepted: set[str], hint: str) -> str:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in accepted:
        raise UnsupportedMediaType(f"send Content-Type: {hint} (got {media or 'none'!r})")
    return media


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, never buffered whole before the limit is checked."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the {limit}-byte limit: split the batch")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the {limit}-byte limit: split the batch")
        chunks.append(chunk)
    return b"".join(chunks)
