"""The audit trail: every read of logs (and of the trail itself) becomes a document in `vigil-audit`.

Written synchronously before the response leaves; if Elasticsearch does not acknowledge the audit
document the request fails with 503 and the logs are not returned (policy: who looked at which
logs must always be answerable, so an unaudited read is not allowed).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from elasticsearch import ApiError, Elasticsearch, TransportError
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.errors import AuditUnavailable
from api.permissions import Role
from api.tokens import Principal
from core.names import AUDIT_INDEX

KEYWORD = {"type": "keyword", "ignore_above": 4096}

AUDIT_MAPPINGS: dict[str, Any] = {
    "dynamic": False,  # filters vary per endpoint: kept in _source, the fixed fields are indexed
    "properties": {
        "@timestamp": {"type": "date"},
        "actor": {"properties": {"token_id": KEYWORD, "name": KEYWORD, "role": KEYWORD}},
        "action": KEYWORD,
        "endpoint": KEYWORD,
        "method": KEYWORD,
        "client_ip": {"type": "ip", "ignore_malformed": True},
        "query": {"type": "text", "fields": {"raw": KEYWORD}},
        "filters": {"type": "object", "enabled": False},
        "time_range": {"properties": {"from": KEYWORD, "to": KEYWORD}},
        "hits": {"type": "long"},
        "returned": {"type": "long"},
        "status": {"type": "long"},
    },
}


class Actor(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token_id: str
    name: str
    role: Role

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(token_id=principal.token_id, name=principal.name, role=principal.role)


class TimeRange(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(None, alias="from")
    to: str | None = None


class AuditRecord(BaseModel):
    """One audited read, as stored in `vigil-audit` and as `GET /audit` returns it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str
    timestamp: AwareDatetime = Field(alias="@timestamp")
    actor: Actor
    action: str = Field(description="what was read, e.g. `events.search`, `audit.search`")
    method: str
    endpoint: str
    client_ip: str | None = None
    query: str | None = Field(None, description="the `q` query string, verbatim")
    filters: dict[str, Any] = Field(default_factory=dict, description="every other parameter as sent")
    time_range: TimeRange = Field(default_factory=lambda: TimeRange.model_validate({}))
    hits: int = Field(description="total matching documents")
    returned: int = Field(description="documents in the response")
    status: int = Field(200, description="200: read; 403: refused (the role lacks the permission)")

    def to_document(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude={"id"})


class AuditTrail:
    """Writes audit records; installs the index mapping once, on the first write."""

    def __init__(self, es: Elasticsearch, replicas: int) -> None:
        self.es = es
        self.replicas = replicas
        self._ready = False
        self._lock = threading.Lock()

    def ensure_index(self) -> None:
        if self._ready:
            return
        with self._lock:
            if not self.es.indices.exists(index=AUDIT_INDEX):
                try:
                    self.es.indices.create(
                        index=AUDIT_INDEX,
                        settings={"number_of_shards": 1, "number_of_replicas": self.replicas},
                        mappings=AUDIT_MAPPINGS,
                    )
                except ApiError as exc:
                    if exc.meta.status != 400 or "resource_already_exists" not in str(exc):
                        raise
            self._ready = True

    def record(
        self,
        principal: Principal,
        *,
        action: str,
        method: str,
        endpoint: str,
        client_ip: str | None,
        query: str | None,
        filters: dict[str, Any],
        time_range: TimeRange,
        hits: int,
        returned: int,
        status: int = 200,
    ) -> AuditRecord:
        entry = AuditRecord.model_validate(
            {
                "id": uuid.uuid4().hex,
                "@timestamp": datetime.now(UTC),
                "actor": Actor.of(principal),
                "action": action,
                "method": method,
                "endpoint": endpoint,
                "client_ip": client_ip,
                "query": query,
                "filters": filters,
                "time_range": time_range,
                "hits": hits,
                "returned": returned,
                "status": status,
            }
        )
        try:
            self.ensure_index()
            self.es.index(index=AUDIT_INDEX, id=entry.id, document=entry.to_document(), op_type="create")
        except (ApiError, TransportError) as exc:
            raise AuditUnavailable(
                f"the audit trail ({AUDIT_INDEX}) could not be written, so the result is withheld: {exc}"
            ) from exc
        return entry
