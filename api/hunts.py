"""The hunt API's catalogue: the configured rules converted once per app (Lucene queries and engine hunts),
and the rule a hunt job asks for (the jobs themselves: `api/hunt_jobs.py`)."""

from __future__ import annotations

import threading

from elasticsearch import ApiError, Elasticsearch, TransportError

from api.errors import BackendUnavailable, NotFound
from api.rules import RuleCatalog
from detectors.hunt.convert import Conversion, HuntQuery, convert_loaded
from detectors.sigma.loader import RuleInfo


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


def hunted_rule(conversion: Conversion, rule_id: str) -> tuple[HuntQuery, RuleInfo]:
    """The rule's hunt, or 404 saying why it is not hunted."""
    query = conversion.queries.get(rule_id)
    if query is None:
        skip = next((s for s in conversion.skipped if s.rule_id == rule_id), None)
        why = f"not hunted ({skip.kind}): {skip.reason}" if skip else "no such rule in the rule dirs"
        raise NotFound(f"rule {rule_id!r}: {why}")
    return query, conversion.rules[rule_id]
