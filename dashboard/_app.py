"""The FastAPI application factory: resources open in the lifespan, routes come from routers,
and every authenticated API request is written to the access audit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import anyio
import psycopg
from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg_pool import ConnectionPool, PoolTimeout

from dashboard._deps import AccessRecord
from dashboard._staff_store import record_access
from dashboard.routes import api_router
from eldercare.db import create_pool
from eldercare.settings import Settings

_STATIC = Path(__file__).parent / "static"
# The UI is built with DOM calls only (no inline scripts, no eval), so scripts may come from this
# origin alone; uPlot sets inline styles, hence 'unsafe-inline' for styles only. OWASP Secure
# Headers Project: CSP, nosniff, no framing, no referrer.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_READS = frozenset({"GET", "HEAD"})
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    pool = create_pool(settings.database, name="api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.open(wait=True, timeout=30)
        try:
            yield
        finally:
            pool.close()

    app = FastAPI(title="eldercare", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = pool
    app.include_router(api_router)
    app.middleware("http")(_audit_access)
    app.middleware("http")(_security_headers)
    app.exception_handler(psycopg.errors.DataError)(_value_refused_by_database)
    app.exception_handler(psycopg.OperationalError)(_database_unavailable)
    app.exception_handler(PoolTimeout)(_database_unavailable)
    app.mount("/static", StaticFiles(directory=_STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html")

    return app


async def _value_refused_by_database(request: Request, exc: Exception) -> Response:
    """A request value the database cannot hold (a number beyond 64 bits, a malformed date):
    the request is wrong, not the server."""
    detail = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
    return JSONResponse(
        {"detail": f"a request value is out of range or malformed: {detail}"}, status_code=422
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {"detail": "the database is unavailable; nothing was changed, retry shortly"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


async def _security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers.update(_SECURITY_HEADERS)
    if request.url.path.startswith("/api/"):
        # Residents' data must not linger in browser or proxy caches.
        response.headers["Cache-Control"] = "no-store"
    return response


def _route_template(path: str, path_params: dict[str, object]) -> str:
    """The path with its parameters named (``/api/alerts/{alert_id}``), so audit rows group by
    route; nested routers keep only their own part of the template, so it is rebuilt here."""
    by_value = {str(value): name for name, value in path_params.items()}
    return "/".join(f"{{{by_value[p]}}}" if p in by_value else p for p in path.split("/"))


async def _audit_access(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    """Write one access-audit row for each request made by a logged-in staff member. A read
    whose audit row cannot be written is withheld (503): no record leaves unaudited."""
    response = await call_next(request)
    record: AccessRecord | None = getattr(request.state, "access", None)
    if record is None or record.identity is None:
        return response
    path_params: dict[str, object] = request.scope.get("path_params", {})
    template = _route_template(request.url.path, path_params)
    if template == "/api/auth/logout":
        action = "logout"
    elif response.status_code == 403:
        action = "denied"
    else:
        action = "read" if request.method in _READS else "change"
    pool: ConnectionPool = request.app.state.pool

    def write() -> None:
        with pool.connection() as conn:
            record_access(
                conn,
                at=datetime.now(UTC),
                identity=record.identity,
                action=action,
                method=request.method,
                route=template,
                path=request.url.path,
                status=response.status_code,
                resident_id=record.resident_id or _text(path_params.get("resident_id")),
                site_id=record.site_id or _text(path_params.get("site_id")),
            )

    try:
        await anyio.to_thread.run_sync(write)
    except (psycopg.Error, TimeoutError):
        log.exception("access audit write failed for %s %s", request.method, request.url.path)
        if request.method in _READS:
            return JSONResponse(
                {"detail": "the access audit is unavailable, so records are withheld; retry"},
                status_code=503,
            )
    return response


def _text(value: object) -> str | None:
    return None if value is None else str(value)
