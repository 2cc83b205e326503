"""Dependencies routes declare with `Annotated`: settings, backends, the caller and their rights."""

from __future__ import annotations

import logging
from typing import Annotated

from elasticsearch import Elasticsearch
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.audit import AuditTrail, TimeRange
from api.backends import Backends
from api.errors import AuditUnavailable, Forbidden, NotAuthenticated
from api.permissions import AUDITED_READS, Permission, allowed, roles_for
from api.session import Sessions
from api.tokens import Principal, TokenStore
from core.settings import Settings

log = logging.getLogger(__name__)

# auto_error=False: we answer 401 ourselves, with the RFC 6750 header and a message that says why.
bearer = HTTPBearer(auto_error=False, description="an API token: `vigil token create NAME --role ROLE`")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_backends(request: Request) -> Backends:
    backends: Backends = request.app.state.backends
    return backends


def get_tokens(request: Request) -> TokenStore:
    tokens: TokenStore = request.app.state.tokens
    return tokens


SettingsDep = Annotated[Settings, Depends(get_settings)]
BackendsDep = Annotated[Backends, Depends(get_backends)]
TokensDep = Annotated[TokenStore, Depends(get_tokens)]


def get_es(backends: BackendsDep) -> Elasticsearch:
    return backends.es


def get_audit(backends: BackendsDep) -> AuditTrail:
    return backends.audit


EsDep = Annotated[Elasticsearch, Depends(get_es)]
AuditDep = Annotated[AuditTrail, Depends(get_audit)]


def get_current_user(
    request: Request, tokens: TokensDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
        # The web console's session cookie stands for the token or user it was opened with (api/session.py).
        sessions: Sessions = request.app.state.sessions
        from_session = sessions.authenticate(request)
        if from_session is not None:
            return from_session
        raise NotAuthenticated("missing `Authorization: Bearer <token>` header", error="invalid_request")
    principal = tokens.verify(credentials.credentials)
    if principal is None:
        raise NotAuthenticated("the token is unknown, revoked or expired")
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]


class RequireRole:
    """Admit the caller only if their role holds `permission` in the permission table.

    `Annotated[Principal, Depends(RequireRole(Permission.SEARCH_LOGS))]`: routes name what they
    do, and `api.permissions.PERMISSIONS` alone says which roles may do it.
    """

    def __init__(self, permission: Permission) -> None:
        self.permission = permission

    def __call__(self, user: CurrentUser, request: Request) -> Principal:
        if not allowed(user.role, self.permission):
            if self.permission in AUDITED_READS:
                _audit_denial(request, user, self.permission)
            needed = " or ".join(role.value for role in roles_for(self.permission))
            raise Forbidden(
                f"{self.permission.value} needs role {needed}; token {user.name!r} has role {user.role.value}"
            )
        return user


def _audit_denial(request: Request, user: Principal, permission: Permission) -> None:
    """Best effort: a refused read disclosed nothing, so an audit outage must not turn 403 into 503."""
    params = dict(request.query_params)
    query = params.pop("q", None)
    time_range = TimeRange.model_validate({"from": params.pop("from", None), "to": params.pop("to", None)})
    try:
        get_backends(request).audit.record(
            user,
            action=f"denied:{permission.value}",
            method=request.method,
            endpoint=request.url.path,
            client_ip=client_ip(request),
            query=query,
            filters=params,
            time_range=time_range,
            hits=0,
            returned=0,
            status=403,
        )
    except AuditUnavailable as exc:
        log.error("denied %s by %r not audited: %s", permission.value, user.name, exc)


def client_ip(request: Request) -> str | None:
    """The peer address (behind a reverse proxy, run uvicorn with --proxy-headers to get the client's)."""
    return request.client.host if request.client else None


HealthReader = Annotated[Principal, Depends(RequireRole(Permission.READ_HEALTH))]
Ingester = Annotated[Principal, Depends(RequireRole(Permission.INGEST_LOGS))]
LogReader = Annotated[Principal, Depends(RequireRole(Permission.SEARCH_LOGS))]
AuditReader = Annotated[Principal, Depends(RequireRole(Permission.READ_AUDIT))]
ClientIp = Annotated[str | None, Depends(client_ip)]
AlertReader = Annotated[Principal, Depends(RequireRole(Permission.READ_ALERTS))]
AlertTriager = Annotated[Principal, Depends(RequireRole(Permission.TRIAGE_ALERTS))]
RuleReader = Annotated[Principal, Depends(RequireRole(Permission.READ_RULES))]
RuleTester = Annotated[Principal, Depends(RequireRole(Permission.TEST_RULES))]
RuleManager = Annotated[Principal, Depends(RequireRole(Permission.MANAGE_RULES))]
EntityReader = Annotated[Principal, Depends(RequireRole(Permission.READ_ENTITIES))]
EntityManager = Annotated[Principal, Depends(RequireRole(Permission.MANAGE_ENTITIES))]
RetentionReader = Annotated[Principal, Depends(RequireRole(Permission.READ_RETENTION))]
HoldReader = Annotated[Principal, Depends(RequireRole(Permission.READ_HOLDS))]
HoldPlacer = Annotated[Principal, Depends(RequireRole(Permission.PLACE_HOLDS))]
HoldReleaser = Annotated[Principal, Depends(RequireRole(Permission.RELEASE_HOLDS))]
ReportReader = Annotated[Principal, Depends(RequireRole(Permission.READ_REPORTS))]
ReportSigner = Annotated[Principal, Depends(RequireRole(Permission.SIGN_REPORTS))]
IncidentReader = Annotated[Principal, Depends(RequireRole(Permission.READ_INCIDENTS))]
IncidentResponder = Annotated[Principal, Depends(RequireRole(Permission.RESPOND_INCIDENTS))]
IncidentAcknowledger = Annotated[Principal, Depends(RequireRole(Permission.ACKNOWLEDGE_INCIDENTS))]
ContainmentApprover = Annotated[Principal, Depends(RequireRole(Permission.APPROVE_CONTAINMENT))]
IncidentCloser = Annotated[Principal, Depends(RequireRole(Permission.CLOSE_INCIDENTS))]
PlaybookReader = Annotated[Principal, Depends(RequireRole(Permission.READ_PLAYBOOKS))]
PlaybookManager = Annotated[Principal, Depends(RequireRole(Permission.MANAGE_PLAYBOOKS))]
IntegrityVerifier = Annotated[Principal, Depends(RequireRole(Permission.VERIFY_INTEGRITY))]
