"""The FastAPI app factory. Nothing happens at import: `create_app(settings)` builds the app, and
its lifespan opens (and closes) the Kafka and Elasticsearch connections."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from elasticsearch import ApiError as EsApiError
from elasticsearch import TransportError
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.backends import Backends
from api.console import install_console
from api.errors import ApiError
from api.hunt_jobs import HuntJobs
from api.hunts import HuntCatalog
from api.routes import (
    alerts,
    audit,
    entities,
    events,
    health,
    incident_actions,
    incidents,
    ingest,
    integrity,
    playbooks,
    reports,
    retention,
    rules,
)
from api.routes import hunts as hunt_routes
from api.rules import RuleCatalog
from api.tokens import TokenStore
from core.errors import ConfigError, VigilError
from core.settings import Settings

log = logging.getLogger(__name__)

ROUTERS = (
    health.router,
    ingest.router,
    events.router,
    audit.router,
    alerts.router,
    rules.router,
    entities.router,
    retention.router,
    reports.router,
    incidents.router,
    incident_actions.router,
    playbooks.router,
    playbooks.duty_router,
    integrity.router,
    hunt_routes.router,
)


def create_app(settings: Settings, *, tokens: TokenStore | None = None) -> FastAPI:
    """Refuses (ConfigError) to build a production app that no token could ever call."""
    store = tokens or TokenStore(settings.tokens_path())
    active = store.active_count()  # also validates the tokens file now, not at the first request
    if active == 0:
        if settings.environment == "production":
            raise ConfigError(
                f"no active API token in {store.path}: create one with `vigil token create NAME --role admin`"
            )
        log.warning("no active API token in %s: every authenticated endpoint answers 401", store.path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.backends = Backends(settings)
        app.state.hunt_jobs = HuntJobs(app.state.backends.es, settings)
        try:
            app.state.hunt_jobs.fail_stale()  # jobs whose process died read failed; recorded so now
        except (EsApiError, TransportError) as exc:  # the API comes up without Elasticsearch (see /health)
            log.warning("stale hunt jobs not checked at start-up: %s", exc)
        try:
            yield
        finally:
            app.state.hunt_jobs.close()  # before the connections it uses are closed
            app.state.backends.close()

    app = FastAPI(
        title="Vigil API",
        summary="Security log audit: ingest, search, alerts and triage, rules, inventory, retention. "
        "Every read of logs is audited.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = store
    app.state.rules = RuleCatalog(settings)  # built on the first /rules request, then kept
    app.state.hunts = HuntCatalog(app.state.rules)  # converted on the first /hunts request, then kept
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(VigilError, _vigil_error)
    install_console(app, settings, store)  # the web console under /console (after the API's error handlers)
    return app


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """422 with one readable sentence (`query.size: Input should be ...`) and the structured list."""
    assert isinstance(exc, RequestValidationError)
    errors: list[dict[str, Any]] = [
        {"loc": list(error["loc"]), "msg": error["msg"].removeprefix("Value error, "), "type": error["type"]}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(str(part) for part in e['loc'])}: {e['msg']}" for e in errors)
    return JSONResponse({"detail": detail, "errors": jsonable_encoder(errors)}, status_code=422)


async def _vigil_error(_request: Request, exc: Exception) -> JSONResponse:
    # A Vigil error outside the API's own (e.g. a tokens file broken by hand): say what, not a bare 500.
    log.error("request failed: %s", exc)
    return JSONResponse({"detail": str(exc)}, status_code=500)
