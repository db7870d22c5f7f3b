"""The FastAPI application: API under /api/v1, the viewer at /."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.staticfiles import StaticFiles

from core import db, jobs
from core.secrets import check_startup
from core.settings import get_settings
from live import scenarios
from ops.logs import log_config
from spatial_api import apidocs, bodylimit, headers, observability, openapi, problems, ratelimit, tasks, timeouts  # noqa: F401 - tasks registers the queue's tasks
from spatial_api.routers import (
    admin,
    analysis,
    approvals,
    auth,
    bcf_api,
    bim,
    credit,
    dashboard,
    divisions,
    events,
    exports,
    features,
    health,
    imagery,
    layers,
    maps,
    mvt,
    ops,
    profiles,
    query,
    review_submissions,
    reviews,
    search,
    sensors,
    styles,
    terrain,
    thematic,
)
from spatial_api.routers import (
    jobs as jobs_router,
)
from spatial_api.routers import records as records_router
from spatial_api.routers import tiles as tiles_router
from spatial_api.static_files import PrecompressedStaticFiles

API_PREFIX = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent
VIEWER_DIR = ROOT / "viewer"
CESIUM_DIR = ROOT / "node_modules" / "cesium" / "Build" / "Cesium"
# Front-end libraries served from npm's node_modules (made by `make npm`), under /vendor/<name>.
VENDORED = {
    "cesium": CESIUM_DIR,
    "cesium-viewer": VIEWER_DIR / "ui" / "dist-cesium",  # the viewer's own bundle, made by `make ui`
    "swagger-ui": ROOT / "node_modules" / "swagger-ui-dist",
    "redoc": ROOT / "node_modules" / "redoc" / "bundles",
    "echarts": ROOT / "node_modules" / "echarts" / "dist",
    "proj4": ROOT / "node_modules" / "proj4" / "dist",
    "maplibre-gl": ROOT / "node_modules" / "maplibre-gl" / "dist",
    "pdfjs": ROOT / "node_modules" / "pdfjs-dist",
}


log = logging.getLogger("cim.api")


def _warm_up() -> None:
    """One-time costs paid before serving rather than in the first page load: a few pooled
    connections (each loads PROJ in its backend), the terrain answers' DEM and transformers, the networks
    the event sheets trace. A
    failure is only logged (the request that meets it says why)."""
    try:
        db.prefill_pool(8)
        terrain.warm_up()
        scenarios.warm_up()
    except Exception as exc:  # noqa: BLE001 - whatever it is, the server serves on
        log.warning("warm-up failed: %s", exc, exc_info=True)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Recover jobs of workers that are gone and warm up, then serve with a queue worker beside."""
    await asyncio.to_thread(jobs.reap)
    await asyncio.to_thread(_warm_up)
    worker = asyncio.create_task(jobs.work())
    try:
        yield
    finally:
        await sensors.shutdown()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


def create_app() -> FastAPI:
    """Build the app; routers are thin, the work is in gis/, tiles/ and bim_ingest/."""
    settings = get_settings()
    check_startup(settings)
    app = FastAPI(
        title="CIM Server",
        version="0.1.0",
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    openapi.install(app)
    apidocs.install(app)
    problems.install(app)
    ratelimit.install(app)
    app.add_middleware(timeouts.StatementTimeout)
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(bodylimit.BodyLimit)
    app.add_middleware(headers.SecurityHeaders, index_html=VIEWER_DIR / "index.html")
    app.add_middleware(observability.Observe)
    # The router finds a request's route by trying each in this order (twice: the app's, then the
    # included router's): the most asked-for reads first. Search and profiles behind 128 other routes
    # spent ~12% of their server CPU matching paths (py-spy, bench/search/RESULTS.md).
    for module in (
        health,
        search,
        profiles,
        features,
        mvt,
        query,
        ops,
        auth,
        admin,
        layers,
        styles,
        analysis,
        thematic,
        maps,
        imagery,
        bim,
        jobs_router,
        tiles_router,
        review_submissions,
        reviews,
        bcf_api,
        terrain,
        records_router,
        credit,
        sensors,
        events,
        exports,
        approvals,
        divisions,
        dashboard,
    ):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(ops.metrics_router)
    for name, directory in VENDORED.items():
        if directory.is_dir():
            app.mount(f"/vendor/{name}", PrecompressedStaticFiles(directory=directory), name=name)
    app.mount("/", StaticFiles(directory=VIEWER_DIR, html=True), name="viewer")
    return app


def serve(host: str, port: int, tls: bool = False, workers: int = 1) -> None:
    """Serve the app with uvicorn until interrupted, in ``workers`` processes; over HTTPS with ``tls``
    (core.tls's certificate)."""
    import uvicorn

    from core import tls as tls_files
    from spatial_api.http_protocol import NoDelayHttpProtocol

    files = tls_files.certificate(get_settings(), host) if tls else None
    uvicorn.run(
        "spatial_api.app:create_app" if workers > 1 else create_app,  # worker processes import the factory
        factory=True,
        workers=workers,
        http=NoDelayHttpProtocol,
        host=host,
        port=port,
        log_config=log_config(),
        access_log=False,
        log_level="info",
        ssl_certfile=str(files[0]) if files else None,
        ssl_keyfile=str(files[1]) if files else None,
    )
