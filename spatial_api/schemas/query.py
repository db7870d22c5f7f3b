"""`/query`: identify and within."""

from __future__ import annotations

from pydantic import Field

from spatial_api.schemas.common import Answer, Row


class Identified(Answer):
    """A feature and what the city records link to it; the fields beyond ``layer`` and ``id``
    depend on the layer (a building's units and safety grade, a project's permits and parties...)."""

    layer: str = Field(description="collection id: buildings, pipelines, nodes, projects, parcels...")
    id: str


class BuildingsWithin(Answer):
    count: int
    by_use: dict[str, int]
    floor_area_m2_by_use: dict[str, float]
    house_units: int | None
    residents: int | None
    dangerous: list[Row] = Field(description="buildings graded C or D")


class Within(Answer):
    area_m2: float
    buildings: BuildingsWithin
    projects_by_stage: dict[str, int]
    enterprises_by_credit_grade: dict[str, int]
    contractors_by_credit_grade: dict[str, int]
    pipe_length_m_by_utility: dict[str, float]
    pipe_length_m_by_age: dict[str, float]
