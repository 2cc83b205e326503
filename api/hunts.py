"""The hunt API's backend: the configured rules converted once per app (Lucene queries and engine hunts),
and one rule hunted over a past range through `detectors.hunt.run.hunt`, as `vigil hunt run` does."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from elasticsearch import ApiError, Elasticsearch, TransportError
from kafka import KafkaProducer

from api.errors import BackendUnavailable, NotFound
from api.rules import RuleCatalog
from core.settings import Settings
from detectors.hunt.convert import Conversion, convert_loaded
from detectors.hunt.run import HuntResult, hunt
from detectors.pipeline import alerting_settings


class HuntCatalog:
    """The rules catalogue's parsed rules, converted on first use (tens of seconds for the SigmaHQ set),
    then kept; the field names are validated against what Elasticsearch holds then. Rule files changed on
    disk show after a restart."""

    def __init__(self, rules: RuleCatalog) -> None:
        self.rules = rules
        self._conversion: Conversion | None = None
        self._lock = threading.Lock()

    def conversion(self, es: Elasticsearch) -> Conversion:
        with self._lock:
            if self._conversion is None:
                try:
                    self._conversion = convert_loaded(self.rules.loaded(), es)
                except (ApiError, TransportError) as exc:
                    raise BackendUnavailable(f"Elasticsearch could not validate the hunt queries: {exc}") from exc
            return self._conversion


def run_hunt(
    conversion: Conversion,
    es: Elasticsearch,
    producer: KafkaProducer | None,
    settings: Settings,
    rule_id: str,
    start: datetime,
    end: datetime,
) -> HuntResult:
    query = conversion.queries.get(rule_id)
    if query is None:
        skip = next((s for s in conversion.skipped if s.rule_id == rule_id), None)
        why = f"not hunted ({skip.kind}): {skip.reason}" if skip else "no such rule in the rule dirs"
        raise NotFound(f"rule {rule_id!r}: {why}")
    try:
        return hunt(es, producer, query, conversion.rules[rule_id], start, end, now=datetime.now(UTC),
                    settings=alerting_settings(settings), dry_run=producer is None)  # fmt: skip
    except (ApiError, TransportError) as exc:
        raise BackendUnavailable(f"the hunt's search failed: {exc}") from exc
