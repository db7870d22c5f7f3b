"""3D Tiles serving: tileset JSON and glb content with ETag and Cache-Control (the app's gzip
middleware compresses them), strict path checks; rebuilding a layer as a job."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from core import jobs
from core.errors import NotFound, UserError
from core.settings import get_settings
from spatial_api import audit
from spatial_api.pipelines import job_url
from spatial_api.schemas.common import BINARY
from spatial_api.schemas.tiles import TilesBuildQueued
from spatial_api.security import Principal, readable_layer, require_role
from tiles.sources import VERSION_PREFIX, is_layer_name, names

router = APIRouter(tags=["tiles"])
may_build = require_role("engineer")

CONTENT_PATH = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*\.(glb|b3dm|json)$")
NAME_MAX = 255  # characters of one file name (the path is ASCII): longer ones no filesystem holds
PATH_MAX = 1024  # characters of a whole content path; tile paths are far shorter
MEDIA_TYPES = {".glb": "model/gltf-binary", ".b3dm": "application/octet-stream", ".json": "application/json"}
TILESET = {"schema": {"type": "object", "description": "3D Tiles 1.1 tileset"}}
# Content URIs carry their hash (``?v=``), so tiles may be cached; the tileset is revalidated.
CACHE = {".json": "no-cache", ".glb": "public, max-age=86400", ".b3dm": "public, max-age=86400"}


def _file(layer: str, path: str) -> Path:
    if not is_layer_name(layer):
        raise NotFound(f"no tile layer {layer!r}: use {', '.join(names())} or {VERSION_PREFIX}<version id>")
    if not CONTENT_PATH.match(path) or ".." in path:
        raise UserError(f"bad tile path {path!r}: expected names like t/3_1_2.glb")
    if len(path) > PATH_MAX or any(len(part) > NAME_MAX for part in path.split("/")):
        raise NotFound(f"tile layer {layer!r} has no such tile: names are at most {NAME_MAX} characters")
    root = (get_settings().tiles_dir / layer).resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        hint = f"build it with `cim tiles build {layer}`" if path == "tileset.json" else "reload the tileset"
        raise NotFound(f"tile layer {layer!r} has no {path}: {hint}")
    return target


def _serve(request: Request, target: Path) -> Response:
    stat = target.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    headers = {"ETag": etag, "Cache-Control": CACHE[target.suffix]}
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return FileResponse(target, media_type=MEDIA_TYPES[target.suffix], headers=headers)


@router.get(
    "/tiles/{layer}/tileset.json",
    summary="A layer's 3D Tiles 1.1 tileset",
    response_class=Response,
    dependencies=[Depends(readable_layer)],
    responses={200: {"content": {"application/json": TILESET}}},
)
def tileset(layer: str, request: Request) -> Response:
    return _serve(request, _file(layer, "tileset.json"))


@router.get(
    "/tiles/{layer}/{path:path}",
    summary="A tile's content (glb)",
    response_class=Response,
    dependencies=[Depends(readable_layer)],
    responses={200: {"content": {media: BINARY for media in ("model/gltf-binary", "application/octet-stream")}}},
)
def content(layer: str, path: str, request: Request) -> Response:
    return _serve(request, _file(layer, path))


@router.post(
    "/tiles/{layer}/build",
    status_code=202,
    summary="Rebuild a layer's tiles (a job)",
    response_model=TilesBuildQueued,
)
def build(layer: str, request: Request, principal: Principal = Depends(may_build)) -> dict:
    if not is_layer_name(layer):
        raise NotFound(f"no tile layer {layer!r}: use {', '.join(names())} or {VERSION_PREFIX}<version id>")
    job_id = jobs.submit("tiles.build", {"layer": layer}, principal.username)
    audit.record("tiles.build", layer, principal, request, "queued")
    return {"job_id": str(job_id), "status": job_url(job_id)}
