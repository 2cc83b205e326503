"""`/health/live` for probes (no token) and `/health` with the backends and consumer lag."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import BackendsDep, HealthReader, SettingsDep
from api.health import elasticsearch_health, kafka_health
from api.models.common import AUTH_RESPONSES
from api.models.health import HealthPublic, Liveness

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live", response_model=Liveness, summary="The process is up (no token, no backend calls)")
def live() -> Liveness:
    return Liveness()


@router.get("", response_model=HealthPublic, responses=AUTH_RESPONSES, summary="Kafka, Elasticsearch, consumer lag")
def health(_user: HealthReader, settings: SettingsDep, backends: BackendsDep) -> HealthPublic:
    es = elasticsearch_health(backends.es)
    kafka, groups = kafka_health(settings)
    return HealthPublic(
        status="ok" if es.reachable and kafka.reachable else "degraded",
        kafka=kafka,
        elasticsearch=es,
        consumer_groups=groups,
    )
