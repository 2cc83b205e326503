"""The playbook worker: alerts from `vigil.alerts` open or join incidents; timers, actions and the outbox
move them on.

Durability, step by step: a transition is decided by pure code (progress.py) and saved with optimistic
concurrency before anything leaves the process; an automated step's action runs only after its intent is
saved and its outcome is saved after; a message is sent only from the saved outbox and marked sent after.
Killed anywhere, the worker restarts from the documents: due timers fire once (their firing is saved with
the messages it queued), running steps run again (idempotent actions) or fail for a person to check
(a containment command), unsent messages are sent with the same idempotency key. Kafka offsets are
committed after the incidents of a batch are saved; a redelivered alert finds its incident by id.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import ValidationError

from core import clients
from core.models.alert import Alert
from core.models.incident import Delivery, Incident, StepStatus
from core.names import Topic
from core.settings import Settings
from playbooks import transitions
from playbooks.actions import Executor, Outcome
from playbooks.delivery import Dispatcher
from playbooks.loader import Catalog, LoadedPlaybook
from playbooks.progress import ENGINE, Context, advance, finish, log
from playbooks.roster import Roster
from playbooks.roster_file import RosterFile
from playbooks.schema import ContainStep, EnrichStep, PreserveStep, ReportStep
from playbooks.store import IncidentStore
from playbooks.triggers import choose, joins

logger = logging.getLogger(__name__)
Clock = Callable[[], datetime]
MAX_ROUNDS = 64  # work rounds per incident per call; every round finishes a step or sends a message
# A failed delivery (SMTP down, webhook 5xx) is tried again after these pauses, with the same key, then given up
# on: the step fails visibly and a responder retries it or reaches people another way.
RETRY_AFTER = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))


class Engine:
    def __init__(self, settings: Settings, *, catalog: Catalog, roster: RosterFile, clock: Clock,
                 store: IncidentStore, executor: Executor, dispatcher: Dispatcher) -> None:  # fmt: skip
        self.settings, self.catalog, self.rosters, self.clock = settings, catalog, roster, clock
        self.store, self.executor, self.dispatcher = store, executor, dispatcher
        self.stop_event = threading.Event()
        self.metrics = {"alerts": 0, "unmatched": 0, "invalid": 0, "opened": 0, "grouped": 0, "sent": 0,
                        "actions": 0}  # fmt: skip

    @property
    def roster(self) -> Roster:
        """Looked up for every incident moved on: a roster saved meanwhile applies from the next page."""
        return self.rosters.current()

    def context(self, incident: Incident) -> Context | None:
        if incident.playbook is None:
            return None
        try:
            loaded = self.catalog.get(incident.playbook)
        except KeyError:
            logger.error("incident %s runs playbook %s, which is not loaded", incident.id, incident.playbook)
            return None
        if incident.playbook_digest and loaded.digest != incident.playbook_digest:
            logger.warning("playbook %s changed since incident %s started; steps follow by id", loaded.playbook.id,
                           incident.id)  # fmt: skip
        return Context(playbook=loaded.playbook, roster=self.roster, link=self.dispatcher.link)

    # -- alerts ---------------------------------------------------------------------------------------------
    def on_alerts(self, alerts: Iterable[Alert]) -> list[str]:
        """File the alerts into incidents, then move those incidents on."""
        touched = self.file_alerts(alerts)
        for incident_id in touched:
            self.process(incident_id)
        return touched

    def file_alerts(self, alerts: Iterable[Alert]) -> list[str]:
        """Open or join incidents (durably); the incidents touched, in order. One lookup per entity and
        playbook, not per alert: a flood of repeats about one account is one read and one write."""
        groups: dict[tuple[str, str], tuple[LoadedPlaybook, list[Alert]]] = {}
        for alert in alerts:
            self.metrics["alerts"] += 1
            loaded = choose(self.catalog.playbooks, alert)
            if loaded is None:
                self.metrics["unmatched"] += 1
                continue
            groups.setdefault((alert.entity.key, loaded.playbook.id), (loaded, []))[1].append(alert)
        touched: list[str] = []
        for (entity_key, _), (loaded, members) in groups.items():
            for incident_id in self._file_group(entity_key, loaded, sorted(members, key=lambda a: a.timestamp)):
                if incident_id not in touched:
                    touched.append(incident_id)
        return touched

    def _file_group(self, entity_key: str, loaded: LoadedPlaybook, alerts: list[Alert]) -> list[str]:
        now, playbook = self.clock(), loaded.playbook
        # Decide in memory which incident each alert joins (earlier alerts of the batch widen the incidents'
        # time spans as they would one by one), then write each incident once.
        candidates = [v.incident for v in self.store.open_for(entity_key, playbook.id)]
        assigned: dict[str, list[Alert]] = {}
        opened: list[Incident] = []
        for alert in alerts:
            target = next((c for c in candidates if joins(c, alert, playbook.id, playbook.group_window)), None)
            if target is None:
                target = transitions.open_from_alert(alert, loaded, now)
                candidates.append(target)
                opened.append(target)
            else:
                transitions.add_alerts(target, [alert], now)
                self.metrics["grouped"] += 1
            assigned.setdefault(target.id, []).append(alert)
        for incident in opened:
            if self.store.create(incident) is not None:
                self.metrics["opened"] += 1
                assigned[incident.id] = assigned[incident.id][1:]  # the opening alert is in it already
        for incident_id, joined in assigned.items():
            if joined:  # redelivered alerts are in the incident already: add_alerts writes nothing then
                self.store.update(incident_id, lambda inc, a=joined: transitions.add_alerts(inc, a, now))  # type: ignore[misc]
        return list(assigned)

    # -- moving incidents on ----------------------------------------------------------------------------------
    def tick(self) -> None:
        for incident_id in self.store.needing_work(self.clock()):
            self.process(incident_id)

    def process(self, incident_id: str) -> None:
        for _ in range(MAX_ROUNDS):
            current = self.store.get(incident_id).incident
            ctx = self.context(current)
            if ctx is None:
                return
            if advance(current, ctx, self.clock()):
                self.store.update(incident_id, lambda inc, c=ctx: advance(inc, c, self.clock()))  # type: ignore[misc]
                continue
            now = self.clock()
            unsent = next((o for o in current.outbox if o.due(now)), None)
            if unsent is not None:
                self._send(incident_id, unsent.key)
                continue
            running = next((s for s in current.steps if s.status is StepStatus.RUNNING and s.kind != "notify"), None)
            if running is None:
                return
            self._run(incident_id, running.step_id, ctx)

    def _send(self, incident_id: str, key: str) -> None:
        incident = self.store.get(incident_id).incident
        outgoing = next(o for o in incident.outbox if o.key == key)
        sent = self.dispatcher.send(incident, outgoing, self.clock())
        self.metrics["sent"] += 1
        now = self.clock()

        def record(inc: Incident) -> bool:
            entry = next(o for o in inc.outbox if o.key == key)
            if entry.sent_at is not None:
                return False
            entry.attempts += 1
            entry.ok, entry.detail = sent.ok, sent.detail
            if not sent.ok and sent.retryable and entry.attempts <= len(RETRY_AFTER):
                entry.retry_at = now + RETRY_AFTER[entry.attempts - 1]
                detail = f"{entry.channel}: {sent.detail}; again at {entry.retry_at.isoformat()}"
                log(inc, now, ENGINE, "delivery_failed", entry.step_id, detail)
                return True
            entry.sent_at, entry.retry_at = now, None
            if entry.step_id:  # the step's own record of what reached whom (the incident report lists it)
                inc.step(entry.step_id).deliveries.append(Delivery(key=key, channel=entry.channel, ok=sent.ok,
                                                                   detail=sent.detail, at=now,
                                                                   recipients=entry.recipients))  # fmt: skip
            if not sent.ok:
                detail = f"{entry.channel}: {sent.detail}; gave up after {entry.attempts} attempts"
                log(inc, now, ENGINE, "delivery_failed", entry.step_id, detail)
            if entry.purpose == "notify" and entry.step_id:
                _finish_notify(inc, entry.step_id, now)
            return True

        self.store.update(incident_id, record)

    def _run(self, incident_id: str, step_id: str, ctx: Context) -> None:
        step = ctx.playbook.step(step_id)
        now = self.clock()
        state = self.store.get(incident_id).incident.step(step_id)
        resumed = state.intent_at is not None and state.kind == "contain"
        if not resumed:

            def intent(inc: Incident) -> bool:
                inc.step(step_id).intent_at = now
                return True

            self.store.update(incident_id, intent)  # saved before the action runs
        incident = self.store.get(incident_id).incident
        key = f"{incident.id}:{step_id}:{state.attempts}"
        self.metrics["actions"] += 1
        outcome = self._execute(incident, step, key, resumed, now)
        done_at = self.clock()

        def result(inc: Incident) -> bool:
            target = inc.step(step_id)
            if target.status is not StepStatus.RUNNING:
                return False
            target.attachments.extend(outcome.attachments)
            if outcome.ok:
                finish(inc, target, StepStatus.DONE, done_at, ENGINE, detail=outcome.detail)
            else:
                target.status, target.detail = StepStatus.FAILED, outcome.detail
                log(inc, done_at, ENGINE, "step_failed", step_id, outcome.detail)
            return True

        self.store.update(incident_id, result)

    def _execute(self, incident: Incident, step: object, key: str, resumed: bool, now: datetime) -> Outcome:
        try:
            if isinstance(step, EnrichStep):
                return self.executor.enrich(incident, step, now)
            if isinstance(step, PreserveStep):
                return self.executor.preserve(incident, step, now)
            if isinstance(step, ReportStep):
                return self.executor.report(incident, step, now)
            if isinstance(step, ContainStep):
                return self.executor.contain(incident, step, key, resumed=resumed)
        except Exception as exc:  # a defect in an action must fail its step, visibly, not stop the worker
            logger.exception("step %s of incident %s raised", getattr(step, "id", "?"), incident.id)
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        return Outcome(False, f"no action for step kind {getattr(step, 'kind', '?')}")

    # -- the worker loop ------------------------------------------------------------------------------------
    def run(self, idle_exit_s: float | None = None) -> dict[str, int]:
        clients.ensure_topics(self.settings)
        self.store.ensure()
        self.tick()  # resume: whatever was due or half done when the last worker stopped
        consumer = clients.consumer(self.settings, self.settings.playbooks_group, Topic.ALERTS.value)
        logger.info("playbooks worker: %d playbooks, group %s, reading %s", len(self.catalog.ids()),
                    self.settings.playbooks_group, Topic.ALERTS.value)  # fmt: skip
        idle = 0.0
        try:
            while not self.stop_event.is_set():
                polled = consumer.poll(timeout_ms=int(self.settings.playbook_tick_s * 1000),
                                       max_records=self.settings.playbook_batch_size)  # fmt: skip
                records = [r for batch in polled.values() for r in batch]
                if records:
                    idle = 0.0
                    touched = self.file_alerts(self._parse(r.value for r in records))
                    # Filed is durable: from here the incidents' own state drives the work, so the offsets
                    # need not wait for (slow) playbook steps, and a restart resumes them by `tick`.
                    clients.commit(consumer)
                    for incident_id in touched:
                        self.process(incident_id)
                else:
                    idle += self.settings.playbook_tick_s
                    if idle_exit_s is not None and idle >= idle_exit_s:
                        break
                self.tick()
        finally:
            consumer.close()
        return dict(self.metrics)

    def _parse(self, values: Iterable[bytes]) -> list[Alert]:
        alerts = []
        for value in values:
            try:
                alerts.append(Alert.model_validate_json(value))
            except ValidationError as exc:
                self.metrics["invalid"] += 1
                logger.error("message on vigil.alerts is not an alert, skipped: %s", exc.errors()[0])
        return alerts


def _finish_notify(incident: Incident, step_id: str, now: datetime) -> None:
    state = incident.step(step_id)
    if state.status is not StepStatus.RUNNING:
        return
    prefix = f"{incident.id}:{step_id}:{state.attempts}:"
    entries = [o for o in incident.outbox if o.key.startswith(prefix)]
    if any(o.sent_at is None for o in entries):
        return
    failed = [f"{o.channel}: {o.detail}" for o in entries if not o.ok]
    if failed:
        state.status, state.detail = StepStatus.FAILED, "; ".join(failed)
        log(incident, now, ENGINE, "step_failed", step_id, state.detail)
    else:
        finish(incident, state, StepStatus.DONE, now, ENGINE, detail=f"delivered on {len(entries)} channels")
