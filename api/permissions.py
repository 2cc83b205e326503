"""Roles and the one permission table: which role may do what.

Routes never name roles; they name a permission (`RequireRole(Permission.SEARCH_LOGS)`), and this
table says which roles hold it. Each router adds its rows here.
Separation of duties: auditors read the audit trail (who looked at which logs), not the logs.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    RESPONDER = "responder"
    AUDITOR = "auditor"


class Permission(StrEnum):
    READ_HEALTH = "health:read"
    INGEST_LOGS = "logs:ingest"
    SEARCH_LOGS = "logs:search"
    READ_AUDIT = "audit:read"
    READ_ALERTS = "alerts:read"
    TRIAGE_ALERTS = "alerts:triage"
    READ_RULES = "rules:read"
    TEST_RULES = "rules:test"
    MANAGE_RULES = "rules:manage"
    READ_ENTITIES = "entities:read"
    MANAGE_ENTITIES = "entities:manage"
    READ_RETENTION = "retention:read"
    READ_HOLDS = "holds:read"
    PLACE_HOLDS = "holds:place"
    RELEASE_HOLDS = "holds:release"
    READ_REPORTS = "reports:read"
    SIGN_REPORTS = "reports:sign"
    READ_INCIDENTS = "incidents:read"
    RESPOND_INCIDENTS = "incidents:respond"
    ACKNOWLEDGE_INCIDENTS = "incidents:acknowledge"
    APPROVE_CONTAINMENT = "incidents:approve"
    CLOSE_INCIDENTS = "incidents:close"
    READ_PLAYBOOKS = "playbooks:read"
    MANAGE_PLAYBOOKS = "playbooks:manage"
    MANAGE_ACCESS = "access:manage"
    VERIFY_INTEGRITY = "integrity:verify"
    RUN_HUNTS = "hunts:run"
    READ_HUNTS = "hunts:read"


PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_HEALTH: frozenset(Role),
    # Only admins feed logs (policy 1: nobody outside the admin group may modify logs).
    Permission.INGEST_LOGS: frozenset({Role.ADMIN}),
    Permission.SEARCH_LOGS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
    Permission.READ_AUDIT: frozenset({Role.ADMIN, Role.AUDITOR}),
    # Auditors read alerts (monthly evaluations: MTTA, false-positive ratios) but not the logs behind
    # them: `GET /alerts/{id}` returns an alert's events only to roles holding SEARCH_LOGS.
    Permission.READ_ALERTS: frozenset(Role),
    Permission.TRIAGE_ALERTS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
    Permission.READ_RULES: frozenset(Role),
    # Testing a rule runs it over pasted events only: officers tune rules without changing what runs.
    Permission.TEST_RULES: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.MANAGE_RULES: frozenset({Role.ADMIN}),
    # The inventory (clearances, departures) is what overreach reviews are judged against: auditors read it.
    Permission.READ_ENTITIES: frozenset(Role),
    Permission.MANAGE_ENTITIES: frozenset({Role.ADMIN}),
    Permission.READ_RETENTION: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.READ_HOLDS: frozenset({Role.ADMIN, Role.RESPONDER, Role.AUDITOR}),
    # "Preserve evidence" is a step of the incident procedure (policy 6), run by responders. A hold only
    # stops deletion and copies to evidence, it never modifies a log, so policy 1 (only admins modify
    # logs) still holds; lifting that protection makes data deletable again: admins only.
    Permission.PLACE_HOLDS: frozenset({Role.ADMIN, Role.RESPONDER}),
    Permission.RELEASE_HOLDS: frozenset({Role.ADMIN}),
    Permission.READ_REPORTS: frozenset({Role.ADMIN, Role.OFFICER, Role.AUDITOR}),
    # Policy rule 2: the security officer on patrol signs the day's record, nobody else.
    Permission.SIGN_REPORTS: frozenset({Role.OFFICER}),
    # Incidents (policy 6): responders run the playbook; officers acknowledge the duty page, escalate,
    # approve containments and close with the review; auditors read (the evaluations count response times).
    Permission.READ_INCIDENTS: frozenset(Role),
    Permission.RESPOND_INCIDENTS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
    Permission.ACKNOWLEDGE_INCIDENTS: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.APPROVE_CONTAINMENT: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.CLOSE_INCIDENTS: frozenset({Role.ADMIN, Role.OFFICER}),
    Permission.READ_PLAYBOOKS: frozenset(Role),
    Permission.MANAGE_PLAYBOOKS: frozenset({Role.ADMIN}),
    # Who holds which token or console login: the administrators (the console's users and tokens page).
    Permission.MANAGE_ACCESS: frozenset({Role.ADMIN}),
    # Policy rule 1 (tamper evidence) is checked by those who answer for it: auditors and admins. A
    # verification reads only digests, never the logs' content.
    Permission.VERIFY_INTEGRITY: frozenset({Role.ADMIN, Role.AUDITOR}),
    # A retro-hunt reads logs (audited like a search) and raises alerts as the stream would: the log readers.
    Permission.RUN_HUNTS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
    # Hunt jobs (counts, alert ids, who ran them): for those who may run them. A denial is not a log read.
    Permission.READ_HUNTS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
}

# Reads that land in the audit trail, granted or denied: a denied attempt is overreach (越权) to review.
AUDITED_READS: frozenset[Permission] = frozenset({Permission.SEARCH_LOGS, Permission.READ_AUDIT, Permission.RUN_HUNTS})


def allowed(role: Role, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]


def roles_for(permission: Permission) -> list[Role]:
    """The roles holding a permission, in declaration order (for 403 messages and docs)."""
    return [role for role in Role if role in PERMISSIONS[permission]]
