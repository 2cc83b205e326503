"""The permission table: complete, and the separation of duties it encodes."""

from __future__ import annotations

from api.permissions import PERMISSIONS, Permission, Role, allowed, roles_for


def test_every_permission_has_a_row() -> None:
    assert set(PERMISSIONS) == set(Permission)


def test_the_table() -> None:
    matrix = {(role, perm): allowed(role, perm) for role in Role for perm in Permission}
    expected_true = {
        (Role.ADMIN, Permission.READ_HEALTH), (Role.OFFICER, Permission.READ_HEALTH),
        (Role.RESPONDER, Permission.READ_HEALTH), (Role.AUDITOR, Permission.READ_HEALTH),
        (Role.ADMIN, Permission.INGEST_LOGS),
        (Role.ADMIN, Permission.SEARCH_LOGS), (Role.OFFICER, Permission.SEARCH_LOGS),
        (Role.RESPONDER, Permission.SEARCH_LOGS),
        (Role.ADMIN, Permission.READ_AUDIT), (Role.AUDITOR, Permission.READ_AUDIT),
        *((role, Permission.READ_ALERTS) for role in Role),
        (Role.ADMIN, Permission.TRIAGE_ALERTS), (Role.OFFICER, Permission.TRIAGE_ALERTS),
        (Role.RESPONDER, Permission.TRIAGE_ALERTS),
        *((role, Permission.READ_RULES) for role in Role),
        (Role.ADMIN, Permission.TEST_RULES), (Role.OFFICER, Permission.TEST_RULES),
        (Role.ADMIN, Permission.MANAGE_RULES),
        *((role, Permission.READ_ENTITIES) for role in Role),
        (Role.ADMIN, Permission.MANAGE_ENTITIES),
        (Role.ADMIN, Permission.READ_RETENTION), (Role.AUDITOR, Permission.READ_RETENTION),
        (Role.ADMIN, Permission.READ_HOLDS), (Role.RESPONDER, Permission.READ_HOLDS),
        (Role.AUDITOR, Permission.READ_HOLDS),
        (Role.ADMIN, Permission.PLACE_HOLDS), (Role.RESPONDER, Permission.PLACE_HOLDS),
        (Role.ADMIN, Permission.RELEASE_HOLDS),
        (Role.ADMIN, Permission.READ_REPORTS), (Role.OFFICER, Permission.READ_REPORTS),
        (Role.AUDITOR, Permission.READ_REPORTS), (Role.OFFICER, Permission.SIGN_REPORTS),
        *((role, Permission.READ_INCIDENTS) for role in Role),
        *((role, Permission.RESPOND_INCIDENTS) for role in (Role.ADMIN, Role.OFFICER, Role.RESPONDER)),
        (Role.ADMIN, Permission.ACKNOWLEDGE_INCIDENTS), (Role.OFFICER, Permission.ACKNOWLEDGE_INCIDENTS),
        (Role.ADMIN, Permission.APPROVE_CONTAINMENT), (Role.OFFICER, Permission.APPROVE_CONTAINMENT),
        (Role.ADMIN, Permission.CLOSE_INCIDENTS), (Role.OFFICER, Permission.CLOSE_INCIDENTS),
        *((role, Permission.READ_PLAYBOOKS) for role in Role),
        (Role.ADMIN, Permission.MANAGE_PLAYBOOKS),
        (Role.ADMIN, Permission.MANAGE_ACCESS),
        (Role.ADMIN, Permission.VERIFY_INTEGRITY), (Role.AUDITOR, Permission.VERIFY_INTEGRITY),
        *((role, Permission.RUN_HUNTS) for role in (Role.ADMIN, Role.OFFICER, Role.RESPONDER)),
        *((role, Permission.READ_HUNTS) for role in (Role.ADMIN, Role.OFFICER, Role.RESPONDER)),
    }  # fmt: skip
    assert {key for key, ok in matrix.items() if ok} == expected_true


def test_roles_for_keeps_declaration_order() -> None:
    assert roles_for(Permission.READ_AUDIT) == [Role.ADMIN, Role.AUDITOR]
    assert roles_for(Permission.READ_HEALTH) == list(Role)
