"""Reading alerts from `vigil-alerts` and writing triage onto them.

The alert store (`detectors.alert_store`) merges repeats of an alert into its detection fields only;
the API writes the triage fields only (`api.triage.TRIAGE_FIELDS`), as a partial update guarded by
the sequence number it read (`if_seq_no`/`if_primary_term`). A repeat stored in between moves the
sequence number: the write gets 409, and the change is re-read and re-applied, so neither writer
overwrites the other and no history entry is lost.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, TransportError

from api.errors import BackendUnavailable, Conflict, NotFound
from api.models.alerts import AlertPublic, AlertUpdate
from api.triage import Triage
from core.names import ALERTS_INDEX

ATTEMPTS = 10  # concurrent writers on one alert are a handful at most: more conflicts mean a fight
BACKOFF_S = 0.02  # per attempt, jittered: writers that collided do not collide again in lockstep


def get_alert(es: Elasticsearch, alert_id: str) -> tuple[dict[str, Any], int, int]:
    """The stored document with its sequence number and primary term. Raises NotFound."""
    try:
        found = es.get(index=ALERTS_INDEX, id=alert_id)
    except NotFoundError:
        raise NotFound(f"no alert with id {alert_id!r}") from None
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"Elasticsearch did not answer: {exc}") from exc
    return dict(found["_source"]), found["_seq_no"], found["_primary_term"]


def change_alert(
    es: Elasticsearch,
    alert_id: str,
    update: AlertUpdate,
    *,
    by: str,
    now: datetime | None = None,
    refresh: bool = True,
) -> AlertPublic:
    """Apply one triage change; raises NotFound, InvalidTransition (409, re-checked on every retry
    against what is stored then) or Conflict when other writers won `ATTEMPTS` times in a row."""
    for attempt in range(ATTEMPTS):
        if attempt:
            time.sleep(random.uniform(0, BACKOFF_S * attempt))  # noqa: S311 - jitter, not a secret
        source, seq_no, primary_term = get_alert(es, alert_id)
        triage = Triage.model_validate(source).changed(update, by, now or datetime.now(UTC))
        document = triage.to_document()
        try:
            es.update(index=ALERTS_INDEX, id=alert_id, doc=document, if_seq_no=seq_no,
                      if_primary_term=primary_term, refresh="wait_for" if refresh else False)  # fmt: skip
        except ConflictError:
            continue
        except (ApiError, TransportError) as exc:
            raise BackendUnavailable(f"Elasticsearch did not take the change to alert {alert_id!r}: {exc}") from exc
        return AlertPublic.model_validate({**source, **document})
    raise Conflict(f"alert {alert_id!r} kept changing while this change was applied ({ATTEMPTS} tries): retry")
