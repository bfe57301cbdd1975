from __future__ import annotations

import psycopg
from fastapi import APIRouter, Response, status

from dashboard._deps import ConnDep
from dashboard._models import Health

router = APIRouter(tags=["health"])


@router.get("/health")
def health(conn: ConnDep, response: Response) -> Health:
    """Liveness and database reachability; no authentication, no resident data."""
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return Health(status="degraded", database="unreachable")
    return Health(status="ok", database="ok")
