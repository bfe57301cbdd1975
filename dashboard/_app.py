"""The FastAPI application factory: resources open in the lifespan, routes come from routers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from dashboard.routes import api_router
from eldercare.db import create_pool
from eldercare.settings import Settings

_STATIC = Path(__file__).parent / "static"


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

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(_STATIC / "index.html")

    return app
