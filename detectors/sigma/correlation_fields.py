"""How a correlation reads an event: group-by and condition fields through the Sigma field view
(`view.py`, the same resolution the rules matched with), and which entity an alert is about."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

from core.models.alert import EntityRef
from core.models.ecs import NO_VALUE, EcsEvent, account_key, host_key
from detectors.sigma.correlation_rules import CorrelationRule, CorrelationType
from detectors.sigma.view import FieldView, norm_field

Derived = Mapping[str, str]  # the group values of a correlation that held, as seen by the rules using it


def field_value(name: str, derived: Derived | None, view: FieldView | None) -> str | None:
    """A field's value as text: from the group values of a correlation that held, else from the event."""
    key = norm_field(name)
    if derived is not None:
        for field_name, value in derived.items():
            if norm_field(field_name) == key:
                return value
    if view is None:
        return None
    text = view.text(key)
    if text is None or text == "" or text == ():
        return None
    return text if isinstance(text, str) else ",".join(text)


def entry_value(rule: CorrelationRule, ref: str, derived: Derived | None, view: FieldView | None) -> str | float | None:
    if not rule.fields:
        return None
    parts = [field_value(rule.field_for(name, ref), derived, view) for name in rule.fields]
    if any(p is None for p in parts):
        return None
    if rule.type is CorrelationType.VALUE_COUNT:
        return "\x1f".join(p.lower() for p in parts if p is not None)
    first = parts[0]
    assert first is not None  # checked above
    try:
        number = float(first)
    except ValueError:
        return None  # not a number: contributes nothing to a sum or an average
    return number if math.isfinite(number) else None


_ENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("user", "username", "user.name", "targetusername", "subjectusername", "accountname", "cs-username"),
    "host": ("computer", "computername", "host.name", "hostname", "workstationname", "workstation", "dvc"),
    "ip": ("ipaddress", "sourceip", "source.ip", "src_ip", "c-ip", "clientip", "sourceaddress", "destinationip",
           "destination.ip", "dst_ip"),
}  # fmt: skip


def entity_of(fields: Mapping[str, str], event: EcsEvent | None, rule: CorrelationRule) -> EntityRef:
    """A group-by field naming a user, else a host, else an IP (the order and keys of `EcsEvent.entity()`);
    else the event's entity; else the rule."""
    keys: dict[str, Callable[[str], str]] = {"user": account_key, "host": host_key, "ip": str.strip}
    for kind, names in _ENTITY_FIELDS.items():
        for name, value in fields.items():
            if norm_field(name) in names and (key := keys[kind](value)) not in NO_VALUE:
                return EntityRef(kind=kind, value=key)  # type: ignore[arg-type]
    if event is not None:
        return EntityRef.parse(event.entity())
    return EntityRef(kind="rule", value=rule.id)
