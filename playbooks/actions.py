"""The automated steps' actions: enrich (saved queries), preserve (a legal hold), report, contain.

Each returns an `Outcome` and never raises for a failure of the outside world: a failed action is a
step state a responder sees and can retry or finish by hand. Every action is safe to run again after a
crash: queries only read, the hold id is fixed per incident and step, a report is re-rendered, and a
containment webhook carries the idempotency key. A containment *command* cannot promise that, so one
interrupted mid-run is not re-run but failed for a person to check (see `Executor.contain`).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import yaml
from elasticsearch import ApiError, Elasticsearch, TransportError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import ConfigError, HoldError
from core.models.hold import HoldRequest
from core.models.incident import Attachment, Incident
from core.settings import Settings
from playbooks.schema import ContainStep, EnrichStep, PreserveStep, ReportStep
from playbooks.store import IncidentStore
from retention.holds import ENTITY_FIELDS, place_hold

log = logging.getLogger(__name__)
SAMPLE_FIELDS = ("@timestamp", "event.code", "event.action", "user.name", "host.name", "source.ip", "message")


class ActionModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookAction(ActionModel):
    type: Literal["webhook"]
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = 15


class CommandAction(ActionModel):
    type: Literal["command"]
    argv: list[str] = Field(min_length=1, description="{entity}, {entity_kind}, {entity_value}, {incident} filled")
    timeout_s: float = 60


class ActionsConfig(ActionModel):
    actions: dict[str, Annotated[WebhookAction | CommandAction, Field(discriminator="type")]] = Field(
        default_factory=dict
    )

    @classmethod
    def load(cls, path: Path | None) -> ActionsConfig:
        if path is None:
            return cls()
        try:
            return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise ConfigError(f"playbook actions file {path}: {exc}") from exc


@dataclass
class Outcome:
    ok: bool
    detail: str
    attachments: list[Attachment] = field(default_factory=list)


class Executor:
    def __init__(self, es: Elasticsearch, settings: Settings, store: IncidentStore, actions: ActionsConfig) -> None:
        self.es, self.settings, self.store, self.actions = es, settings, store, actions

    def enrich(self, incident: Incident, step: EnrichStep, now: datetime) -> Outcome:
        if incident.entity is None:
            return Outcome(False, "the incident has no entity to search around")
        start = incident.first_seen or incident.detected_at
        end = incident.last_seen or incident.detected_at
        attachments = []
        for saved in step.queries:
            query = self._query(incident, saved.query, start - saved.before, end + saved.after)
            try:
                found = self.es.search(
                    index=saved.index, query=query, size=saved.size, sort=[{"@timestamp": "asc"}],
                    track_total_hits=True, ignore_unavailable=True, allow_no_indices=True,
                )  # fmt: skip
            except (ApiError, TransportError) as exc:
                return Outcome(False, f"query {saved.name!r} failed: {exc}")
            hits = found["hits"]
            rows = [_row(h["_source"]) for h in hits["hits"]]
            total = int(hits["total"]["value"])
            attachments.append(Attachment(
                name=saved.name, kind="query", at=now, count=total, rows=rows, ref=f"{saved.index} {saved.query}",
                summary=f"{total} events for {incident.entity.key} in {saved.index} "
                        f"{(start - saved.before).isoformat()} – {(end + saved.after).isoformat()}",
            ))  # fmt: skip
        return Outcome(True, f"{len(attachments)} queries attached", attachments)

    @staticmethod
    def _query(incident: Incident, text: str, start: datetime, end: datetime) -> dict[str, Any]:
        assert incident.entity is not None
        fields = ENTITY_FIELDS.get(incident.entity.kind, ("vigil.entity",))
        entity = {"bool": {"should": [{"term": {f: incident.entity.value}} for f in fields]
                           + [{"term": {"vigil.entity": incident.entity.key}}], "minimum_should_match": 1}}  # fmt: skip
        return {"bool": {"filter": [
            {"query_string": {"query": text, "lenient": True}}, entity,
            {"range": {"@timestamp": {"gte": start.isoformat(), "lte": end.isoformat()}}},
        ]}}  # fmt: skip

    def preserve(self, incident: Incident, step: PreserveStep, now: datetime) -> Outcome:
        start = (incident.first_seen or incident.detected_at) - step.before
        end = None if step.after is None else (incident.last_seen or incident.detected_at) + step.after
        request = HoldRequest.model_validate({
            "entity": incident.entity.key if incident.entity else "*", "category": step.category,
            "from": start, "to": end, "incident_id": incident.id, "created_by": f"playbook:{incident.playbook}",
            "reason": ("演练 drill: " if incident.drill else "") + f"incident {incident.id}: {incident.title}",
        })  # fmt: skip
        hold_id = f"{incident.id}-{step.id}"[:64]
        try:
            hold = place_hold(self.es, self.settings, request, hold_id=hold_id, now=now)
        except (HoldError, ApiError, TransportError) as exc:
            return Outcome(False, f"legal hold not placed: {exc}")
        until = hold.to.isoformat() if hold.to else "open-ended"
        summary = f"legal hold {hold.id} on {hold.entity} from {hold.from_.isoformat()} to {until}"
        return Outcome(
            True, summary, [Attachment(name="legal-hold", kind="hold", at=now, summary=summary, ref=hold.id)]
        )

    def report(self, incident: Incident, step: ReportStep, now: datetime) -> Outcome:
        from reports.incident_report import incident_report_html

        alerts = self.store.alerts(incident.alert_ids)
        attachments = []
        for lang in step.langs:
            html = incident_report_html(incident, alerts, lang, authority=step.report == "authority",
                                        zone=self.settings.timezone, now=now)  # fmt: skip
            digest = hashlib.sha256(html.encode()).hexdigest()
            attachments.append(Attachment(
                name=f"{step.report}-report-{lang}", kind="report", at=now, ref=f"{step.report}:{lang}:{digest[:16]}",
                summary=f"{step.report} report ({lang}) rendered: {len(html)} characters, sha256 {digest}",
            ))  # fmt: skip
        return Outcome(True, f"{step.report} report rendered in {', '.join(step.langs)}", attachments)

    def contain(self, incident: Incident, step: ContainStep, key: str, *, resumed: bool) -> Outcome:
        action = self.actions.actions.get(step.action)
        if action is None:
            return Outcome(False, f"action {step.action!r} is not configured (VIGIL_PLAYBOOK_ACTIONS_FILE): "
                                  "contain by hand and complete the step with evidence")  # fmt: skip
        values = {"entity": incident.entity.key if incident.entity else "", "incident": incident.id,
                  "entity_kind": incident.entity.kind if incident.entity else "",
                  "entity_value": incident.entity.value if incident.entity else ""}  # fmt: skip
        if isinstance(action, WebhookAction):
            body = {"action": step.action, "key": key, "drill": incident.drill, **values}
            try:
                response = httpx.post(action.url, json=body, timeout=action.timeout_s,
                                      headers={**action.headers, "X-Vigil-Delivery": key})  # fmt: skip
            except httpx.HTTPError as exc:
                return Outcome(False, f"webhook {action.url} failed: {exc}")
            ok = response.is_success
            return Outcome(ok, f"webhook {action.url} answered {response.status_code}")
        if resumed:
            return Outcome(False, f"command {step.action!r} was interrupted by a restart; its outcome is unknown: "
                                  "check by hand, then complete the step with evidence")  # fmt: skip
        if incident.drill:
            return Outcome(True, f"演练 drill: command {step.action!r} not run")
        argv = [part.format_map(values) for part in action.argv]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=action.timeout_s, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Outcome(False, f"command {argv[0]} failed: {exc}")
        tail = (done.stdout + done.stderr).strip()[-500:]
        return Outcome(done.returncode == 0, f"command {argv[0]} exited {done.returncode}: {tail}")


def _row(source: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name in SAMPLE_FIELDS:
        value: Any = source
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            out[name] = str(value)[:500]
    return out
