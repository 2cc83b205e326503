"""Send one outbox entry: through a notify channel (playbooks.notify), or as an alert on `vigil.alerts`.

Recipients in the outbox are roster keys (`alice`) or literal addresses (`soc@example.org`); the
channel's kind decides which contact of a person is used. The idempotency key travels with the message
(email Message-ID, webhook header `X-Vigil-Delivery`, the alert's dedup key), so a resend after a crash
is recognisable as the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from core.models.alert import Alert, AlertDraft, AlertOrigin, DetectorKind, EntityRef, RuleRef, Severity, Summary
from core.models.incident import Incident, Outgoing
from playbooks.progress import ALERTS_CHANNEL
from playbooks.roster_file import RosterFile
from playbooks.triggers import RESPONSE_RULES

OVERDUE_RULE = RuleRef(id=next(iter(RESPONSE_RULES)), version="1", title="Response deadline overdue",
                       kind=DetectorKind.META)  # fmt: skip


class AlertSink(Protocol):
    def __call__(self, alert: Alert) -> None: ...


@dataclass(frozen=True)
class Sent:
    ok: bool
    detail: str
    retryable: bool = True  # False: trying again cannot help (no such channel configured)


class Dispatcher:
    def __init__(self, notify_config: Any, roster: RosterFile, alert_sink: AlertSink | None, link: str | None) -> None:
        self.config, self.rosters, self.alert_sink, self.link = notify_config, roster, alert_sink, link

    def send(self, incident: Incident, outgoing: Outgoing, now: datetime) -> Sent:
        if outgoing.channel == ALERTS_CHANNEL:
            return self._alert(incident, outgoing, now)
        from playbooks.notify import NotifyMessage, deliver  # the notify branch's channels

        channels = getattr(self.config, "channels", {}) if self.config is not None else {}
        channel = channels.get(outgoing.channel)
        if channel is None:
            return Sent(False, f"no notify channel {outgoing.channel!r} configured (VIGIL_NOTIFY_FILE)", False)
        kind = str(getattr(channel, "type", ""))
        message = NotifyMessage(
            key=outgoing.key, incident_id=incident.id, subject=outgoing.subject, text=outgoing.text,
            severity=incident.severity.value, drill=incident.drill, link=self._link(incident),
            fields={"purpose": outgoing.purpose, "step": outgoing.step_id or "", "playbook": incident.playbook or "",
                    "entity": incident.entity.key if incident.entity else ""},
        )  # fmt: skip
        recipients = [self._address(r, kind) for r in outgoing.recipients]
        delivery = deliver(channel, message, recipients=[r for r in recipients if r] or None)
        return Sent(bool(delivery.ok), str(delivery.detail))

    def _address(self, recipient: str, kind: str) -> str | None:
        person = self.rosters.current().people.get(recipient)
        if person is None:
            return recipient
        if kind == "smtp":
            return person.email
        if kind == "webhook":
            return person.webhook or person.phone or person.name
        return person.name

    def _link(self, incident: Incident) -> str | None:
        return f"{self.link.rstrip('/')}/incidents/{incident.id}" if self.link else None

    def _alert(self, incident: Incident, outgoing: Outgoing, now: datetime) -> Sent:
        if self.alert_sink is None:
            return Sent(False, "no alert producer configured", False)
        draft = AlertDraft.model_validate(
            {
                "rule": OVERDUE_RULE,
                "severity": Severity.HIGH if incident.serious else Severity.MEDIUM,
                "tags": ["vigil.response"] + (["vigil.drill"] if incident.drill else []),
                "entity": incident.entity or EntityRef(kind="rule", value=incident.id),
                "dedup_key": outgoing.key,
                "first_seen": outgoing.created_at,
                "last_seen": outgoing.created_at,
                "summary": Summary.model_validate({"en": outgoing.subject, "zh-CN": outgoing.subject}),
                "context": {"incident": incident.id, "step": outgoing.step_id, "drill": incident.drill},
            }
        )
        alert = Alert.of(draft, origin=AlertOrigin.STREAM, raised_at=now)
        self.alert_sink(alert)
        return Sent(True, f"alert {alert.id} on {ALERTS_CHANNEL}")
