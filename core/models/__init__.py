"""Pydantic models at the package boundaries (Kafka messages and Elasticsearch documents)."""

from core.models.ecs import EcsEvent
from core.models.envelope import DeadLetter, RawEnvelope
from core.models.hold import Hold, HoldRequest

__all__ = ["DeadLetter", "EcsEvent", "Hold", "HoldRequest", "RawEnvelope"]
