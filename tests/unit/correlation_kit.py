"""Helpers for the correlation tests: events at a fake time, base rules, a harness running the real
Sigma engine and the correlation detector the way the stream worker does (event → hits → on_event)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from core.models.alert import AlertDraft
from core.models.ecs import EcsEvent
from detectors.base import SigmaHit
from detectors.sigma import SigmaEngine
from detectors.sigma.correlation import CorrelationDetector, CorrelationSettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def event(ts: float | datetime, code: str = "4625", *, event_id: str | None = None, **data: Any) -> EcsEvent:
    """A Windows Security event `code` at T0 + ts seconds (or at ts) with these event data fields."""
    n = next(_numbers)
    return EcsEvent.model_validate(
        {
            "@timestamp": ts if isinstance(ts, datetime) else at(ts),
            "event": {"id": event_id or f"evt-{n}", "code": code},
            "winlog": {"channel": "Security", "event_id": code, "record_id": n, "event_data": data},
            "vigil": {"category": "system", "source": "dc01", "parser": "windows"},
        }
    )


def ecs_event(ts: float, dataset: str, **doc: Any) -> EcsEvent:
    """A non-Windows ECS event (webserver, firewall...) with dotted fields given as nested dicts."""
    n = next(_numbers)
    return EcsEvent.model_validate(
        {
            "@timestamp": at(ts),
            **doc,
            "event": {"id": f"evt-{n}", "dataset": dataset, **doc.get("event", {})},
            "vigil": {"category": "network", "source": "edge", "parser": "test"},
        }
    )


def base_rule(name: str, code: str, rule_id: str, *, level: str = "low", tags: tuple[str, ...] = ()) -> str:
    tag_lines = "".join(f"\n    - {t}" for t in tags)
    return f"""title: {name}
id: {rule_id}
name: {name}
level: {level}
tags:{tag_lines or " []"}
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: {code}
    condition: selection
"""


FAILED_ID = "53ba33fd-3a50-4468-a5ef-c583635cfa92"
SUCCESS_ID = "4d0a2c83-c62c-4ed4-b475-c7e23a9269b8"
FAILED = base_rule("failed_login", "4625", FAILED_ID, tags=("attack.credential-access", "attack.t1110"))
SUCCESS = base_rule("successful_login", "4624", SUCCESS_ID)
RECON = "\n---\n".join(
    base_rule(f"recon_cmd_{x}", code, f"00000000-0000-4000-8000-00000000000{i}")
    for i, (x, code) in enumerate((("a", "4798"), ("b", "4799"), ("c", "5140")), start=1)
)


def correlation(kind: str, rules: list[str], *, timespan: str = "1m", group_by: tuple[str, ...] = ("User",),
                condition: str | None = None, extra: str = "", rule_id: str = "c0000000-0000-4000-8000-000000000001",
                level: str = "high", name: str | None = None) -> str:  # fmt: skip
    lines = [f"title: test {kind}", f"id: {rule_id}", f"level: {level}"]
    lines += [f"name: {name}"] if name else []
    lines += ["correlation:", f"    type: {kind}", "    rules:", *(f"        - {r}" for r in rules)]
    lines += ["    group-by:", *(f"        - {g}" for g in group_by)] if group_by else []
    lines += [f"    timespan: {timespan}"]
    lines += ["    condition:", *(f"        {c.strip()}" for c in condition.split(";"))] if condition else []
    return "\n".join(lines) + ("\n" + extra if extra else "") + "\n"


def hits_of(engine: SigmaEngine, event: EcsEvent) -> list[SigmaHit]:
    """What the stream worker hands to detectors: the Sigma rules the event matched."""
    return [
        SigmaHit(rule_id=m.rule_id, title=m.title, level=m.level, tags=m.tags, name=m.name) for m in engine.match(event)
    ]


class Harness:
    def __init__(self, *texts: str, allowance: float = 300, **settings: Any) -> None:
        self.engine = SigmaEngine.from_texts({f"rules{i}.yml": t for i, t in enumerate(texts)})
        assert not self.engine.skipped, self.engine.skipped
        self.detector = CorrelationDetector(
            self.engine.correlations, CorrelationSettings(allowance=timedelta(seconds=allowance), **settings)
        )

    def feed(self, *events: EcsEvent) -> list[AlertDraft]:
        alerts: list[AlertDraft] = []
        for e in events:
            alerts += self.detector.on_event(e, hits_of(self.engine, e))
        return alerts

    def tick(self, seconds: float) -> list[AlertDraft]:
        return self.detector.on_tick(at(seconds))
