"""OGC API Features (Part 1: Core, GeoJSON, OpenAPI 3.0): landing page, conformance, collections, items."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from core import layers
from core.db import read_engine
from core.registry import Layer, registry
from spatial_api import audit
from spatial_api.security import Principal, current_principal, readable_layer

router = APIRouter(tags=["features"])

GEOJSON = "application/geo+json"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def _base(request: Request) -> str:
    """The landing page's URL without the trailing slash (its path looked up once per app: a
    ``url_for`` walks every route, ~0.7 ms)."""
    state = request.app.state
    if not hasattr(state, "landing_path"):
        state.landing_path = request.app.url_path_for("landing").rstrip("/")
    return str(request.base_url).rstrip("/") + state.landing_path


@router.get("", include_in_schema=False)
@router.get("/", name="landing")
def landing(request: Request) -> dict:
    """The landing page: links to the API description, conformance and the collections."""
    base = _base(request)
    return {
        "title": "CIM Server",
        "description": "City information model of the housing-and-construction bureau: buildings, works, pipes",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {
                "href": f"{str(request.base_url).rstrip('/')}/openapi.json",
                "rel": "service-desc",
                "type": "application/vnd.oai.openapi+json;version=3.0",
            },
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


@router.get("/conformance")
def conformance() -> dict:
    return {"conformsTo": CONFORMANCE}


def _collection_doc(base: str, collection: Layer, bbox: list[float] | None) -> dict:
    href = f"{base}/collections/{collection.name}"
    doc = {
        "id": collection.name,
        "title": collection.title.en,
        "description": collection.description.en,
        "itemType": "feature",
        "crs": [CRS84],
        "links": [
            {"href": href, "rel": "self", "type": "application/json"},
            {"href": f"{href}/items", "rel": "items", "type": GEOJSON},
        ],
    }
    if bbox:
        doc["extent"] = {"spatial": {"bbox": [bbox], "crs": CRS84}}
    return doc


@router.get("/collections")
def collections(request: Request) -> dict:
    base = _base(request)
    with read_engine().connect() as conn:
        docs = [_collection_doc(base, c, layers.extent(conn, c)) for c in registry().layers]
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": docs,
    }


@router.get("/collections/{collection_id}")
def collection(collection_id: str, request: Request) -> dict:
    coll = layers.get_collection(collection_id)
    with read_engine().connect() as conn:
        return _collection_doc(_base(request), coll, layers.extent(conn, coll))


@router.get("/collections/{collection_id}/items", response_class=Response, dependencies=[Depends(readable_layer)])
def items(
    collection_id: str,
    request: Request,
    bbox: str | None = Query(None, description="minlon,minlat,maxlon,maxlat in CRS84"),
    limit: int = Query(layers.DEFAULT_LIMIT, ge=1, le=layers.MAX_LIMIT),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(current_principal),
) -> Response:
    """A page of features as GeoJSON; any other query parameter filters on a property (``?utility=gas``)."""
    coll = layers.get_collection(collection_id)
    box = layers.parse_bbox(bbox) if bbox else None
    filters = layers.property_filters(coll, dict(request.query_params))
    with read_engine().connect() as conn:
        features, more = layers.items(conn, coll, box, filters, limit, offset, principal.districts)
    audit.paged(coll.name, limit, len(features), principal, request)
    href = f"{_base(request)}/collections/{coll.name}/items"
    query = dict(request.query_params)
    links = [{"href": f"{href}?{urlencode(query)}" if query else href, "rel": "self", "type": GEOJSON}]
    if more:
        links.append(
            {
                "href": f"{href}?{urlencode({**query, 'limit': limit, 'offset': offset + limit})}",
                "rel": "next",
                "type": GEOJSON,
            }
        )
    if offset > 0:
        links.append(
            {
                "href": f"{href}?{urlencode({**query, 'limit': limit, 'offset': max(offset - limit, 0)})}",
                "rel": "prev",
                "type": GEOJSON,
            }
        )
    body = (
        '{"type":"FeatureCollection","features":[' + ",".join(features) + "],"
        f'"numberReturned":{len(features)},"links":' + _json(links) + "}"
    )
    return Response(body, media_type=GEOJSON)


@router.get("/collections/{collection_id}/items/{fid}", response_class=Response, dependencies=[Depends(readable_layer)])
def item(collection_id: str, fid: str, request: Request, principal: Principal = Depends(current_principal)) -> Response:
    coll = layers.get_collection(collection_id)
    with read_engine().connect() as conn:
        feature = layers.item(conn, coll, fid, principal.districts)
    base = f"{_base(request)}/collections/{coll.name}"
    links = [
        {"href": f"{base}/items/{fid}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": "application/json"},
    ]
    return Response(feature[:-1] + ',"links":' + _json(links) + "}", media_type=GEOJSON)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
