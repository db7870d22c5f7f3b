"""OGC API Features: Part 1 (core, GeoJSON, OpenAPI 3.0), Part 2 (CRS by reference), Part 3
(queryables, CQL2 text and JSON filters, sortby) and Part 4 (create, replace, update, delete) on
the record layers through the records write path. Query building lives in ``core.ogc``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from core import layers
from core.db import read_engine
from core.errors import UserError
from core.ogc import apidoc, cql2, queryables
from core.ogc import crs as crs_
from core.ogc import query as ogc
from core.registry import Layer, registry
from records import spec, write
from spatial_api import audit, record_writes
from spatial_api.security import Principal, current_principal, readable_layer


class OgcRoute(APIRoute):
    """A route whose invalid parameters are a 400 problem (OGC API Features asks 400, not 422)."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
                where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
                raise UserError(f"{where}: {first.get('msg', '')}" if where else first.get("msg", "")) from None

        return route


router = APIRouter(tags=["features"], route_class=OgcRoute)

GEOJSON = "application/geo+json"
SCHEMA_JSON = "application/schema+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/arithmetic",
    "http://www.opengis.net/spec/ogcapi-records-1/1.0/conf/sorting",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
]
CRS84 = crs_.CRS84


class OpenAPIResponse(JSONResponse):
    media_type = OPENAPI


class SchemaResponse(JSONResponse):
    media_type = SCHEMA_JSON


class Link(BaseModel):
    href: str
    rel: str
    type: str | None = None
    title: str | None = None


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]  # noqa: N815 (the standard's name)


class Collection(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str
    title: str
    description: str
    itemType: str  # noqa: N815
    crs: list[str]
    storageCrs: str  # noqa: N815
    extent: dict[str, Any]
    links: list[Link]


class Collections(BaseModel):
    links: list[Link]
    collections: list[Collection]


def get_and_head(path: str, include_in_schema: bool = True, **kwargs: Any) -> Callable:
    """Register a GET route and the same endpoint for HEAD (left out of the OpenAPI document)."""

    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=["HEAD"], include_in_schema=False, **kwargs)
        router.add_api_route(path, endpoint, methods=["GET"], include_in_schema=include_in_schema, **kwargs)
        return endpoint

    return register


def _base(request: Request) -> str:
    """The landing page's URL without the trailing slash (its path looked up once per app: a
    ``url_for`` walks every route, ~0.7 ms)."""
    state = request.app.state
    if not hasattr(state, "landing_path"):
        state.landing_path = request.app.url_path_for("landing").rstrip("/")
    return str(request.base_url).rstrip("/") + state.landing_path


@get_and_head("/", name="landing", response_model=LandingPage)
def landing(request: Request) -> dict:
    """The landing page: links to the API description, conformance and the collections."""
    base = _base(request)
    return {
        "title": "CIM Server",
        "description": "City information model of the housing-and-construction bureau: buildings, works, pipes",
        "links": [
            {"href": f"{base}/", "rel": "self", "type": "application/json", "title": "this document"},
            {"href": f"{base}/api", "rel": "service-desc", "type": OPENAPI, "title": "the OGC API definition"},
            {
                "href": f"{str(request.base_url).rstrip('/')}/openapi.json",
                "rel": "service-desc",
                "type": OPENAPI,
                "title": "the whole API",
            },
            {"href": f"{base}/conformance", "rel": "conformance", "type": "application/json"},
            {"href": f"{base}/collections", "rel": "data", "type": "application/json"},
        ],
    }


get_and_head("", include_in_schema=False, name="landing_bare", response_model=LandingPage)(landing)


@get_and_head("/api", response_class=OpenAPIResponse)
def api_definition(request: Request) -> OpenAPIResponse:
    """The OGC API definition (OpenAPI 3.0): the features paths relative to the landing page, one
    items path per collection with its properties as query parameters (what GIS clients read)."""
    base = _base(request)
    state = request.app.state
    cached = getattr(state, "ogc_api_definition", None)
    if cached is None or cached[0] != base:
        document = apidoc.definition(request.app.openapi(), base[len(str(request.base_url).rstrip("/")) :], base)
        state.ogc_api_definition = cached = (base, document)
    return OpenAPIResponse(cached[1])


@get_and_head("/conformance", response_model=Conformance)
def conformance() -> dict:
    """The conformance classes implemented (Parts 1 to 4 and CQL2)."""
    return {"conformsTo": CONFORMANCE}


def _collection_doc(base: str, collection: Layer, bbox: list[float] | None) -> dict:
    href = f"{base}/collections/{collection.name}"
    links = [
        {"href": href, "rel": "self", "type": "application/json"},
        {"href": f"{href}/items", "rel": "items", "type": GEOJSON},
        {"href": f"{href}/queryables", "rel": "http://www.opengis.net/def/rel/ogc/1.0/queryables", "type": SCHEMA_JSON},
    ]
    return {
        "id": collection.name,
        "title": f"{collection.title.zh} {collection.title.en}",
        "description": f"{collection.description.zh} / {collection.description.en}",
        "itemType": "feature",
        "crs": crs_.uris(),
        "storageCrs": crs_.store().uri,
        # no features yet: the store CRS's zone, so that clients still open the collection
        "extent": {"spatial": {"bbox": [bbox or crs_.zone_extent()], "crs": CRS84}},
        "links": links,
    }


@get_and_head("/collections", response_model=Collections)
def collections(request: Request) -> dict:
    """Every collection of the registry with its extent (CRS84) and CRSs."""
    base = _base(request)
    with read_engine().connect() as conn:
        docs = [_collection_doc(base, c, layers.extent(conn, c)) for c in registry().layers]
    return {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": docs,
    }


@get_and_head("/collections/{collection_id}", response_model=Collection)
def collection(collection_id: str, request: Request) -> dict:
    """One collection: extent, CRSs (``crs``, ``storageCrs``) and links."""
    coll = layers.get_collection(collection_id)
    with read_engine().connect() as conn:
        return _collection_doc(_base(request), coll, layers.extent(conn, coll))


@get_and_head("/collections/{collection_id}/queryables", response_class=SchemaResponse)
def queryables_(collection_id: str, request: Request) -> SchemaResponse:
    """The properties a ``filter`` or ``sortby`` may name, as JSON Schema (titles in Chinese,
    descriptions in English)."""
    coll = layers.get_collection(collection_id)
    url = f"{_base(request)}/collections/{coll.name}/queryables"
    return SchemaResponse(queryables.schema(coll, url))


def _items_request(
    coll: Layer,
    params: dict[str, str],
    limit: int,
    offset: int,
) -> ogc.Items:
    """The items request of the query string, each part checked (a 400 naming what is wrong)."""
    bbox_crs = crs_.parse(params.get("bbox-crs"), "bbox-crs")
    filter_crs = crs_.parse(params.get("filter-crs"), "filter-crs")
    text = params.get("filter")
    return ogc.Items(
        layer=coll,
        limit=limit,
        offset=offset,
        bbox=ogc.parse_bbox(params["bbox"], bbox_crs) if params.get("bbox") else None,
        bbox_crs=bbox_crs,
        period=ogc.parse_datetime(coll, params["datetime"]) if params.get("datetime") else None,
        properties=layers.property_filters(coll, params),
        filter=cql2.parse(text, params.get("filter-lang")) if text else None,
        filter_crs=filter_crs,
        sortby=ogc.parse_sortby(coll, params["sortby"]) if params.get("sortby") else (),
        crs=crs_.parse(params.get("crs")),
    )


def _page_links(href: str, query: dict[str, str], limit: int, offset: int, more: bool) -> list[dict]:
    links = [{"href": f"{href}?{urlencode(query)}" if query else href, "rel": "self", "type": GEOJSON}]
    if more:
        following = urlencode({**query, "limit": limit, "offset": offset + limit})
        links.append({"href": f"{href}?{following}", "rel": "next", "type": GEOJSON})
    if offset > 0:
        previous = urlencode({**query, "limit": limit, "offset": max(offset - limit, 0)})
        links.append({"href": f"{href}?{previous}", "rel": "prev", "type": GEOJSON})
    return links


@get_and_head(
    "/collections/{collection_id}/items",
    response_class=Response,
    dependencies=[Depends(readable_layer)],
    responses={200: {"content": {GEOJSON: {}}}},
)
def items(
    collection_id: str,
    request: Request,
    bbox: str | None = Query(
        None, description="lower and upper corner, in bbox-crs (CRS84: minlon,minlat,maxlon,maxlat)"
    ),
    bbox_crs: str | None = Query(None, alias="bbox-crs", description="the CRS of bbox (one of the collection's crs)"),
    crs: str | None = Query(None, description="the CRS of the answer's coordinates (default CRS84)"),
    datetime_: str | None = Query(None, alias="datetime", description="an instant or interval a/b (.. open), RFC 3339"),
    filter_: str | None = Query(None, alias="filter", description="a CQL2 filter over the queryables"),
    filter_lang: Literal["cql2-text", "cql2-json", "cql-text"] = Query(
        "cql2-text", alias="filter-lang", description="cql-text: the CQL draft's name for the text encoding (GDAL)"
    ),
    filter_crs: str | None = Query(None, alias="filter-crs", description="the CRS of the filter's geometries"),
    sortby: str | None = Query(None, description="queryables, + ascending (default) or - descending: -height_m,+code"),
    result_type: Literal["results", "hits"] = Query("results", alias="resultType", description="hits: only count"),
    limit: int = Query(layers.DEFAULT_LIMIT, ge=1, le=layers.MAX_LIMIT),
    offset: int = Query(0, ge=0),
    principal: Principal = Depends(current_principal),
) -> Response:
    """A page of features as GeoJSON with ``numberMatched``; any other query parameter filters on a
    property (``?utility=gas``)."""
    coll = layers.get_collection(collection_id)
    params = dict(request.query_params)
    wanted = _items_request(coll, params, 0 if result_type == "hits" else limit, offset)
    with read_engine().connect() as conn:
        wanted.scope = principal.districts
        features, matched = ogc.items(conn, wanted)
    audit.paged(coll.name, limit, len(features), principal, request)
    href = f"{_base(request)}/collections/{coll.name}/items"
    links = _page_links(href, params, limit, offset, offset + len(features) < matched and result_type == "results")
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = (
        '{"type":"FeatureCollection","features":[' + ",".join(features) + "],"
        f'"numberMatched":{matched},"numberReturned":{len(features)},"timeStamp":"{stamp}",'
        '"links":' + _json(links) + "}"
    )
    return Response(body, media_type=GEOJSON, headers={"Content-Crs": crs_.header(wanted.crs)})


@get_and_head(
    "/collections/{collection_id}/items/{fid}",
    response_class=Response,
    dependencies=[Depends(readable_layer)],
    responses={200: {"content": {GEOJSON: {}}}},
)
def item(
    collection_id: str,
    fid: str,
    request: Request,
    crs: str | None = Query(None, description="the CRS of the answer's coordinates (default CRS84)"),
    principal: Principal = Depends(current_principal),
) -> Response:
    """One feature; on the record layers with the record's ETag (give it as If-Match to change it)."""
    coll = layers.get_collection(collection_id)
    answer_crs = crs_.parse(crs)
    headers = {"Content-Crs": crs_.header(answer_crs)}
    with read_engine().connect() as conn:
        feature = ogc.item(conn, coll, fid, answer_crs, principal.districts)
        if coll.records:
            headers["ETag"] = write.read(conn, spec.get(coll.records), fid)[1]
    base = f"{_base(request)}/collections/{coll.name}"
    links = [
        {"href": f"{base}/items/{fid}", "rel": "self", "type": GEOJSON},
        {"href": base, "rel": "collection", "type": "application/json"},
    ]
    return Response(feature[:-1] + ',"links":' + _json(links) + "}", media_type=GEOJSON, headers=headers)


# Part 4: the record layers (registry ``records``) through the records write path.


def _record_layer(collection_id: str, principal: Principal) -> tuple[Layer, spec.Kind]:
    coll = layers.get_collection(collection_id)
    if not coll.records:
        writable = ", ".join(la.name for la in registry().layers if la.records)
        raise UserError(f"{coll.name} is read-only here; features can be written in: {writable}")
    return coll, record_writes.writer(coll.records, principal)


def _record_body(kind: spec.Kind, feature: dict[str, Any], content_crs: str | None, partial: bool) -> dict[str, Any]:
    """A GeoJSON feature as the write API's record body: its properties, its id as the key (when the
    properties leave it out) and its geometry (CRS84 GeoJSON, projected from ``Content-Crs``)."""
    if feature.get("type") != "Feature" or not isinstance(feature.get("properties", {}), dict):
        raise UserError('give a GeoJSON Feature: {"type": "Feature", "geometry": {...}, "properties": {...}}')
    body = dict(feature.get("properties") or {})
    if feature.get("id") is not None and len(kind.key) == 1:
        body.setdefault(kind.key[0], str(feature["id"]))
    geometry = feature.get("geometry")
    if geometry is not None or not partial:
        if len(kind.geometry_columns) != 1:
            raise UserError(f"{kind.name} records have no geometry to write")
        given = crs_.parse(content_crs.strip("<>") if content_crs else None, "Content-Crs")
        body[kind.geometry_columns[0]] = crs_.to_crs84_geojson(geometry, given) if geometry else None
    return body


class FeatureIn(BaseModel):
    """A GeoJSON Feature to write: properties are the record's fields."""

    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    id: str | int | None = None
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] | None = Field(default_factory=dict)


ContentCrs = Header(None, alias="Content-Crs", description="the CRS of the body's coordinates (default CRS84)")
IfMatch = Header(None, alias="If-Match", description="the feature's ETag as read")
DELETED = "通过 OGC API Features 删除 (deleted through OGC API Features)"


@router.post(
    "/collections/{collection_id}/items",
    status_code=201,
    response_class=Response,
    responses={201: {"description": "created; Location names it"}},
)
def create_item(
    collection_id: str,
    request: Request,
    feature: FeatureIn = Body(...),
    content_crs: str | None = ContentCrs,
    principal: Principal = Depends(current_principal),
) -> Response:
    """Create a feature of a record layer (validated, audited and linked like ``POST /records/{kind}``)."""
    coll, kind = _record_layer(collection_id, principal)
    body = _record_body(kind, feature.model_dump(exclude_unset=False), content_crs, partial=False)
    key, _, etag = record_writes.create(kind, body, principal, request)
    location = f"{_base(request)}/collections/{coll.name}/items/{key}"
    return Response(status_code=201, headers={"Location": location, "ETag": etag})


@router.put(
    "/collections/{collection_id}/items/{fid}", status_code=204, response_class=Response, summary="Replace a feature"
)
@router.patch(
    "/collections/{collection_id}/items/{fid}", status_code=204, response_class=Response, summary="Update a feature"
)
def change_item(
    collection_id: str,
    fid: str,
    request: Request,
    feature: FeatureIn = Body(...),
    content_crs: str | None = ContentCrs,
    if_match: str | None = IfMatch,
    principal: Principal = Depends(current_principal),
) -> Response:
    """PUT replaces a feature, PATCH changes the properties (and geometry) given; both need If-Match
    with the feature's ETag: 428 without, 412 when it changed since."""
    _, kind = _record_layer(collection_id, principal)
    partial = request.method == "PATCH"
    body = _record_body(kind, feature.model_dump(exclude_unset=partial), content_crs, partial)
    _, etag = record_writes.change(kind, fid, body, if_match, partial, principal, request)
    return Response(status_code=204, headers={"ETag": etag})


@router.delete("/collections/{collection_id}/items/{fid}", status_code=204, response_class=Response)
def delete_item(
    collection_id: str,
    fid: str,
    request: Request,
    reason: str = Query(DELETED, description="why (the record layers are kept by law: marked deleted)"),
    if_match: str | None = IfMatch,
    principal: Principal = Depends(current_principal),
) -> Response:
    """Delete a feature of a record layer under If-Match; it leaves the collection at once."""
    _, kind = _record_layer(collection_id, principal)
    record_writes.delete(kind, fid, if_match, reason, principal, request)
    return Response(status_code=204)


def _json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))
