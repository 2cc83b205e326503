"""Component health samples: availability = ok samples / expected samples (one per minute).

The scheduler calls `sample` each minute. A sample's id is the component and the minute, so a
restarted or doubled sampler never counts a minute twice, and a minute with no sample (sampler or
host down) counts as unavailable: absence of evidence is not availability.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime

from elasticsearch import ApiError, Elasticsearch, TransportError
from pydantic import AwareDatetime, BaseModel

from core.settings import Settings
from reports.indices import HEALTH_INDEX

COMPONENTS = ("elasticsearch", "kafka", "scheduler")


class HealthSample(BaseModel):
    component: str
    ok: bool
    at: AwareDatetime
    detail: str | None = None

    @property
    def id(self) -> str:
        return f"{self.component}:{self.at.astimezone(UTC):%Y-%m-%dT%H:%M}"


def check_kafka(settings: Settings) -> tuple[bool, str | None]:
    """A TCP connect to the first bootstrap server: cheap, and what every client needs first."""
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True, None
    except OSError as exc:
        return False, str(exc)[:500]


def check_elasticsearch(es: Elasticsearch) -> tuple[bool, str | None]:
    try:
        status = es.cluster.health(timeout="3s")["status"]
    except (ApiError, TransportError) as exc:
        return False, str(exc)[:500]
    return status in ("green", "yellow"), status


def record(es: Elasticsearch, samples: list[HealthSample]) -> None:
    operations: list[dict[str, object]] = []
    for s in samples:
        operations += [{"index": {"_index": HEALTH_INDEX, "_id": s.id}}, s.model_dump(mode="json")]
    es.bulk(operations=operations)


def sample(
    es: Elasticsearch,
    settings: Settings,
    now: datetime,
    kafka_check: Callable[[Settings], tuple[bool, str | None]] = check_kafka,
) -> list[HealthSample]:
    """Check each component and record one sample each; Elasticsearch down means nothing can be written,
    which the missing minutes then show."""
    es_ok, es_detail = check_elasticsearch(es)
    kafka_ok, kafka_detail = kafka_check(settings)
    samples = [
        HealthSample(component="elasticsearch", ok=es_ok, at=now, detail=es_detail),
        HealthSample(component="kafka", ok=kafka_ok, at=now, detail=kafka_detail),
        HealthSample(component="scheduler", ok=True, at=now),
    ]
    if es_ok:
        record(es, samples)
    return samples
