"""Shapes every router shares."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class PublicModel(BaseModel):
    """Response models: a field not declared here never reaches a client."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ErrorPublic(PublicModel):
    detail: str
    errors: list[dict[str, Any]] | None = None


class Bucket(PublicModel):
    key: str
    count: int


# OpenAPI entries for the errors every authenticated route can return.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "missing, unknown, revoked or expired token"},
    403: {"model": ErrorPublic, "description": "the token's role lacks the permission"},
    422: {"model": ErrorPublic, "description": "invalid input; `detail` says which and why"},
}
