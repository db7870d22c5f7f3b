"""The API documentation pages, /docs (Swagger UI) and /redoc (ReDoc), from files vendored from npm:
FastAPI's own pages load both from a CDN and run an inline script the page's policy refuses."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

PAGES = Path(__file__).resolve().parent.parent / "viewer" / "apidocs"


def install(app: FastAPI) -> None:
    """Serve the two pages (their scripts are under /apidocs/, the libraries under /vendor/)."""

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> FileResponse:
        return FileResponse(PAGES / "swagger.html", media_type="text/html")

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> FileResponse:
        return FileResponse(PAGES / "redoc.html", media_type="text/html")
