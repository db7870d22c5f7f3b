"""Manage by map: identify (a point or a feature id → the feature and its linked records) and within
(a drawn polygon → statistics)."""

from __future__ import annotations

from datetime import date

import shapely
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from core import districts, layers
from core.db import read_engine, reads_on_primary
from core.errors import UserError
from core.registry import registry
from core.settings import store_srid
from gis.analysis import identify as identify_
from gis.analysis import inputs
from gis.analysis.within import within as within_
from spatial_api import audit
from spatial_api.schemas.query import Identified, Within
from spatial_api.security import Principal, current_principal

router = APIRouter(prefix="/query", tags=["query"])


# the answer is JSON PostgreSQL built: documented by its model, sent without validating it again
@router.get("/identify", response_class=JSONResponse, responses={200: {"model": Identified}})
def identify(
    request: Request,
    lon: float | None = Query(None, description="CRS84 longitude of a click"),
    lat: float | None = Query(None, description="CRS84 latitude of a click"),
    layer: str | None = Query(None, description="collection id, with id: buildings, pipelines, projects..."),
    id: str | None = Query(None, description="feature id (building code, pipe id, USCC...)"),
    distance_m: float = Query(10.0, description="how far around the feature to look for pipes and tunnels"),
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """The feature at a point (buildings first, then pipes, nodes, sites, parcels) or by id, with its
    project, permits, filings, parties with credit, people (masked per role), safety grade and what lies beneath."""
    with read_engine().connect() as conn:
        if layer is not None and id is not None:
            found_layer, fid = layer, id
        elif lon is not None and lat is not None:
            found_layer, fid = identify_.pick(conn, inputs.point(conn, lon, lat))
        else:
            raise UserError("give lon and lat of a point, or layer and id of a feature")
        obj = f"identify {found_layer}/{fid}"
        # The audit row in the read's own statement (autocommit: committed durably with it, before the
        # answer leaves), written exactly when the answer names people; not on a standby, and not before
        # a district-scoped caller's check.
        in_read = principal.sees_personal_data and principal.districts is None and reads_on_primary()
        row = audit.row_when("read_personal", obj, principal, request) if in_read else None
        answer = identify_.identify(conn, found_layer, fid, principal.sees_personal_data, distance_m, row)
        if principal.districts is not None:
            found = registry().layer(found_layer)
            key = layers.feature_id(found, fid)
            where = (found.from_clause, f"t.{found.id_column}", key, layers.geom_sql(found), None)
            districts.check(conn, *where, principal.districts, f"{found_layer} {fid}")
        if principal.sees_personal_data and identify_.has_people(answer) and row is None:
            # after the read, on its own connection (one round trip) or, with a standby, on the primary
            audit.record("read_personal", obj, principal, request, conn=conn if reads_on_primary() else None)
    return JSONResponse(answer)  # JSON values from PostgreSQL: no encoder pass needed


@router.post("/within", response_model=Within)
def within(
    request: Request,
    geometry: dict = Body(..., description="a GeoJSON Polygon or MultiPolygon in CRS84", embed=False),
    principal: Principal = Depends(current_principal),
) -> dict:
    """Statistics of a drawn area: buildings and floor area by use, dangerous buildings, residents,
    projects by stage, enterprises by credit grade, pipe length by utility and by age."""
    area_geojson = geometry.get("geometry", geometry) if geometry.get("type") == "Feature" else geometry
    with read_engine().connect() as conn:
        area = inputs.geometry(conn, area_geojson, ("Polygon", "MultiPolygon"), "area")
        if principal.districts is not None:  # the statistics of the part inside the caller's districts
            area = shapely.intersection(area, districts.area(conn, principal.districts))
        return within_(conn, area, store_srid(), date.today().year)
