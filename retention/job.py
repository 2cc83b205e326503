"""The daily retention job: plan (pure, `retention.plan`), then apply.

For each daily index the plan marks for deletion, in this order, each step a precondition of the next:
1. the floor and the expiry are checked again (defence in depth: the plan may be stale or forged);
2. the active holds are read again (a hold placed since planning counts);
3. with `archive`, the index is exported and the export checked (`retention.archive`);
4. the documents each meeting hold protects are copied to its evidence index and verified;
5. the day is retired in the integrity ledger (so its absence is not tampering);
6. only then the index is deleted, and the deletion is recorded in `vigil-retention-log`.
A failed step keeps the index and says why; the next run tries again. The document count is taken
again just before the deletion: an index that received late events while it was processed is kept.
Running the job twice deletes nothing more the second time: what was deleted is gone, what was
kept is still unexpired, or still failing.

The boundary rule (see `retention.plan`): the index of UTC day D goes once
(D + 1 day) 00:00 UTC <= now − retention days.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError
from pydantic import BaseModel, ConfigDict

from core.errors import RetentionError
from core.index_templates import install_ledger_template, install_retention_templates
from core.ledger import RetiredEntry
from core.ledger_store import chain_seqs, record_retired
from core.names import RETENTION_LOG_INDEX, RetentionScope
from core.settings import RetentionPolicy, Settings
from retention.archive import Advance, ArchivedIndex, archive_index
from retention.evidence import EvidenceCopy, copy_held
from retention.holds import list_holds
from retention.ilm import install_ilm
from retention.indices import as_utc, list_daily_indices
from retention.plan import Plan, PlanItem, holds_meeting, is_expired, make_plan
from retention.policy import enforce_floor, load_policy

log = logging.getLogger(__name__)


class Outcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: str
    status: Literal["deleted", "kept", "gone"]  # gone: a concurrent run deleted it first
    reason: str
    archived: ArchivedIndex | None = None
    evidence: tuple[EvidenceCopy, ...] = ()


class RunReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    plan: Plan
    dry_run: bool
    outcomes: tuple[Outcome, ...] = ()
    ilm_policies: tuple[str, ...] = ()

    @property
    def deleted(self) -> list[str]:
        return [o.index for o in self.outcomes if o.status == "deleted"]

    @property
    def failed(self) -> list[Outcome]:
        """Indices past retention that a failed step kept (the next run retries them)."""
        return [o for o in self.outcomes if o.status == "kept"]


def plan(es: Elasticsearch, settings: Settings, now: datetime | None = None) -> Plan:
    return make_plan(list_daily_indices(es), list_holds(es), load_policy(settings), now or datetime.now(UTC))


def run(
    es: Elasticsearch,
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    archive: bool | None = None,
    on_index: Callable[[PlanItem], None] | None = None,
    advance: Advance | None = None,
) -> RunReport:
    """Plan, and unless `dry_run` apply. `archive` None: `settings.retention_archive`.
    `on_index` / `advance` report progress (index, documents)."""
    the_plan = plan(es, settings, now)
    if dry_run:
        return RunReport(plan=the_plan, dry_run=True)
    install_retention_templates(es, settings)
    install_ledger_template(es, settings)
    ilm = install_ilm(es, the_plan.policy, list_holds(es))
    archiving = settings.retention_archive if archive is None else archive
    archive_dir = settings.archive_path() if archiving else None
    outcomes = []
    for item in the_plan.deletions:
        if on_index:
            on_index(item)
        outcomes.append(apply_item(es, item, the_plan.policy, the_plan.now, archive_dir, advance))
    return RunReport(plan=the_plan, dry_run=False, outcomes=tuple(outcomes), ilm_policies=tuple(ilm))


def apply_item(
    es: Elasticsearch,
    item: PlanItem,
    policy: RetentionPolicy,
    now: datetime,
    archive_dir: Path | None,
    advance: Advance | None = None,
) -> Outcome:
    index = item.index
    enforce_floor(policy)
    if not is_expired(index, policy.days(index.scope), now):
        raise RetentionError(f"refusing to delete {index.name}: its day is not past the retention floor")
    try:
        docs = es.count(index=index.name)["count"]
        archived = archive_index(es, index, archive_dir, advance) if archive_dir else None
        copies = tuple(copy_held(es, index, hold) for hold in holds_meeting(index, list_holds(es)))
        # A late event written meanwhile is in neither the archive nor the evidence: retry next run.
        es.indices.refresh(index=index.name)
        if es.count(index=index.name)["count"] != docs:
            raise RetentionError(f"{index.name} received documents while it was processed; retried next run")
        # Retired in the ledger before the delete: a crash in between leaves a retired day whose documents
        # are all still there (verifies clean), never a deleted day the ledger calls tampered with.
        _retire_in_ledger(es, item, archived, chain_seqs(es, index.name))
        es.indices.delete(index=index.name)
    except NotFoundError:
        return Outcome(index=index.name, status="gone", reason="already gone (deleted by a concurrent run)")
    except (RetentionError, ApiError, TransportError) as exc:
        log.warning("keeping %s: %s", index.name, exc)
        return Outcome(index=index.name, status="kept", reason=f"kept: {exc}")
    outcome = Outcome(index=index.name, status="deleted", reason=item.reason, archived=archived, evidence=copies)
    _record(es, item, outcome, now)
    return outcome


def _retire_in_ledger(
    es: Elasticsearch, item: PlanItem, archived: ArchivedIndex | None, covered: dict[str, int]
) -> None:
    """So `vigil verify` does not report the deleted documents as tampering (dead letters: no ledger)."""
    if item.index.scope is RetentionScope.DEADLETTER:
        return
    record_retired(es, RetiredEntry(
        index=item.index.name, category=item.index.scope.value, day=item.index.day, heads=covered,
        docs=item.index.docs, reason=item.reason, archive_file_sha256=archived.file_sha256 if archived else None,
        archive_hashes_sha256=archived.doc_hashes_sha256 if archived else None, retired_at=datetime.now(UTC),
    ))  # fmt: skip


def _record(es: Elasticsearch, item: PlanItem, outcome: Outcome, now: datetime) -> None:
    """What was deleted, when, why, where it was archived and which evidence was kept: for the auditor
    (retention status counts a deleted day as ingested once); the ledger gets its own entry."""
    document = {
        "@timestamp": datetime.now(UTC).isoformat(),
        "action": "delete",
        "index": item.index.name,
        "scope": item.index.scope.value,
        "day": item.index.day.isoformat(),
        "docs": item.index.docs,
        "size_bytes": item.index.size_bytes,
        "planned_at": as_utc(now).isoformat(),
        "reason": item.reason,
        "archive": outcome.archived.model_dump(mode="json") if outcome.archived else None,
        "evidence": [copy.model_dump(mode="json") for copy in outcome.evidence],
    }
    # One record per deleted index and day: a re-created and re-deleted day gets a second record.
    es.index(index=RETENTION_LOG_INDEX, document=document, refresh="wait_for")
