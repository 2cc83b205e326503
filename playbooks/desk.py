"""What the API does to incidents: read, change by a transition, advance, save under optimistic concurrency.

The desk never runs an action or sends a message itself: a change that starts an automated step or queues
a message leaves the incident marked `work`, and the `playbooks` worker carries it out (with its intent
recorded, see playbooks/engine.py). So an API call is quick, and a crash of the API loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from elasticsearch import Elasticsearch

from core.models.incident import Incident
from core.settings import Settings
from playbooks import transitions
from playbooks.drill import open_drill
from playbooks.errors import ConcurrentModification, InvalidTransition, NotFound, UnknownAlerts
from playbooks.loader import Catalog, LoadedPlaybook
from playbooks.progress import Context, advance
from playbooks.roster import Roster
from playbooks.roster_file import RosterFile
from playbooks.runtime import catalog, roster, system_clock
from playbooks.store import MAX_RETRIES, IncidentStore, Versioned

Change = Callable[[Incident, Context | None, datetime], None]


class Desk:
    def __init__(self, settings: Settings, es: Elasticsearch, clock: Callable[[], datetime] = system_clock) -> None:
        self.settings, self.clock = settings, clock
        self.store = IncidentStore(es, settings)
        self.catalog: Catalog = catalog(settings)
        self.rosters: RosterFile = roster(settings)

    @property
    def roster(self) -> Roster:
        """The roster in force now: an edit of the file shows on the next request."""
        return self.rosters.current()

    def playbook(self, playbook_id: str) -> LoadedPlaybook:
        try:
            return self.catalog.get(playbook_id)
        except KeyError:
            raise NotFound(f"no playbook {playbook_id!r}; loaded: {', '.join(self.catalog.ids())}") from None

    def context(self, incident: Incident) -> Context | None:
        if incident.playbook is None:
            return None
        return Context(playbook=self.playbook(incident.playbook).playbook, roster=self.roster,
                       link=self.settings.console_url)  # fmt: skip

    def get(self, incident_id: str) -> Versioned:
        return self.store.get(incident_id)

    def act(self, incident_id: str, if_match: str | None, change: Change) -> Versioned:
        """Apply `change` to the stored incident. With `if_match` (the ETag the caller saw) the change applies
        to exactly that version or is refused (409). Without it, a write that raced another (the worker's) is
        re-applied to a fresh read; a change the new state no longer allows is refused then."""
        for _ in range(MAX_RETRIES):
            current = self.store.get(incident_id)
            if if_match is not None and if_match.strip('"') != current.version:
                raise ConcurrentModification(
                    f"incident {incident_id} is at version {current.version}, not {if_match}: read it again"
                )
            now = self.clock()
            ctx = self.context(current.incident)
            change(current.incident, ctx, now)
            ctx = ctx or self.context(current.incident)  # a playbook the change started runs its first steps now
            if ctx is not None:
                advance(current.incident, ctx, now)
            try:
                return self.store.save(current, refresh="wait_for")
            except ConcurrentModification:
                if if_match is not None:
                    raise
        raise ConcurrentModification(f"incident {incident_id} kept changing during {MAX_RETRIES} attempts")

    def need_context(self, ctx: Context | None, incident: Incident) -> Context:
        if ctx is None:
            raise InvalidTransition(f"incident {incident.id} runs no playbook: start one first")
        return ctx

    def create(
        self, incident: Incident, playbook_id: str | None, actor: str, alert_ids: Sequence[str] = ()
    ) -> Versioned:
        """Store a new incident, grouping `alert_ids` into it (each must be stored) and starting the playbook."""
        self.store.ensure()
        now = self.clock()
        if alert_ids:
            found = self.store.alerts(list(dict.fromkeys(alert_ids)))
            missing = sorted(set(alert_ids) - {alert.id for alert in found})
            if missing:
                raise UnknownAlerts(f"no such alert: {', '.join(missing)}")
            transitions.add_alerts(incident, found, now)
        if playbook_id is not None:
            transitions.start_playbook(incident, self.playbook(playbook_id), now, actor)
        if (ctx := self.context(incident)) is not None:
            advance(incident, ctx, now)
        created = self.store.create(incident)
        if created is None:
            raise ConcurrentModification(f"incident {incident.id} exists already")
        return created

    def drill(self, playbook_id: str, actor: str) -> Versioned:
        incident = open_drill(self.playbook(playbook_id), actor=actor, now=self.clock())
        return self.create(incident, None, actor)
