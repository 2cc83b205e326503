"""`/integrity` responses: the verification records of `core.ledger`, as they are (digests and ids only)."""

from __future__ import annotations

from pydantic import Field

from api.models.common import PublicModel
from core.ledger import VerificationRecord


class VerificationsPublic(PublicModel):
    data: list[VerificationRecord]
    count: int
    clean: bool = Field(description="every verified index matches its ledger")
