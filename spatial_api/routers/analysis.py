"""Emergency overlays (incident) and underground analyses (excavation, clearance, profile)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from shapely import LineString
from shapely.errors import ShapelyError
from shapely.geometry import mapping

from core.db import read_engine
from core.errors import UserError
from gis.analysis import inputs
from gis.analysis.clearance import clearance as clearance_
from gis.analysis.excavation import excavation as excavation_
from gis.analysis.incident import DEFAULT_RADIUS_M
from gis.analysis.incident import incident as incident_
from gis.analysis.profile import profile as profile_
from spatial_api import audit
from spatial_api.schemas.analysis import (
    AreaRequest,
    Clearance,
    Excavation,
    ExcavationRequest,
    Incident,
    IncidentRequest,
    Profile,
    ProfileRequest,
)
from spatial_api.security import Principal, current_principal, require_role

router = APIRouter(prefix="/analysis", tags=["analysis"])

# The incident overlay is open to every caller (personal data masked unless the role may see it);
# underground analyses are for engineers and planners.
underground_roles = require_role("engineer", "planner")


def _crs84(geom) -> dict:
    return mapping(inputs.to_crs84(geom))


@router.post("/incident", response_model=Incident)
def incident(body: IncidentRequest, request: Request, principal: Principal = Depends(current_principal)) -> dict:
    """What is in the zone of a gas leak, pipe burst, flood or fire; for a burst, the valves to close."""
    radius = body.radius_m
    if radius is None and body.location.get("type") == "Point":
        radius = DEFAULT_RADIUS_M[body.type]
    if radius is not None:
        radius = inputs.radius(radius)
    with read_engine().connect() as conn:
        location = inputs.geometry(conn, body.location, ("Point", "Polygon", "MultiPolygon"), "location")
        answer = incident_(
            conn, body.type, location, radius, principal.sees_personal_data, body.pipe_id, body.water_level_m
        )
    answer["zone"] = _crs84(answer["zone"])
    if principal.sees_personal_data:
        audit.record("read_personal", f"incident {body.type}", principal, request)
    return answer


@router.post("/excavation", response_model=Excavation)
def excavation(body: ExcavationRequest, principal: Principal = Depends(underground_roles)) -> dict:
    """Pipes and tunnels a dig of ``depth_m`` inside ``area`` would hit, with their owners."""
    with read_engine().connect() as conn:
        area = inputs.geometry(conn, body.area, ("Polygon", "MultiPolygon"), "area")
        return excavation_(conn, area, body.depth_m)


@router.post("/clearance", response_model=Clearance)
def clearance(body: AreaRequest, principal: Principal = Depends(underground_roles)) -> dict:
    """Pairs of pipes in an area closer than the clear distances of GB 50289."""
    with read_engine().connect() as conn:
        area = inputs.geometry(conn, body.area, ("Polygon", "MultiPolygon"), "area")
        violations = clearance_(conn, area)
    for v in violations:
        v["at"] = _crs84(v["at"])
    return {"violations": violations, "count": len(violations)}


def _profile(line_geojson: dict, step_m: float) -> dict:
    with read_engine().connect() as conn:
        line = inputs.geometry(conn, line_geojson, ("LineString",), "line")
        return profile_(conn, line, step_m)


@router.get("/profile", response_model=Profile)
def profile_get(
    line: str = Query(..., description="lon,lat;lon,lat;... in CRS84"),
    step_m: float = Query(5.0),
    principal: Principal = Depends(underground_roles),
) -> dict:
    """A section along a line: ground from the DEM, pipes and tunnels crossing it at their depth."""
    try:
        coords = [tuple(float(v) for v in pair.split(",")) for pair in line.split(";")]
        geojson = mapping(LineString(coords))
    except (ValueError, TypeError, ShapelyError):
        raise UserError("line must be lon,lat;lon,lat;... with at least two positions") from None
    return _profile(geojson, step_m)


@router.post("/profile", response_model=Profile)
def profile_post(body: ProfileRequest, principal: Principal = Depends(underground_roles)) -> dict:
    """The same section, the line given as GeoJSON."""
    return _profile(body.line, body.step_m)
