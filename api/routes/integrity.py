"""`/integrity/verify`: a day's logs against the integrity ledger, for auditors and admins.

The same verification as `vigil verify` (`retention.integrity`), stored like every other run so the
patrol record shows it. The response carries every modified, deleted and inserted id.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from elasticsearch import ApiError, TransportError
from fastapi import APIRouter, Query

from api.deps import EsDep, IntegrityVerifier, SettingsDep
from api.errors import BackendUnavailable
from api.models.common import AUTH_RESPONSES
from api.models.integrity import VerificationsPublic
from core.names import Category
from retention.integrity import verify_day

router = APIRouter(prefix="/integrity", tags=["integrity"])


@router.get(
    "/verify",
    response_model=VerificationsPublic,
    responses=AUTH_RESPONSES,
    summary="Verify a UTC day's logs (one category or all) against the ledger: modified, deleted, inserted ids",
)
def verify(
    _user: IntegrityVerifier,
    settings: SettingsDep,
    es: EsDep,
    day: Annotated[date, Query(description="UTC day of the daily indices")],
    category: Annotated[Category | None, Query()] = None,
) -> VerificationsPublic:
    try:
        records = verify_day(es, settings, day, datetime.now(UTC), category)
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc
    return VerificationsPublic(data=records, count=len(records), clean=all(r.clean for r in records))
