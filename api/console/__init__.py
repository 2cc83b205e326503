"""The web console: server-rendered pages (Jinja2 + htmx) under `/console`, in the API's own process.

Pages call the API's route functions and services with the logged-in principal, so the console
shows exactly what the role may read through the API, through the same permission table and the
same audit trail. Browser libraries (htmx, Chart.js, flatpickr) come from the npm registry
(`package.json` here, `npm ci` in scripts/setup.sh) and are served from their `dist` folders.
"""

from __future__ import annotations

import inspect
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.console import pages
from api.console.web import HERE, LoginRequired, render
from api.errors import ApiError
from api.session import Sessions, console_secret
from api.tokens import TokenStore
from api.users import UserStore
from core.settings import Settings

log = logging.getLogger(__name__)

VENDOR = HERE / "node_modules"
# URL folder → the package's distribution folder: only built files are served, never package sources.
VENDOR_DIST = {"htmx": "htmx.org/dist", "chart": "chart.js/dist", "flatpickr": "flatpickr/dist"}


def install_console(app: FastAPI, settings: Settings, tokens: TokenStore) -> None:
    app.state.users = UserStore(settings.users_path())
    app.state.sessions = Sessions(console_secret(settings), settings.console_session_hours * 3600, tokens,
                                  app.state.users)  # fmt: skip
    for name, dist in VENDOR_DIST.items():
        folder: Path = VENDOR / dist
        if not folder.is_dir():
            log.warning("console asset folder %s is missing: run scripts/setup.sh (npm ci in api/console)", folder)
        app.mount(f"/console/vendor/{name}", StaticFiles(directory=folder, check_dir=False), name=f"vendor-{name}")
    app.mount("/console/static", StaticFiles(directory=HERE / "static"), name="console-static")
    for router in pages.ROUTERS:
        app.include_router(router)
    api_handler = app.exception_handlers[ApiError]

    async def console_errors(request: Request, exc: Exception) -> Response:
        """Console pages answer errors as pages (htmx fragments inline); the API keeps its JSON."""
        if not request.url.path.startswith("/console"):
            response = api_handler(request, exc)
            return await response if inspect.isawaitable(response) else response
        assert isinstance(exc, ApiError)
        if isinstance(exc, LoginRequired):
            if request.headers.get("HX-Request") == "true":  # a fragment request: reload into the login page
                return Response(status_code=401, headers={"HX-Redirect": "/console/login"})
            return RedirectResponse(f"/console/login?next={request.url.path}", status_code=303)
        if request.url.path.startswith("/console/vendor") or request.url.path.startswith("/console/static"):
            return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)
        user = getattr(request.state, "principal", None)
        return render(request, "error.html", user, status_code=exc.status_code, detail=exc.detail,
                      code=exc.status_code)  # fmt: skip

    app.add_exception_handler(ApiError, console_errors)
