"""Roles and the one permission table: which role may do what.

Routes never name roles; they name a permission (`RequireRole(Permission.SEARCH_LOGS)`), and this
table says which roles hold it. Later routers (alerts, incidents, console) add rows here.
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
    READ_REPORTS = "reports:read"
    SIGN_REPORTS = "reports:sign"


PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.READ_HEALTH: frozenset(Role),
    # Only admins feed logs (policy 1: nobody outside the admin group may modify logs).
    Permission.INGEST_LOGS: frozenset({Role.ADMIN}),
    Permission.SEARCH_LOGS: frozenset({Role.ADMIN, Role.OFFICER, Role.RESPONDER}),
    Permission.READ_AUDIT: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.READ_REPORTS: frozenset({Role.ADMIN, Role.OFFICER, Role.AUDITOR}),
    # Policy rule 2: the security officer on patrol signs the day's record, nobody else.
    Permission.SIGN_REPORTS: frozenset({Role.OFFICER}),
}

# Reads that land in the audit trail, granted or denied: a denied attempt is overreach (越权) to review.
AUDITED_READS: frozenset[Permission] = frozenset({Permission.SEARCH_LOGS, Permission.READ_AUDIT})


def allowed(role: Role, permission: Permission) -> bool:
    return role in PERMISSIONS[permission]


def roles_for(permission: Permission) -> list[Role]:
    """The roles holding a permission, in declaration order (for 403 messages and docs)."""
    return [role for role in Role if role in PERMISSIONS[permission]]
