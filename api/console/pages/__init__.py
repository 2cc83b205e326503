"""The console's pages, one router per area."""

from __future__ import annotations

from fastapi import APIRouter

from api.console.pages import admin, alerts, auth, health, incidents, patrol, search

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    alerts.router,
    search.router,
    patrol.router,
    health.router,
    admin.router,
    incidents.router,
)
