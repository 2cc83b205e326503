"""Shared by the hunt integration tests: real attack events, normalised and indexed like the pipeline does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from elasticsearch import Elasticsearch

from core.index_templates import install_templates
from core.models.ecs import EcsEvent
from core.names import LOGS_PATTERN, Topic
from core.settings import Settings
from ingest.collectors.file_import import iter_file_envelopes
from ingest.indexer import bulk_actions, index_batch
from ingest.normaliser import normalise
from tests.datasets import dataset

ATTACK = ("attack", "mdecrevoisier")


def attack_events(prefix: str, *folder: str, shift: timedelta = timedelta(0)) -> list[EcsEvent]:
    """The events of the attack files under `folder`, `source` = prefix + file name, in event-time order
    (as live traffic arrives), optionally shifted in time (shifted events get their own ids)."""
    out: list[EcsEvent] = []
    for path in sorted(dataset(*ATTACK, *folder).rglob("*.jsonl")):
        for envelope in iter_file_envelopes(path, source=f"{prefix}{path.name}", fmt="windows"):
            event = normalise(envelope, ZoneInfo("UTC"))
            assert isinstance(event, EcsEvent), event
            out.append(event)
    out.sort(key=lambda e: e.timestamp)
    if shift:
        out = [e.model_copy(update={"timestamp": e.timestamp + shift}) for e in out]
    return out


def index_events(es: Elasticsearch, settings: Settings, events: Sequence[EcsEvent], index: str | None = None) -> None:
    """Through the indexer's own functions: ECS document, daily index, deterministic id, event.ingested.

    `index` puts them all in one `logs-<category>-<name>` index instead (same template): thousands of
    queries over the 180 daily indices these years of attack samples span would take an hour here."""
    install_templates(es, settings)
    docs = [bulk_actions(Topic.EVENTS.value, e.model_dump_json(by_alias=True, exclude_none=True).encode())
            for e in events]  # fmt: skip
    if index is not None:
        docs = [(index, doc_id, doc) for _, doc_id, doc in docs]
    for i in range(0, len(docs), 2000):
        rejected = index_batch(es, docs[i : i + 2000])
        assert not rejected, rejected[:3]
    es.indices.refresh(index=LOGS_PATTERN)


def sources_scope(events: Iterable[EcsEvent]) -> dict[str, object]:
    """A filter on these events' log sources: tests share one Elasticsearch."""
    return {"terms": {"vigil.source": sorted({e.vigil.source for e in events})}}


def rule_paths() -> list[Path]:
    return [dataset("sigma", d) for d in ("rules", "rules-threat-hunting", "rules-emerging-threats")]
