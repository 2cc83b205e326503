"""The lifecycle every stateful detector follows (Sigma correlation, policy detectors, flatline).

A detector is fed events in arrival order with the Sigma rules each matched, and ticked with the
current time; it returns alert drafts. Its state is a pydantic model it can snapshot and restore,
so the stream worker checkpoints it beside the Kafka offsets and a restart resumes mid-window.
Time is injected: event time comes from the event, "now" only from `on_tick(now)`. Detectors do
no I/O; the inventory and settings they need are given to their constructor.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, Field

from core.models.alert import AlertDraft
from core.models.ecs import EcsEvent


class SigmaHit(BaseModel):
    """A Sigma detection rule that matched the event (what correlation rules count)."""

    rule_id: str
    title: str
    level: str | None = None
    tags: tuple[str, ...] = ()
    name: str | None = Field(default=None, description="the rule's `name`, which correlation rules may reference")


@runtime_checkable
class Detector(Protocol):
    """One stateful detector. `name` is stable: it keys the detector's checkpoint."""

    name: str

    def on_event(self, event: EcsEvent, hits: Sequence[SigmaHit]) -> list[AlertDraft]:
        """Called once per event, in arrival order (which may differ from event time)."""
        ...

    def on_tick(self, now: datetime) -> list[AlertDraft]:
        """Called periodically with the clock: close windows, expire state, fire flatline alerts."""
        ...

    def snapshot(self) -> BaseModel:
        """The whole state, as a model the worker serialises with `model_dump_json`."""
        ...

    def restore(self, state: dict[str, object]) -> None:
        """Load a state previously produced by `snapshot().model_dump(mode="json")`."""
        ...
