"""`/analysis`: emergency overlays and underground analyses, their requests and answers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from gis.analysis.incident import IncidentType
from spatial_api.schemas.common import Answer, GeoJSON, Row


class IncidentRequest(BaseModel):
    type: IncidentType
    location: dict = Field(description="GeoJSON Point or Polygon in CRS84")
    radius_m: float | None = Field(None, description="buffer around the location; default by type")
    pipe_id: str | None = Field(None, description="pipe burst: the burst pipe (else the nearest water pipe)")
    water_level_m: float | None = Field(None, description="flood: water level, orthometric metres")


class AreaRequest(BaseModel):
    area: dict = Field(description="GeoJSON Polygon in CRS84")


class ExcavationRequest(AreaRequest):
    depth_m: float = Field(description="depth of the dig below the ground, metres")


class ProfileRequest(BaseModel):
    line: dict = Field(description="GeoJSON LineString in CRS84")
    step_m: float = 5.0


class PipesOfUtility(Answer):
    count: int
    length_m: float
    ids: list[str]


class Isolation(Answer):
    """A pipe burst: the valves that cut the burst section off, and who loses supply."""

    burst_pipe: str
    utility: str
    valves_to_close: list[str]
    valves_already_closed: list[str]
    isolated_pipes: list[str]
    warning: str | None
    buildings_losing_supply: list[Row]


class Incident(Answer):
    type: IncidentType
    zone: GeoJSON
    zone_area_m2: float
    buildings: list[Row] = Field(description="buildings in the zone with their house units (people masked per role)")
    residents: int
    construction_sites: list[Row] = Field(description="active works with contractor and people")
    pipes_by_utility: dict[str, PipesOfUtility]
    tunnel_compartments: list[Row] = Field(description="utility tunnel compartments with their sensors")
    isolation: Isolation | None = Field(None, description="pipe burst only")


class Excavation(Answer):
    depth_m: float
    pipes: list[Row] = Field(description="pipes the dig reaches, with their top depth and length in the area")
    tunnels: list[Row] = Field(description="utility tunnels the dig reaches, with their compartments")
    owners_to_notify: list[str]


class ClearanceViolation(Answer):
    pipes: list[str] = Field(description="the two pipes' ids")
    utilities: list[str]
    kind: str = Field(description="horizontal or vertical")
    clear_m: float
    required_m: float = Field(description="GB 50289 clear distance")
    at: GeoJSON = Field(description="where they come closest")


class Clearance(Answer):
    violations: list[ClearanceViolation]
    count: int


class GroundSample(Answer):
    station_m: float
    ground_h_orthometric: float | None


class Profile(Answer):
    length_m: float
    ground: list[GroundSample]
    pipes: list[Row] = Field(description="pipe crossings: station, axis height and depth, utility, owner")
    tunnels: list[Row] = Field(description="tunnel crossings: station, floor and top height, cover depth")
