"""Placement beyond doubt: before any rule runs, the model must lie on its project's parcel.

A model whose footprint (the convex hull of its elements' footprints, store CRS) overlaps the
parcel by less than :data:`MIN_OVERLAP` of its area is misplaced: one error says how far and in
which compass direction it lies from the parcel and what georeferencing the file declared, and
the checks that depend on the model's place (planning, city clashes) are skipped."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import shapely
from pyproj import Geod
from sqlalchemy import text
from sqlalchemy.orm import Session

from bim_ingest.review import rules
from bim_ingest.review.issues import Issue, rounded
from gis.crs import store_to_crs84

# Below this share of the model's footprint on its parcel, the model is taken as misplaced.
MIN_OVERLAP = 0.5
# From this gap on (m) the message gives the distance in kilometres too.
FAR_M = 10_000.0
_GEOD = Geod(ellps="WGS84")


@lru_cache(maxsize=1)
def compass_points() -> list[tuple[str, str]]:
    data = json.loads((Path(__file__).parent / "data" / "compass.json").read_text(encoding="utf-8"))
    return [(zh, en) for zh, en in data["points"]]


def compass(bearing_deg: float) -> tuple[str, str]:
    """The compass point (Chinese, English) of a bearing in degrees clockwise from true north."""
    points = compass_points()
    step = 360 / len(points)
    return points[int(((bearing_deg % 360) + step / 2) // step) % len(points)]


def declared_georef(report: dict[str, Any] | None) -> str:
    """What the file declared for its place on the earth, in one line."""
    report = report or {}
    method = report.get("method") or "none"
    declared = report.get("declared")
    if declared:
        scale = "omitted" if declared.get("scale") is None else f"{declared['scale']:g}"
        return (
            f"{method} {declared.get('crs')}: Eastings {declared['eastings']:.3f}, Northings "
            f"{declared['northings']:.3f}, Scale {scale}, rotation {report.get('rotation_deg', 0.0):.2f}°"
            f" (read as {report.get('reading')})"
        )
    if method == "IfcSite":
        lon, lat, h = report.get("site_lonlat_elevation") or report.get("origin_lonlat_h") or (None, None, None)
        return f"IfcSite RefLongitude {lon:.6f}°, RefLatitude {lat:.6f}°, RefElevation {h:.2f} m"
    if method == "override":
        east, north, height = report.get("origin_map") or (0.0, 0.0, 0.0)
        return f"override {report.get('crs')}: origin E {east:.3f} N {north:.3f} H {height:.2f}"
    return f"{method} ({report.get('crs')})"


def placement_check(
    session: Session, version_id: int, project_code: str, building_global_id: str | None
) -> tuple[Issue | None, dict[str, Any]]:
    """The placement error (or None) and the check's summary; passed None when there is nothing to
    compare (no parcel recorded for the project, or no element with geometry)."""
    row = session.execute(
        text(
            """
            SELECT p.code, ST_AsBinary(p.geom) AS parcel,
                   (SELECT ST_AsBinary(ST_ConvexHull(ST_Collect(coalesce(e.footprint, ST_Force2D(e.geom)))))
                    FROM bim_element e WHERE e.version_id = :v) AS model,
                   v.georef
            FROM project pr JOIN parcel p ON p.code = pr.parcel_code, bim_model_version v
            WHERE pr.code = :code AND v.id = :v
            """
        ),
        {"code": project_code, "v": version_id},
    ).first()
    check: dict[str, Any] = {"rule": rules.PLACEMENT, "measured": None, "limit": 0.0, "unit": "m", "elements": []}
    if row is None or row.model is None:
        return None, check | {"passed": None}
    parcel, model = shapely.from_wkb(bytes(row.parcel)), shapely.from_wkb(bytes(row.model))
    overlap = model.intersection(parcel).area / model.area if model.area > 0 else float(model.intersects(parcel))
    gap = float(model.distance(parcel))
    to_lonlat = store_to_crs84()
    (lon0, lat0), (lon1, lat1) = (to_lonlat.transform(c.x, c.y) for c in (parcel.centroid, model.centroid))
    bearing, _, centre_distance = _GEOD.inv(lon0, lat0, lon1, lat1)
    bearing %= 360
    zh, en = compass(bearing)
    facts = {
        "parcel": row.code,
        "overlap": round(overlap, 4),
        "distance_m": rounded(gap),
        "centre_distance_m": rounded(centre_distance),
        "bearing_deg": round(bearing, 1),
        "direction": {"zh": zh, "en": en},
        "declared_georef": declared_georef(row.georef),
    }
    passed = overlap >= MIN_OVERLAP
    check |= {"measured": rounded(gap), "passed": passed, **facts}
    if passed:
        return None, check
    far = (f" (about {gap / 1000:,.0f} km)", f"（约 {gap / 1000:,.0f} 千米）") if gap >= FAR_M else ("", "")
    where = (
        (f"{gap:.1f} m{far[0]} from it" if gap > 0 else f"only {overlap:.0%} of its footprint on it"),
        (f"距宗地 {gap:.1f} 米{far[1]}" if gap > 0 else f"仅 {overlap:.0%} 的占地在宗地内"),
    )
    message = (
        f"模型未放置在本项目用地内：项目 {project_code} 的宗地 {row.code}，{where[1]}，模型中心位于宗地中心{zh}方向 "
        f"{centre_distance:.1f} 米（方位角 {bearing:.0f}°）；文件声明的地理参照：{facts['declared_georef']}。"
        f"其余规划检查已跳过，请更正地理参照后重新提交。 / "
        f"The model is not placed on this project's parcel ({row.code} of project {project_code}): {where[0]}, "
        f"its centre {centre_distance:.1f} m {en} (bearing {bearing:.0f}°) of the parcel's centre; the file declares "
        f"{facts['declared_georef']}. The other planning checks were skipped: correct the georeferencing and resubmit."
    )
    issue = Issue(
        rule=rules.PLACEMENT,
        severity=rules.ERROR,
        message=message,
        global_id=building_global_id,
        ifc_class="IfcBuilding",
        measured=rounded(gap),
        limit=0.0,
        unit="m",
        details=facts,
    )
    return issue, check
