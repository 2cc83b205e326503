"""Place, list and release legal holds (`vigil-holds`), and the query selecting what a hold protects.

The playbook engine places holds through `place_hold` too. A release is an update that keeps the
record (who, when, why); holds are never deleted.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from core.errors import HoldError
from core.index_templates import install_retention_templates
from core.models.hold import Hold, HoldRequest
from core.names import HOLDS_INDEX, RetentionScope
from core.settings import Settings
from retention.ilm import detach_held_indices
from retention.scan import iter_hits

# ECS fields naming each kind of entity in `logs-*` (plus `vigil.entity`, the event's partition key).
# Wide on purpose: a hold that keeps a few more documents is harmless, one that misses some is not.
ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("user.name", "user.target.name", "user.effective.name", "source.user.name", "destination.user.name",
             "related.user"),
    "host": ("host.name", "host.hostname", "observer.name", "observer.hostname", "log.syslog.hostname",
             "related.hosts"),
    "ip": ("source.ip", "destination.ip", "host.ip", "related.ip"),
    "source": ("vigil.source",),
}  # fmt: skip


def place_hold(
    es: Elasticsearch,
    settings: Settings,
    request: HoldRequest,
    *,
    hold_id: str | None = None,
    now: datetime | None = None,
) -> Hold:
    """Store a new hold. With an explicit `hold_id` a retry is harmless: the same request returns
    the stored hold; a different request under that id is refused."""
    install_retention_templates(es, settings)
    hold = Hold(
        **request.model_dump(by_alias=True),
        id=hold_id or uuid.uuid4().hex[:20],
        created_at=now or datetime.now(UTC),
    )
    try:
        es.create(index=HOLDS_INDEX, id=hold.id, document=hold.to_document(), refresh="wait_for")
    except ConflictError as exc:
        stored = get_hold(es, hold.id)
        if stored.model_dump(include=set(HoldRequest.model_fields)) == request.model_dump():
            return stored
        raise HoldError(f"a different hold already has id {hold.id!r}") from exc
    detach_held_indices(es, [hold])  # ILM must never delete what a hold protects
    return hold


def get_hold(es: Elasticsearch, hold_id: str) -> Hold:
    try:
        found = es.get(index=HOLDS_INDEX, id=hold_id)
    except NotFoundError as exc:
        raise HoldError(f"no hold with id {hold_id!r}") from exc
    return Hold.model_validate(found["_source"])


def list_holds(es: Elasticsearch, *, active_only: bool = True) -> list[Hold]:
    """Holds, oldest first, all of them (paged: a hold cut off by a result window would let retention
    delete what it protects). A missing `vigil-holds` index means no hold was ever placed."""
    if not es.indices.exists(index=HOLDS_INDEX):
        return []
    query: dict[str, Any] = (
        {"bool": {"must_not": {"exists": {"field": "released_at"}}}} if active_only else {"match_all": {}}
    )
    es.indices.refresh(index=HOLDS_INDEX)
    holds = [Hold.model_validate(hit["_source"]) for hit in iter_hits(es, HOLDS_INDEX, query)]
    return sorted(holds, key=lambda hold: (hold.created_at, hold.id))


def release_hold(es: Elasticsearch, hold_id: str, *, by: str, reason: str, now: datetime | None = None) -> Hold:
    """Mark a hold released (kept on the record). Its evidence index stays; deleting evidence is a
    separate, deliberate decision."""
    if not by or not reason:
        raise HoldError("releasing a hold needs who releases it and why")
    try:
        found = es.get(index=HOLDS_INDEX, id=hold_id)
    except NotFoundError as exc:
        raise HoldError(f"no hold with id {hold_id!r}") from exc
    hold = Hold.model_validate(found["_source"])
    if not hold.active:
        raise HoldError(f"hold {hold_id!r} was already released by {hold.released_by} at {hold.released_at}")
    released = Hold.model_validate({**hold.to_document(), "released_by": by, "release_reason": reason,
                                    "released_at": (now or datetime.now(UTC)).isoformat()})  # fmt: skip
    try:
        # Optimistic concurrency: two releases at once cannot both win and overwrite each other.
        es.index(index=HOLDS_INDEX, id=hold_id, document=released.to_document(),
                 if_seq_no=found["_seq_no"], if_primary_term=found["_primary_term"], refresh="wait_for")  # fmt: skip
    except ConflictError as exc:
        raise HoldError(f"hold {hold_id!r} changed while releasing it; try again") from exc
    return released


def hold_query(hold: Hold, scope: RetentionScope, start: datetime, end: datetime) -> dict[str, Any]:
    """Documents of a `scope` index, within [start, end), that `hold` protects.

    Dead letters carry no parsed entity, only the raw line: for them a user/host/ip hold matches the
    value anywhere in `raw`, as a phrase or inside a word (`alice's`), case-insensitively: it may
    keep a little more than the entity's lines, not less.
    """
    lower = max(hold.from_, start)
    upper = end if hold.to is None else min(hold.to, end)
    time_range = {"range": {"@timestamp": {"gte": lower.isoformat(), "lt": upper.isoformat()}}}
    if hold.entity == "*":
        return {"bool": {"filter": [time_range]}}
    kind, _, value = hold.entity.partition(":")
    if scope is RetentionScope.DEADLETTER:
        should: list[dict[str, Any]] = (
            [{"term": {"source": value}}] if kind == "source" else [
                {"match_phrase": {"raw": value}},
                {"wildcard": {"raw": {"value": f"*{_escape_wildcard(value)}*", "case_insensitive": True}}},
            ]
        )  # fmt: skip
    else:
        should = [_term(field, value, kind) for field in ENTITY_FIELDS[kind]]
        should.append({"term": {"vigil.entity": {"value": f"{kind}:{value}", "case_insensitive": True}}})
    return {"bool": {"filter": [time_range, {"bool": {"should": should, "minimum_should_match": 1}}]}}


def _escape_wildcard(value: str) -> str:
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def _term(field: str, value: str, kind: str) -> dict[str, Any]:
    if kind == "ip":  # `ip` fields compare addresses, not strings
        return {"term": {field: value}}
    # Names are case-insensitive in practice (ALICE in one log, alice in another).
    return {"term": {field: {"value": value, "case_insensitive": True}}}
