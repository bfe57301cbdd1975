"""One router per resource, gathered in `api_router`."""

from fastapi import APIRouter

from dashboard.routes import (
    alert_subscribers,
    alerts,
    auth,
    consults,
    devices,
    health,
    network,
    referrals,
    resident_analytics,
    residents,
    staff,
    wards,
)

api_router = APIRouter(prefix="/api")
api_router.include_router(health.router)
api_router.include_router(auth.router)
api_router.include_router(staff.router)
api_router.include_router(alerts.router)
api_router.include_router(alert_subscribers.router)
api_router.include_router(consults.router)
api_router.include_router(referrals.router)
api_router.include_router(network.router)
api_router.include_router(resident_analytics.router)
api_router.include_router(residents.router)
api_router.include_router(wards.router)
api_router.include_router(devices.router)
