"""Dependencies routes declare with `Annotated`: settings, backends, the caller and their rights."""

from __future__ import annotations

from typing import Annotated

from elasticsearch import Elasticsearch
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.audit import AuditTrail
from api.backends import Backends
from api.errors import Forbidden, NotAuthenticated
from api.permissions import Permission, allowed, roles_for
from api.tokens import Principal, TokenStore
from core.settings import Settings

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
    tokens: TokensDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    if credentials is None:
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

    def __call__(self, user: CurrentUser) -> Principal:
        if not allowed(user.role, self.permission):
            needed = " or ".join(role.value for role in roles_for(self.permission))
            raise Forbidden(
                f"{self.permission.value} needs role {needed}; token {user.name!r} has role {user.role.value}"
            )
        return user


def client_ip(request: Request) -> str | None:
    """The peer address (behind a reverse proxy, run uvicorn with --proxy-headers to get the client's)."""
    return request.client.host if request.client else None


HealthReader = Annotated[Principal, Depends(RequireRole(Permission.READ_HEALTH))]
Ingester = Annotated[Principal, Depends(RequireRole(Permission.INGEST_LOGS))]
LogReader = Annotated[Principal, Depends(RequireRole(Permission.SEARCH_LOGS))]
AuditReader = Annotated[Principal, Depends(RequireRole(Permission.READ_AUDIT))]
ClientIp = Annotated[str | None, Depends(client_ip)]
