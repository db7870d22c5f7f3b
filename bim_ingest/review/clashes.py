"""Clash checks: between disciplines inside the model (ifcclash), and between the model and the
city's buried pipelines and utility tunnels in PostGIS, with the clearance each needs."""

from __future__ import annotations

from typing import Any

import ifcopenshell
import ifcopenshell.geom
import ifcopenshell.util.selector
from sqlalchemy import text
from sqlalchemy.orm import Session

from bim_ingest.geometry import TreeJob
from bim_ingest.review import rules
from bim_ingest.review.issues import Issue, rounded


def clash_tree(model: ifcopenshell.file) -> TreeJob:
    """The in-model clash check as a job for the ingest's kernel (geometry.TreeJob): every discipline
    element goes into one BVH tree as the ingest triangulates it (no second triangulation), and the
    tree answers with ifcclash's clash sets: every discipline pair in intersection mode (penetration
    over the tolerance) and collision mode (touching allowed)."""
    selectors: dict[str, str] = {}
    for name_a, select_a, name_b, select_b in rules.DISCIPLINE_PAIRS:
        selectors |= {name_a: select_a, name_b: select_b}
    members = {name: list(ifcopenshell.util.selector.filter_elements(model, s)) for name, s in selectors.items()}
    every = frozenset(e.id() for group in members.values() for e in group)
    return TreeJob(every, lambda tree: _clash_sets(tree, members))


def _clash_sets(tree: ifcopenshell.geom.tree, members: dict[str, list[Any]]) -> list[dict[str, Any]]:
    found = []
    for name_a, _, name_b, _ in rules.DISCIPLINE_PAIRS:
        a, b = members[name_a], members[name_b]
        if not (a and b):
            continue
        for mode, results in (
            ("intersection", tree.clash_intersection_many(a, b, tolerance=rules.CLASH_TOLERANCE_M, check_all=False)),
            ("collision", tree.clash_collision_many(a, b, allow_touching=False)),
        ):
            clashes = {
                f"{r.a.GlobalId}-{r.b.GlobalId}": {
                    "a_global_id": r.a.GlobalId,
                    "b_global_id": r.b.GlobalId,
                    "a_ifc_class": r.a.is_a(),
                    "b_ifc_class": r.b.is_a(),
                    "a_name": r.a.Name,
                    "b_name": r.b.Name,
                    "type": ifcopenshell.geom.tree.get_clash_type(r.clash_type),
                    "p1": [float(v) for v in r.p1],
                    "distance": float(r.distance),
                }
                for r in results
            }
            found.append({"name": f"{name_a}/{name_b}", "mode": mode, "clashes": clashes})
    return found


def internal_clashes(clash_sets: list[dict[str, Any]]) -> tuple[list[Issue], list[dict[str, Any]]]:
    """Hard clashes between architecture, structure and MEP (penetration over the tolerance), from
    the clash sets the ingest's tree answered (:func:`clash_tree`).

    The intersection mode measures the penetration but also reports elements whose faces merely
    touch (a column against a wall, found at some storeys and not others); a pair counts only if
    the collision mode, with touching allowed, confirms that the solids overlap."""
    overlapping = {
        frozenset((clash["a_global_id"], clash["b_global_id"]))
        for clash_set in clash_sets
        if clash_set["mode"] == "collision"
        for clash in clash_set.get("clashes", {}).values()
    }
    issues: list[Issue] = []
    summary: list[dict[str, Any]] = []
    for clash_set in (c for c in clash_sets if c["mode"] == "intersection"):
        found = [
            clash
            for clash in clash_set.get("clashes", {}).values()
            if frozenset((clash["a_global_id"], clash["b_global_id"])) in overlapping
        ]
        summary.append({"rule": rules.CLASH_INTERNAL, "set": clash_set["name"], "clashes": len(found)})
        for clash in found:
            issues.append(
                Issue(
                    rule=rules.CLASH_INTERNAL,
                    severity=rules.ERROR,
                    message=(
                        f"{clash['a_ifc_class']} {clash['a_name'] or ''} and {clash['b_ifc_class']} "
                        f"{clash['b_name'] or ''} {clash['type']} by {clash['distance']:.3f} m ({clash_set['name']})"
                    ),
                    global_id=clash["a_global_id"],
                    ifc_class=clash["a_ifc_class"],
                    name=clash["a_name"],
                    measured=rounded(clash["distance"]),
                    limit=rules.CLASH_TOLERANCE_M,
                    unit="m",
                    details={
                        "other_global_id": clash["b_global_id"],
                        "other_ifc_class": clash["b_ifc_class"],
                        "kind": str(clash["type"]),
                        "point_local": [round(float(v), 3) for v in clash["p1"]],
                    },
                )
            )
    return issues, summary


_PIPES = text(
    """
    SELECT e.global_id, e.ifc_class, e.name, p.id, p.utility, p.diameter_mm, p.depth_m,
           ST_3DDistance(e.geom, p.geom) AS axis_distance,
           ST_AsText(ST_3DClosestPoint(p.geom, e.geom)) AS at
    FROM bim_element e
    JOIN pipeline p ON e.geom && ST_Expand(p.geom, :reach + coalesce(p.diameter_mm, 0) / 2000.0)
    WHERE e.version_id = :version_id
      AND ST_3DDWithin(e.geom, p.geom, :reach + coalesce(p.diameter_mm, 0) / 2000.0)
    ORDER BY e.global_id, p.id
    """
)

_TUNNELS = text(
    """
    WITH el AS (
        SELECT global_id, ifc_class, name, coalesce(z_min, ST_ZMin(geom)) AS z_min,
               coalesce(z_max, ST_ZMax(geom)) AS z_max, coalesce(footprint, ST_Force2D(ST_ConvexHull(geom))) AS fp
        FROM bim_element WHERE version_id = :version_id AND geom IS NOT NULL
    ), near AS (
        SELECT el.*, t.id, t.width_m, t.height_m, ST_Distance(el.fp, t.axis) AS axis_distance,
               ST_LineInterpolatePoint(t.axis, ST_LineLocatePoint(t.axis, ST_ClosestPoint(t.axis, el.fp))) AS floor
        FROM el JOIN utility_tunnel t ON ST_DWithin(el.fp, t.axis, :reach + t.width_m / 2)
    )
    SELECT global_id, ifc_class, name, id, width_m, height_m,
           greatest(axis_distance - width_m / 2, 0) AS gap_h,
           greatest(ST_Z(floor) - z_max, z_min - (ST_Z(floor) + height_m), 0) AS gap_v
    FROM near ORDER BY global_id, id
    """
)


def underground_clashes(session: Session, version_id: int) -> tuple[list[Issue], list[dict[str, Any]]]:
    """Elements closer to a buried pipe's outer wall, or to a utility tunnel's outer faces, than
    the clearance required (3D distance; a pipe through an element measures 0)."""
    reach = max(rules.PIPE_CLEARANCE_M.values())
    issues: list[Issue] = []
    for row in session.execute(_PIPES, {"version_id": version_id, "reach": reach}).mappings():
        radius = (row["diameter_mm"] or 0) / 2000.0
        clearance = max(row["axis_distance"] - radius, 0.0)
        required = rules.PIPE_CLEARANCE_M.get(row["utility"], reach)
        if clearance >= required - rules.PLANNING_TOLERANCE_M:
            continue
        crossing = row["axis_distance"] <= radius
        issues.append(
            Issue(
                rule=rules.CLASH_PIPELINE,
                severity=rules.ERROR,
                message=(
                    f"{row['ifc_class']} {row['name'] or ''} "
                    + (
                        f"is crossed by {row['utility']} pipe {row['id']}"
                        if crossing
                        else f"is {clearance:.2f} m from {row['utility']} pipe {row['id']}"
                    )
                    + f"; {required:.1f} m clearance required"
                ),
                global_id=row["global_id"],
                ifc_class=row["ifc_class"],
                name=row["name"],
                measured=rounded(clearance),
                limit=required,
                unit="m",
                details={
                    "pipeline_id": row["id"],
                    "utility": row["utility"],
                    "diameter_mm": row["diameter_mm"],
                    "crossing": crossing,
                    "closest_point_store": row["at"],
                },
            )
        )
    for row in session.execute(_TUNNELS, {"version_id": version_id, "reach": rules.TUNNEL_CLEARANCE_M}).mappings():
        clearance = float((row["gap_h"] ** 2 + row["gap_v"] ** 2) ** 0.5)
        if clearance >= rules.TUNNEL_CLEARANCE_M - rules.PLANNING_TOLERANCE_M:
            continue
        issues.append(
            Issue(
                rule=rules.CLASH_TUNNEL,
                severity=rules.ERROR,
                message=(
                    f"{row['ifc_class']} {row['name'] or ''} is {clearance:.2f} m from utility tunnel {row['id']}; "
                    f"{rules.TUNNEL_CLEARANCE_M:.1f} m clearance required"
                ),
                global_id=row["global_id"],
                ifc_class=row["ifc_class"],
                name=row["name"],
                measured=rounded(clearance),
                limit=rules.TUNNEL_CLEARANCE_M,
                unit="m",
                details={"tunnel_id": row["id"]},
            )
        )
    summary = [
        {
            "rule": rules.CLASH_PIPELINE,
            "clearance_m": rules.PIPE_CLEARANCE_M,
            "clashes": sum(i.rule == rules.CLASH_PIPELINE for i in issues),
        },
        {
            "rule": rules.CLASH_TUNNEL,
            "clearance_m": rules.TUNNEL_CLEARANCE_M,
            "clashes": sum(i.rule == rules.CLASH_TUNNEL for i in issues),
        },
    ]
    return issues, summary
