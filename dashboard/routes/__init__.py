"""One router per resource, gathered in `api_router`."""

from fastapi import APIRouter

from dashboard.routes import (
    alert_subscribers,
    alerts,
    consults,
    health,
    network,
    referrals,
    resident_analytics,
)

api_router = APIRouter(prefix="/api")
api_router.include_router(health.router)
api_router.include_router(alerts.router)
api_router.include_router(alert_subscribers.router)
api_router.include_router(consults.router)
api_router.include_router(referrals.router)
api_router.include_router(network.router)
api_router.include_router(resident_analytics.router)
