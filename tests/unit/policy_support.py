"""Helpers for the policy-detector tests: events built by hand (`event`) or by the real parsers
(`parse`), a fake clock, and a restart (snapshot → JSON → restore into a fresh detector)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from core.models.alert import AlertDraft
from core.models.ecs import EcsEvent
from detectors.base import Detector
from detectors.inventory import EntityIndex, load_inventory
from ingest.parsers.base import ParseContext
from ingest.parsers.registry import parse_record

SHANGHAI = ZoneInfo("Asia/Shanghai")
SAMPLE_INVENTORY = Path(__file__).resolve().parents[2] / "detectors" / "policy" / "sample_inventory.yml"
# Tuesday 2026-12-01 10:00 in Shanghai: inside working hours.
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
CTX = ParseContext(source="test", received_at=datetime(2026, 12, 2, tzinfo=UTC), zone=SHANGHAI)

D = TypeVar("D", bound=Detector)


def sample_index() -> EntityIndex:
    return EntityIndex.build(load_inventory(SAMPLE_INVENTORY))


def _nest(fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in fields.items():
        *parents, leaf = key.split("__")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


_counter = iter(range(10**9))


def event(ts: datetime | float, **fields: Any) -> EcsEvent:
    """An ECS event at `ts` (a datetime, or minutes after T0); `a__b=v` sets nested field a.b.

    Shortcuts: user, host, ip (source.ip), path (file.path), action, outcome, category, type, code.
    """
    when = ts if isinstance(ts, datetime) else T0 + timedelta(minutes=ts)
    short = {"user": "user__name", "host": "host__name", "ip": "source__ip", "path": "file__path",
             "action": "event__action", "outcome": "event__outcome", "category": "event__category",
             "type": "event__type", "code": "event__code"}  # fmt: skip
    mapped = {short.get(k, k): v for k, v in fields.items()}
    for key in ("event__category", "event__type"):
        if isinstance(mapped.get(key), str):
            mapped[key] = [mapped[key]]
    doc = _nest(mapped)
    doc.setdefault("event", {}).setdefault("id", f"ev-{next(_counter)}")
    doc["@timestamp"] = when
    doc["vigil"] = {"category": "user", "source": "test", "parser": "test"}
    ev = EcsEvent.model_validate(doc)
    ev.vigil.entity = ev.entity()
    return ev


def login(ts: datetime | float, user: str, ip: str | None = None, *, host: str = "srv01",
          outcome: str = "success", **fields: Any) -> EcsEvent:  # fmt: skip
    extra = {"ip": ip} if ip else {}
    return event(ts, user=user, host=host, category="authentication", type="start", outcome=outcome,
                 action="logged-in" if outcome == "success" else "logon-failed", **extra, **fields)  # fmt: skip


def parse(line: str, fmt: str = "auto", ctx: ParseContext = CTX) -> EcsEvent:
    return parse_record(line, fmt, ctx)


def feed(detector: Detector, events: Iterable[EcsEvent]) -> list[AlertDraft]:
    return [alert for ev in events for alert in detector.on_event(ev, [])]


def restart(detector: D, factory: Callable[[], D]) -> D:
    """What the stream worker does across a restart: state to JSON text, back into a new instance."""
    text = detector.snapshot().model_dump_json()
    fresh = factory()
    fresh.restore(json.loads(text))
    return fresh


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def rules(alerts: Iterable[AlertDraft]) -> list[str]:
    return [a.rule.id for a in alerts]
