"""Incidents in Elasticsearch `vigil-incidents`, written with optimistic concurrency.

Every read returns the document's `_seq_no`/`_primary_term`; every write passes them back, so a write
based on a stale read fails (409) instead of silently dropping someone else's change. The engine retries
such a write on a fresh read (`update`); the API reports it to the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from core.index_templates import install_incident_template
from core.models.alert import Alert
from core.models.incident import Incident
from core.names import ALERTS_INDEX, INCIDENTS_INDEX
from core.settings import Settings
from playbooks.errors import ConcurrentModification, NotFound

MAX_RETRIES = 8


@dataclass
class Versioned:
    incident: Incident
    seq_no: int
    primary_term: int

    @property
    def version(self) -> str:
        """The ETag of this read: `seq_no:primary_term`."""
        return f"{self.seq_no}:{self.primary_term}"


@dataclass(frozen=True)
class IncidentFilter:
    status: list[str] | None = None
    severity: list[str] | None = None
    playbook: str | None = None
    assignee: str | None = None
    entity: str | None = None
    drill: bool | None = None
    since: datetime | None = None
    until: datetime | None = None
    alert_id: str | None = None  # the incidents that contain this alert

    def query(self) -> dict[str, Any]:
        terms: list[dict[str, Any]] = []
        for name, values in (("status", self.status), ("severity", self.severity)):
            if values:
                terms.append({"terms": {name: values}})
        for name, value in (("playbook", self.playbook), ("assignee", self.assignee), ("drill", self.drill),
                            ("alert_ids", self.alert_id)):  # fmt: skip
            if value is not None:
                terms.append({"term": {name: value}})
        if self.entity:
            kind, _, value = self.entity.partition(":")
            terms += [{"term": {"entity.kind": kind}}, {"term": {"entity.value": value}}]
        if self.since or self.until:
            bounds = {k: v.isoformat() for k, v in (("gte", self.since), ("lt", self.until)) if v}
            terms.append({"range": {"opened_at": bounds}})
        return {"bool": {"filter": terms}}


class IncidentStore:
    def __init__(self, es: Elasticsearch, settings: Settings) -> None:
        self.es = es
        self.settings = settings

    def ensure(self) -> None:
        install_incident_template(self.es, self.settings)

    def get(self, incident_id: str) -> Versioned:
        try:
            found = self.es.get(index=INCIDENTS_INDEX, id=incident_id)
        except NotFoundError:
            raise NotFound(f"no incident {incident_id!r}") from None
        return Versioned(Incident.model_validate(found["_source"]), found["_seq_no"], found["_primary_term"])

    def create(self, incident: Incident) -> Versioned | None:
        """Store a new incident; None when one with this id exists already (a redelivered alert)."""
        try:
            result = self.es.create(index=INCIDENTS_INDEX, id=incident.id, document=incident.to_document(),
                                    refresh=True)  # fmt: skip
        except ConflictError:
            return None
        return Versioned(incident, result["_seq_no"], result["_primary_term"])

    def save(self, versioned: Versioned, *, refresh: bool | str = False) -> Versioned:
        try:
            result = self.es.index(
                index=INCIDENTS_INDEX, id=versioned.incident.id, document=versioned.incident.to_document(),
                if_seq_no=versioned.seq_no, if_primary_term=versioned.primary_term, refresh=refresh,
            )  # fmt: skip
        except ConflictError:
            raise ConcurrentModification(
                f"incident {versioned.incident.id} was changed by someone else: read it again and retry"
            ) from None
        return Versioned(versioned.incident, result["_seq_no"], result["_primary_term"])

    def update(self, incident_id: str, change: Callable[[Incident], bool]) -> Versioned:
        """Read, change, write; on a concurrent write read again and re-apply. `change` returns False for
        "nothing to write"."""
        for _ in range(MAX_RETRIES):
            current = self.get(incident_id)
            if not change(current.incident):
                return current
            try:
                return self.save(current)
            except ConcurrentModification:
                continue
        raise ConcurrentModification(f"incident {incident_id} kept changing during {MAX_RETRIES} attempts")

    def search(self, flt: IncidentFilter, *, size: int = 50, offset: int = 0) -> tuple[list[Versioned], int]:
        if not self.es.indices.exists(index=INCIDENTS_INDEX):
            return [], 0
        found = self.es.search(index=INCIDENTS_INDEX, query=flt.query(), size=size, from_=offset,
                               sort=[{"opened_at": "desc"}, {"id": "asc"}], seq_no_primary_term=True,
                               track_total_hits=True)  # fmt: skip
        hits = found["hits"]
        return [self._versioned(h) for h in hits["hits"]], int(hits["total"]["value"])

    def open_for(self, entity_key: str, playbook_id: str) -> list[Versioned]:
        """Open, non-drill incidents of this playbook about this entity: the candidates an alert may join."""
        kind, _, value = entity_key.partition(":")
        query = {"bool": {
            "filter": [{"term": {"playbook": playbook_id}}, {"term": {"entity.kind": kind}},
                       {"term": {"entity.value": value}}, {"term": {"drill": False}}],
            "must_not": [{"terms": {"status": ["resolved", "closed", "cancelled"]}}],
        }}  # fmt: skip
        return self._all(query)

    def needing_work(self, now: datetime) -> list[str]:
        """Incidents with a timer due by `now`, a running step or an unsent message."""
        if self.es.indices.exists(index=INCIDENTS_INDEX):
            # Saves do not wait for a refresh; the tick must see the timer a save just set, or it fires late.
            self.es.indices.refresh(index=INCIDENTS_INDEX)
        query = {"bool": {"should": [{"range": {"wake_at": {"lte": now.isoformat()}}}, {"term": {"work": True}}],
                          "minimum_should_match": 1}}  # fmt: skip
        return [v.incident.id for v in self._all(query)]

    def alerts(self, alert_ids: list[str]) -> list[Alert]:
        if not alert_ids or not self.es.indices.exists(index=ALERTS_INDEX):
            return []
        found = self.es.mget(index=ALERTS_INDEX, ids=alert_ids)
        return [Alert.model_validate(d["_source"]) for d in found["docs"] if d.get("found")]

    def _all(self, query: dict[str, Any]) -> list[Versioned]:
        if not self.es.indices.exists(index=INCIDENTS_INDEX):
            return []
        found = self.es.search(index=INCIDENTS_INDEX, query=query, size=1000, seq_no_primary_term=True)
        return [self._versioned(h) for h in found["hits"]["hits"]]

    @staticmethod
    def _versioned(hit: dict[str, Any]) -> Versioned:
        return Versioned(Incident.model_validate(hit["_source"]), hit["_seq_no"], hit["_primary_term"])
