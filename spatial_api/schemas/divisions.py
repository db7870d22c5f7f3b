"""`/divisions` and `/statistics/divisions`."""

from __future__ import annotations

from pydantic import BaseModel, Field

from spatial_api.schemas.common import GeoJSON


class Division(BaseModel):
    code: str = Field(description="12-digit statistical division code")
    parent_code: str | None
    level: int = Field(description="1 province, 2 city, 3 county, 4 township, 5 village")
    level_name: str
    name: str
    name_en: str | None
    zone_srid: int | None = Field(description="EPSG code of the 3-degree zone its lengths and areas are measured in")
    geometry: GeoJSON | None = None


class Divisions(BaseModel):
    divisions: list[Division]


class DivisionMeasures(BaseModel):
    buildings: int
    building_footprint_m2: float = Field(description="footprint area measured in each city's own 3-degree zone")
    projects: int
    pipelines: int
    pipeline_km: float = Field(description="2D length measured in each city's own 3-degree zone")
    enterprises: int
    events: int


class DivisionGroup(DivisionMeasures):
    code: str
    name: str | None
    name_en: str | None
    level: int


class DivisionStatistics(BaseModel):
    division: str | None = Field(description="the division filtered on (12 digits), or null for all")
    group_by: str
    groups: list[DivisionGroup]
    total: DivisionMeasures
