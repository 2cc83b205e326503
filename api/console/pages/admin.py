"""Administration: rules (enable/disable, test on pasted events), the entity inventory, users and
tokens, and the audit trail, through the `/rules`, `/entities` and `/audit` route functions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse

from api.console.web import Page, query_model, render
from api.deps import AuditDep, ClientIp, EsDep, SettingsDep
from api.errors import BadRequest
from api.models.audit import AuditSearch
from api.models.entities import EntitySearch
from api.models.rules import RuleTest, RuleToggle
from api.permissions import Permission, Role
from api.routes import audit as audit_api
from api.routes import entities as entities_api
from api.routes import rules as rules_api
from api.rules import RuleCatalog
from api.tokens import Principal, TokenStore
from api.users import UserStore
from core.errors import ConfigError

router = APIRouter(prefix="/console", include_in_schema=False)

RuleReader = Annotated[Principal, Depends(Page(Permission.READ_RULES))]
RuleTester = Annotated[Principal, Depends(Page(Permission.TEST_RULES))]
RuleManager = Annotated[Principal, Depends(Page(Permission.MANAGE_RULES))]
EntityReader = Annotated[Principal, Depends(Page(Permission.READ_ENTITIES))]
AccessManager = Annotated[Principal, Depends(Page(Permission.MANAGE_ACCESS))]
AuditReader = Annotated[Principal, Depends(Page(Permission.READ_AUDIT))]


def _rules(request: Request, user: Principal, es: EsDep, **extra: Any) -> dict[str, Any]:
    catalog: RuleCatalog = request.app.state.rules
    listed = rules_api.list_rules(user, catalog.engine(), es)
    words = request.query_params.get("q", "").strip().lower()
    shown = [r for r in listed.data if not words or words in f"{r.id} {r.title} {' '.join(r.tags)}".lower()]
    return {"rules": listed, "shown": shown[:200], "words": words, **extra}


@router.get("/admin/rules", response_class=HTMLResponse)
def rules_page(request: Request, user: RuleReader, es: EsDep) -> HTMLResponse:
    return render(request, "rules.html", user, **_rules(request, user, es))


@router.post("/admin/rules/{rule_id}/{action}", response_class=HTMLResponse)
def toggle_rule(request: Request, user: RuleManager, es: EsDep, rule_id: str, action: str) -> HTMLResponse:
    catalog: RuleCatalog = request.app.state.rules
    if action not in ("enable", "disable"):
        raise BadRequest(f"unknown action {action!r}: enable or disable")
    toggle = rules_api.enable if action == "enable" else rules_api.disable
    state = toggle(user, rule_id, catalog.engine(), es, catalog.settings, RuleToggle(reason=None))
    return render(request, "rule_state.html", user, rule_id=rule_id, enabled=state.enabled)


@router.post("/admin/rules/test", response_class=HTMLResponse)
def test_rule(
    request: Request, user: RuleTester, rule: Annotated[str, Form()] = "", events: Annotated[str, Form()] = ""
) -> HTMLResponse:
    """`POST /rules/test` on the pasted text: a JSON array, or one JSON object per line."""
    try:
        text = events.strip()
        parsed = json.loads(text) if text.startswith("[") else [json.loads(line) for line in text.splitlines() if line]
        body = RuleTest(rule=rule, events=parsed)
    except (ValueError, TypeError) as exc:
        raise BadRequest(f"events: {str(exc).splitlines()[0]}") from None
    result = rules_api.test(user, body)
    return render(request, "rule_test.html", user, result=result)


@router.get("/admin/entities", response_class=HTMLResponse)
def entities_page(request: Request, user: EntityReader, settings: SettingsDep, es: EsDep) -> HTMLResponse:
    params = query_model(request, EntitySearch, size=500)
    found = entities_api.list_entities(user, params, settings, es)
    return render(request, "entities.html", user, entities=found, kind=request.query_params.get("kind", ""))


def _access(request: Request, **extra: Any) -> dict[str, Any]:
    tokens: TokenStore = request.app.state.tokens
    users: UserStore = request.app.state.users
    now = datetime.now(UTC)
    return {"tokens": [(r, r.status(now)) for r in tokens.records()], "users": users.records(), "roles": list(Role),
            **extra}  # fmt: skip


@router.get("/admin/access", response_class=HTMLResponse)
def access_page(request: Request, user: AccessManager) -> HTMLResponse:
    return render(request, "access.html", user, **_access(request))


@router.post("/admin/access/tokens", response_class=HTMLResponse)
def create_token(
    request: Request, user: AccessManager, name: Annotated[str, Form()], role: Annotated[str, Form()],
    days: Annotated[int | None, Form()] = None,
) -> HTMLResponse:  # fmt: skip
    tokens: TokenStore = request.app.state.tokens
    try:
        _, secret = tokens.create(name, Role(role), timedelta(days=days) if days else None)
    except (ConfigError, ValueError) as exc:
        raise BadRequest(str(exc).splitlines()[0]) from None
    return render(request, "access.html", user, **_access(request, new_token=secret))


@router.post("/admin/access/tokens/{token_id}/revoke", response_class=HTMLResponse)
def revoke_token(request: Request, user: AccessManager, token_id: str) -> HTMLResponse:
    tokens: TokenStore = request.app.state.tokens
    try:
        tokens.revoke(token_id)
    except ConfigError as exc:
        raise BadRequest(str(exc)) from None
    return render(request, "access.html", user, **_access(request))


@router.post("/admin/access/users/{name}/disable", response_class=HTMLResponse)
def disable_user(request: Request, user: AccessManager, name: str) -> HTMLResponse:
    users: UserStore = request.app.state.users
    try:
        users.disable(name)
    except ConfigError as exc:
        raise BadRequest(str(exc)) from None
    return render(request, "access.html", user, **_access(request))


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, user: AuditReader, ip: ClientIp, settings: SettingsDep, es: EsDep, audit: AuditDep
) -> HTMLResponse:
    """Who read which logs (`GET /audit`); reading the trail is recorded in it too."""
    params = query_model(request, AuditSearch, size=100)
    found = audit_api.search_audit(user, params, request, ip, settings, es, audit)
    return render(request, "audit.html", user, entries=found, query=request.query_params)
