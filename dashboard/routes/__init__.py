"""One router per resource, gathered in `api_router`."""

from fastapi import APIRouter

from dashboard.routes import alerts, health

api_router = APIRouter(prefix="/api")
api_router.include_router(health.router)
api_router.include_router(alerts.router)
