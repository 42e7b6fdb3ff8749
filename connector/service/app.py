"""The app factory: FastAPI routes under `/v1`, `/health`, the console at `/`."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from connector.catalog import load_catalog
from connector.catalog.export import export_catalog
from connector.credentials import register_credentials
from connector.service import (
    catalog_api,
    connections_api,
    console,
    console_catalog,
    hooks,
    openapi,
    options_api,
    problems,
    run_events,
    runs_api,
    triggers_api,
    triggers_console,
    workflows_api,
)
from connector.service.auth import Auth, require_api_key
from connector.service.body_limit import BodyLimit, require_json
from connector.service.config import ServiceConfig
from connector.service.connection_store import ConnectionStore
from connector.service.launcher import RunLauncher
from connector.service.log_redaction import mask_library_logs
from connector.service.models import Health, Problem
from connector.service.responses import RedactedJSONResponse
from connector.service.state import ServiceState
from connector.service.store import DB_NAME, Store

__all__ = ["create_app"]

log = logging.getLogger("connector.service")


def create_app(config: ServiceConfig) -> FastAPI:
    catalog = config.catalog or load_catalog()
    # Masked from the start: every credential runs and tests may use (as engine_session does).
    register_credentials(catalog, config.credentials, os.environ)
    mask_library_logs()
    export = export_catalog(catalog)
    state = ServiceState(
        config=config,
        catalog=catalog,
        auth=Auth(config.api_keys),
        store=Store(config.home / DB_NAME),
        launcher=RunLauncher(config, catalog),
        export=export,
        actions={a["id"]: a for app in export["apps"] for a in app["actions"]},
        connections=ConnectionStore(config.home / DB_NAME, config.secret_box),
    )
    for name in state.connections.register_all():
        log.warning("connection %r does not decrypt with this secret key; save it again", name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.triggers.start()  # polls, schedules, and what a restart left to start
        yield
        await app.state.triggers.close()
        await state.launcher.close()

    app = FastAPI(
        title="connector service",
        version="1",
        description="Catalog, preview, test steps, workflows, runs and one-click retry. "
        "Every endpoint but /health needs an API key; errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        default_response_class=RedactedJSONResponse,
        docs_url=None,  # the docs page loads scripts from a CDN: not offered
        redoc_url=None,
    )
    app.state.service = state
    app.state.auth = state.auth
    triggers_api.install(app, state)
    problems.install(app)

    @app.get("/health", response_model=Health, tags=["service"])
    async def health() -> Health:
        return Health(status="ok")

    v1 = APIRouter(prefix="/v1", dependencies=[Depends(require_api_key), Depends(require_json)])
    # one line per router
    v1.include_router(catalog_api.router)
    v1.include_router(options_api.router)
    v1.include_router(connections_api.router)
    v1.include_router(workflows_api.router)
    v1.include_router(runs_api.router)
    v1.include_router(run_events.router)
    v1.include_router(triggers_api.router)
    app.include_router(v1, responses={401: {"model": Problem}, 422: {"model": Problem}})
    app.include_router(hooks.router, prefix="/v1")  # authenticated by the secret in its URL
    app.include_router(console.router)
    app.include_router(console_catalog.router)
    app.include_router(triggers_console.router)
    openapi.install(app)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    return app
