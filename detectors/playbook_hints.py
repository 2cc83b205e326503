"""Which playbook handles an alert: a small ordered mapping from ATT&CK tags and log sources.

The playbook engine (`playbooks/`) owns the playbooks and their triggers; this is only the
suggestion stored on the alert so the console can link to it. First matching hint wins, most
specific first: a log-clearing rule is also `defense-impairment`, a brute force also credential access.
Techniques are matched with their sub-techniques (`attack.t1110` covers `attack.t1110.003`); both the
ATT&CK v17 and v18 numbers of log clearing are listed (SigmaHQ moved T1070.001 to T1685.005).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

UNAUTHORIZED_ACCESS = "unauthorized-access"
BRUTE_FORCE = "brute-force"
MALWARE = "malware"
INTRUSION = "intrusion"
AUDIT_LOG_CLEARED = "audit-log-cleared"
DATA_LEAK = "data-leak"
POLICY_VIOLATION = "policy-violation"


@dataclass(frozen=True, slots=True)
class Hint:
    playbook: str
    tags: frozenset[str] = frozenset()  # ATT&CK tags (tactics or techniques), lower case
    logsources: frozenset[str] = frozenset()  # Sigma `category` or `service` values


def _hint(playbook: str, *tags: str, logsources: Iterable[str] = ()) -> Hint:
    return Hint(playbook, frozenset(f"attack.{t}" for t in tags), frozenset(logsources))


HINTS: tuple[Hint, ...] = (
    _hint(AUDIT_LOG_CLEARED, "t1070.001", "t1070.002", "t1685.005", "t1685.006", "t1562.002"),
    _hint(BRUTE_FORCE, "t1110"),
    _hint(MALWARE, "t1486", "t1204", logsources=("antivirus", "windefend")),
    _hint(DATA_LEAK, "exfiltration", "collection", "t1048", "t1041", "t1567", "t1052", "t1020", "t1537"),
    _hint(POLICY_VIOLATION, "t1090", "t1219", "t1562.001"),
    _hint(UNAUTHORIZED_ACCESS, "t1078", "t1098", "t1134", "privilege-escalation", "credential-access"),
)


def playbook_for(tags: Iterable[str], logsource: Iterable[str | None] = ()) -> str | None:
    """The suggested playbook id for a rule's tags (and log source category/service), or None when the
    rule carries no ATT&CK tag at all (hygiene and informational rules)."""
    attack = {t.lower() for t in tags if t.lower().startswith("attack.")}
    expanded = attack | {_parent(t) for t in attack}
    sources = {s.lower() for s in logsource if s}
    for hint in HINTS:
        if hint.tags & expanded or hint.logsources & sources:
            return hint.playbook
    return INTRUSION if attack else None


def _parent(tag: str) -> str:
    """`attack.t1110.003` → `attack.t1110`; anything else unchanged."""
    head, dot, tail = tag.rpartition(".")
    return head if dot and tail.isdigit() and head.count(".") == 1 else tag
