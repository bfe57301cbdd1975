"""Dashboard: the FastAPI API (login, roles, tenancy, audit) and the staff web UI."""

from dashboard._access import ROLE_PERMISSIONS, Permission, Role, StaffIdentity
from dashboard._app import create_app
from dashboard._demo import DEMO_STAFF, seed_demo_staff
from dashboard._models import AlertPublic, AlertsPublic, Health
from dashboard._staff_store import StaffError, create_staff, list_staff, update_staff

__all__ = [
    "DEMO_STAFF",
    "ROLE_PERMISSIONS",
    "AlertPublic",
    "AlertsPublic",
    "Health",
    "Permission",
    "Role",
    "StaffError",
    "StaffIdentity",
    "create_app",
    "create_staff",
    "list_staff",
    "seed_demo_staff",
    "update_staff",
]
