"""Topic and index names: the contract between packages (see DESIGN.md)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum


class Topic(StrEnum):
    RAW = "vigil.raw"
    EVENTS = "vigil.events"
    ALERTS = "vigil.alerts"
    DEADLETTER = "vigil.deadletter"


class Category(StrEnum):
    """`vigil.category`: the policy's three log kinds, each with its own indices and retention."""

    NETWORK = "network"
    SYSTEM = "system"
    USER = "user"


class RetentionScope(StrEnum):
    """What retention and legal holds apply to: the three log categories and the dead letters."""

    NETWORK = "network"
    SYSTEM = "system"
    USER = "user"
    DEADLETTER = "deadletter"

    @property
    def index_prefix(self) -> str:
        """Daily indices of this scope are `<prefix>YYYY.MM.DD`."""
        return "vigil-deadletter-" if self is RetentionScope.DEADLETTER else f"logs-{self.value}-"


# Kafka headers of `vigil.events` / `vigil.deadletter` records: the Elasticsearch index and `_id` of
# the document the record becomes, set by the normaliser so the indexer need not decode the value.
INDEX_HEADER = "vigil.index"
ID_HEADER = "vigil.id"
# Set when the value is the document in canonical form (`core.canonical.CANONICAL_FORM`).
CANONICAL_HEADER = "vigil.canonical"

LOGS_PATTERN = "logs-*"
DEADLETTER_PATTERN = "vigil-deadletter-*"
AUDIT_INDEX = "vigil-audit"
ALERTS_INDEX = "vigil-alerts"
INCIDENTS_INDEX = "vigil-incidents"
ENTITIES_INDEX = "vigil-entities"
LEDGER_INDEX = "vigil-ledger"
REPORTS_INDEX = "vigil-reports"
HOLDS_INDEX = "vigil-holds"
EVIDENCE_PREFIX = "vigil-evidence-"
RETENTION_LOG_INDEX = "vigil-retention-log"
RULE_STATE_INDEX = "vigil-rule-state"
RULES_SUMMARY_ID = "rules-summary"  # the `vigil-reports` document of the rules the detectors run
RUNS_INDEX = "vigil-scheduler-runs"
HUNT_JOBS_INDEX = "vigil-hunt-jobs"


def day_suffix(ts: datetime) -> str:
    """Daily indices are cut on the UTC day of the event time."""
    return ts.strftime("%Y.%m.%d")


def logs_index(category: Category | str, ts: datetime) -> str:
    return f"logs-{Category(category).value}-{day_suffix(ts)}"


def deadletter_index(ts: datetime) -> str:
    return f"vigil-deadletter-{day_suffix(ts)}"


def evidence_index(hold_id: str, scope: RetentionScope) -> str:
    """Where the documents a legal hold protects are copied before their daily index is deleted
    (dead letters apart: their mapping differs from the ECS events')."""
    suffix = "-deadletter" if scope is RetentionScope.DEADLETTER else ""
    return f"{EVIDENCE_PREFIX}{hold_id}{suffix}"
