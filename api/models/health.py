"""`GET /health`: the pipeline's backends and how far each Vigil consumer group lags."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from api.models.common import PublicModel


class Liveness(PublicModel):
    status: Literal["ok"] = "ok"


class BackendHealth(PublicModel):
    reachable: bool
    detail: str | None = None


class KafkaHealth(BackendHealth):
    brokers: int | None = None


class ElasticsearchHealth(BackendHealth):
    status: str | None = None  # green / yellow / red
    nodes: int | None = None


class PartitionLag(PublicModel):
    topic: str
    partition: int
    committed: int | None
    end: int
    lag: int


class GroupLag(PublicModel):
    group: str
    started: bool = Field(description="false: configured but no offsets committed yet (the worker never ran)")
    lag: int
    partitions: list[PartitionLag]


class HealthPublic(PublicModel):
    status: Literal["ok", "degraded"]
    kafka: KafkaHealth
    elasticsearch: ElasticsearchHealth
    consumer_groups: list[GroupLag]
