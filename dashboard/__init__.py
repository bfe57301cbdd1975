"""Dashboard: the FastAPI API and the staff web UI."""

from dashboard._app import create_app
from dashboard._models import AlertPublic, AlertsPublic, Health

__all__ = ["AlertPublic", "AlertsPublic", "Health", "create_app"]
