"""Administrative divisions: the five levels with their codes and boundaries, and statistics of any
division grouped by any level below it (the work is in ``core.divisions`` and ``gis.analysis.divisions``)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Query
from sqlalchemy import text

from core import divisions as div
from core.db import read_engine
from core.models.divisions import LEVELS
from gis.analysis.divisions import statistics
from spatial_api.schemas.divisions import Divisions, DivisionStatistics
from spatial_api.security import Principal, current_principal, unauthorized

router = APIRouter(tags=["divisions"])

DIVISION = Query(None, description="a division code prefix (2, 4, 6, 9 digits) or 12-digit code: 42, 420101000000")
GROUP_BY = Query(None, description="level to group by: province, city, county, township, village (or 1–5)")


def logged_in(principal: Principal = Depends(current_principal)) -> Principal:
    if principal.username is None:
        raise unauthorized("log in to read statistics by division")
    return principal


@router.get("/divisions", response_model=Divisions)
def list_divisions(
    division: str | None = DIVISION,
    level: str | None = Query(None, description="only this level: province, city, county, township, village (1–5)"),
    geometry: bool = Query(False, description="include the boundaries (CRS84 GeoJSON)"),
) -> dict:
    """The divisions inside ``division`` (itself included), of one level or all, in code order."""
    where, condition_params = div.condition("d.code", division)
    params: dict[str, object] = dict(condition_params)
    if level is not None:
        where += " AND d.level = :level"
        params["level"] = div.level(level)
    shape = "ST_AsGeoJSON(ST_Transform(d.geom, 4326), 7)" if geometry else "NULL"
    sql = f"""SELECT code, parent_code, level, name, name_en, zone_srid, {shape} AS geometry
                FROM division d WHERE {where} ORDER BY code"""
    with read_engine().connect() as conn:
        rows = [dict(r) for r in conn.execute(text(sql), params).mappings()]
    for row in rows:
        row["level_name"] = LEVELS[row["level"]]
        row["geometry"] = json.loads(row["geometry"]) if row["geometry"] else None
    return {"divisions": rows}


@router.get("/statistics/divisions", response_model=DivisionStatistics)
def division_statistics(
    division: str | None = DIVISION, group_by: str | None = GROUP_BY, principal: Principal = Depends(logged_in)
) -> dict:
    """Buildings (count, footprint area), projects, pipes (count, length), enterprises and events of a
    division, grouped by the divisions of a level (default: the level below it); kept to the caller's districts."""
    with read_engine().connect() as conn:
        return statistics(conn, division, group_by, principal.districts)
