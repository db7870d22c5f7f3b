"""Emergency overlays and underground analyses on the sample city; expected answers from raw SQL,
shapely distances (true circles, not the server's polygon buffer) and networkx."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
import shapely.affinity
from shapely import LineString, Point
from shapely.geometry import mapping

from gis.analysis.clearance import horizontal_rule, vertical_rule

API = "/api/v1"
EDGE_M = 0.3  # the server's circle is a 64-gon: features this close to the rim may go either way


def _city_centre(rows) -> Point:
    extent = shapely.union_all([r["wkb_g"] for r in rows("SELECT ST_AsBinary(footprint) AS wkb_g FROM building")])
    return extent.centroid


def _point_geojson(point: Point, to_lonlat) -> dict:
    return mapping(to_lonlat(point))


def _compare_near(got: set, geoms: dict, centre: Point, radius: float) -> None:
    """got must equal the features within radius, except those within EDGE_M of the rim."""
    expected = {k for k, g in geoms.items() if g.distance(centre) <= radius}
    rim = {k for k, g in geoms.items() if abs(g.distance(centre) - radius) < EDGE_M}
    assert expected, "the test area holds something"
    assert got ^ expected <= rim


def test_gas_leak_overlay(client, role_headers, rows, to_lonlat):
    centre = _city_centre(rows)
    radius = 150.0
    body = {"type": "gas_leak", "location": _point_geojson(centre, to_lonlat), "radius_m": radius}
    response = client.post(f"{API}/analysis/incident", json=body, headers=role_headers["emergency"])
    assert response.status_code == 200, response.text
    answer = response.json()
    buildings = {r["code"]: r["wkb_g"] for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")}
    _compare_near({b["code"] for b in answer["buildings"]}, buildings, centre, radius)
    units = rows("SELECT building_code, count(*) AS n FROM house_unit GROUP BY 1")
    per_building = {u["building_code"]: u["n"] for u in units}
    assert all(len(b["units"]) == per_building.get(b["code"], 0) for b in answer["buildings"])
    pipes = rows("SELECT id, utility, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline")
    got = {i for entry in answer["pipes_by_utility"].values() for i in entry["ids"]}
    _compare_near(got, {p["id"]: p["wkb_g"] for p in pipes}, centre, radius)
    sites = rows(
        """SELECT code, contractor_uscc, ST_AsBinary(footprint) AS wkb_g FROM project
            WHERE stage IN ('preparation', 'construction') AND footprint IS NOT NULL"""
    )
    near_sites = {s["code"]: s for s in sites if s["wkb_g"].distance(centre) <= radius - EDGE_M}
    got_sites = {s["code"]: s for s in answer["construction_sites"]}
    assert set(near_sites) <= set(got_sites)
    for code, site in near_sites.items():
        assert (got_sites[code]["contractor"] or {}).get("uscc") == site["contractor_uscc"]
    zone = shapely.geometry.shape(answer["zone"])
    assert zone.contains(to_lonlat(centre))


def test_incident_shows_latest_sensor_readings(client, role_headers, rows, to_lonlat):
    sensor = rows(
        """SELECT s.id, ST_AsBinary(ST_Force2D(s.position)) AS wkb_g,
                  (SELECT value FROM sensor_reading r WHERE r.sensor_id = s.id ORDER BY time DESC LIMIT 1) AS latest
             FROM sensor s WHERE EXISTS (SELECT 1 FROM sensor_reading r WHERE r.sensor_id = s.id)
            ORDER BY s.id LIMIT 1"""
    )[0]
    body = {"type": "fire", "location": _point_geojson(sensor["wkb_g"], to_lonlat), "radius_m": 30}
    answer = client.post(f"{API}/analysis/incident", json=body, headers=role_headers["emergency"]).json()
    readings = {s["id"]: s["value"] for c in answer["tunnel_compartments"] for s in c["sensors"]}
    assert readings[sensor["id"]] == pytest.approx(sensor["latest"])


def _expected_isolation(rows, burst: str) -> tuple[set[str], set[str]]:
    """Valves and isolated pipes from networkx components of the graph without valve nodes."""
    pipes = rows("SELECT id, from_node, to_node FROM pipeline WHERE utility = 'water' AND from_node IS NOT NULL")
    valves = {r["id"] for r in rows("SELECT id FROM pipe_node WHERE utility = 'water' AND kind = 'valve' AND is_open")}
    graph = nx.MultiGraph()
    for p in pipes:
        graph.add_edge(p["from_node"], p["to_node"], key=p["id"])
    ends = next((p["from_node"], p["to_node"]) for p in pipes if p["id"] == burst)
    cut = graph.subgraph([n for n in graph if n not in valves])
    section: set[str] = set()
    for end in ends:
        if end not in valves:
            section |= nx.node_connected_component(cut, end)
    isolated = {burst} | {k for u, v, k in graph.edges(keys=True) if u in section or v in section}
    bounding = {n for n in valves if n in ends or any(m in section for m in graph.neighbors(n))}
    return bounding, isolated


def test_pipe_burst_valves_and_supply_loss(client, role_headers, rows, to_lonlat):
    burst = rows(
        """SELECT p.id, ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(p.geom), 0.5)) AS wkb_mid FROM pipeline p
            WHERE p.utility = 'water' AND p.from_node IS NOT NULL AND p.to_node IS NOT NULL
              AND EXISTS (SELECT 1 FROM pipe_node n WHERE n.kind = 'valve' AND n.utility = 'water')
            ORDER BY p.id LIMIT 1 OFFSET 3"""
    )[0]
    body = {"type": "pipe_burst", "location": _point_geojson(burst["wkb_mid"], to_lonlat), "pipe_id": burst["id"]}
    response = client.post(f"{API}/analysis/incident", json=body, headers=role_headers["emergency"])
    assert response.status_code == 200, response.text
    isolation = response.json()["isolation"]
    valves, isolated = _expected_isolation(rows, burst["id"])
    assert set(isolation["valves_to_close"]) == valves and valves
    assert set(isolation["isolated_pipes"]) == isolated
    water = rows("SELECT id, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline WHERE utility = 'water'")
    losing = set()
    for b in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building"):
        distance, nearest = min((p["wkb_g"].distance(b["wkb_g"]), p["id"]) for p in water)
        if nearest in isolated and distance <= 100.0:
            losing.add(b["code"])
    assert {b["code"] for b in isolation["buildings_losing_supply"]} == losing


def test_flood_depth_from_the_dem(client, role_headers, rows, to_lonlat):
    ground = rows(
        """SELECT b.code, ST_Value(d.rast, 1, ST_Centroid(b.footprint), true, 'bilinear') AS h
             FROM building b JOIN dem_tile d ON ST_Intersects(d.rast, ST_Centroid(b.footprint))"""
    )
    heights = {g["code"]: g["h"] for g in ground if g["h"] is not None}
    assert heights, "the sample city has a DEM under its buildings"
    level = float(np.median(list(heights.values()))) + 0.5
    centre = _city_centre(rows)
    body = {"type": "flood", "location": _point_geojson(centre, to_lonlat), "radius_m": 250, "water_level_m": level}
    answer = client.post(f"{API}/analysis/incident", json=body, headers=role_headers["emergency"]).json()
    checked = 0
    for b in answer["buildings"]:
        if b["code"] in heights:
            assert b["water_depth_m"] == pytest.approx(max(level - heights[b["code"]], 0.0), abs=0.05)
            checked += 1
    assert checked > 3 and any(b["water_depth_m"] > 0 for b in answer["buildings"])


def test_excavation_hits(client, role_headers, rows, to_lonlat):
    centre = _city_centre(rows)
    centre = rows(
        """SELECT ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(geom), 0.5)) AS wkb_g FROM pipeline
            ORDER BY geom <-> ST_SetSRID(ST_MakePoint(:x, :y), 4549) LIMIT 1""",
        x=centre.x,
        y=centre.y,
    )[0]["wkb_g"]
    area = centre.buffer(120, quad_segs=2)  # an octagon in the store CRS
    depth = 3.5
    answer = _excavate(client, role_headers, to_lonlat(area), depth)
    pipes = _pipes(rows)
    expected = _pipes_hit(pipes, area, depth)
    # The polygon's edges are straight in the store CRS on both sides, so membership is exact.
    assert {p["id"] for p in answer["pipes"]} == expected and expected
    tunnels = rows("SELECT id, width_m, cover_depth_m, ST_AsBinary(ST_Force2D(axis)) AS wkb_g FROM utility_tunnel")
    hit = {
        t["id"] for t in tunnels if t["wkb_g"].buffer(t["width_m"] / 2).intersects(area) and t["cover_depth_m"] < depth
    }
    assert {t["id"] for t in answer["tunnels"]} == hit
    _assert_owners(answer, pipes, rows)


def _excavate(client, role_headers, area_lonlat, depth: float) -> dict:
    """The excavation answer for an engineer's dig of ``depth`` inside ``area_lonlat`` (CRS84)."""
    response = client.post(
        f"{API}/analysis/excavation",
        json={"area": mapping(area_lonlat), "depth_m": depth},
        headers=role_headers["engineer"],
    )
    assert response.status_code == 200, response.text
    return response.json()


def _pipes(rows) -> list[dict]:
    """Every pipe with its depth, diameter, owner and 2D axis (raw SQL)."""
    return rows(
        "SELECT id, depth_m, depth_ref, diameter_mm, owner, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline"
    )


def _pipes_hit(pipes: list[dict], area, depth: float) -> set[str]:
    """The pipes a dig of ``depth`` inside ``area`` reaches: their top (the axis less half the diameter
    where depth is to the axis) above the dig's floor, or of unknown depth (shapely over raw rows)."""
    hit = set()
    for p in pipes:
        top = p["depth_m"] - (p["diameter_mm"] or 0) / 2000 if p["depth_ref"] == "axis" else p["depth_m"]
        if p["wkb_g"].intersects(area) and (p["depth_m"] is None or top < depth):
            hit.add(p["id"])
    return hit


def _assert_owners(answer: dict, pipes: list[dict], rows) -> None:
    """Each pipe and tunnel hit carries its owner from the table; the owners to notify are all of them, once."""
    pipe_owner = {p["id"]: p["owner"] for p in pipes}
    tunnel_owner = {t["id"]: t["owner"] for t in rows("SELECT id, owner FROM utility_tunnel")}
    assert all(p["owner"] == pipe_owner[p["id"]] for p in answer["pipes"])
    assert all(t["owner"] == tunnel_owner[t["id"]] for t in answer["tunnels"])
    owners = {pipe_owner[p["id"]] for p in answer["pipes"]} | {tunnel_owner[t["id"]] for t in answer["tunnels"]}
    assert answer["owners_to_notify"] == sorted(owners - {None}) and owners


def test_excavation_over_the_tunnel_names_its_owner(client, role_headers, rows, to_lonlat):
    """A dig across the utility tunnel, deeper than its cover: the tunnel, its compartments and the pipes above
    it are hit, and every owner is to be notified (raw SQL and shapely)."""
    tunnel = rows(
        """SELECT id, owner, width_m, cover_depth_m, ST_AsBinary(ST_Force2D(axis)) AS wkb_g,
                  (SELECT array_agg(c.id ORDER BY c.id) FROM tunnel_compartment c WHERE c.tunnel_id = u.id) AS parts
             FROM utility_tunnel u ORDER BY id LIMIT 1"""
    )[0]
    middle = tunnel["wkb_g"].interpolate(0.5, normalized=True)
    area = shapely.affinity.rotate(shapely.box(middle.x - 40, middle.y - 25, middle.x + 40, middle.y + 25), 17)
    depth = tunnel["cover_depth_m"] + 2.0
    answer = _excavate(client, role_headers, to_lonlat(area), depth)
    assert [t["id"] for t in answer["tunnels"]] == [tunnel["id"]]
    assert [c["id"] for c in answer["tunnels"][0]["compartments"]] == tunnel["parts"]
    pipes = _pipes(rows)
    expected = _pipes_hit(pipes, area, depth)
    assert {p["id"] for p in answer["pipes"]} == expected and expected
    _assert_owners(answer, pipes, rows)
    assert tunnel["owner"] in answer["owners_to_notify"]


def test_gas_leak_in_a_polygon_zone(client, role_headers, rows, to_lonlat):
    """A leak zone drawn as a polygon (no radius): the zone is the polygon itself; the buildings, units,
    residents, pipes, sites and tunnel compartments in it, from shapely over raw rows."""
    axis = rows("SELECT ST_AsBinary(ST_Force2D(axis)) AS wkb_g FROM utility_tunnel ORDER BY id LIMIT 1")[0]["wkb_g"]
    c = axis.interpolate(0.4, normalized=True)
    zone = shapely.Polygon(
        [
            (c.x - 160, c.y - 90),
            (c.x + 120, c.y - 130),
            (c.x + 170, c.y + 60),
            (c.x + 10, c.y + 150),
            (c.x - 140, c.y + 80),
        ]
    )
    body = {"type": "gas_leak", "location": mapping(to_lonlat(zone))}
    response = client.post(f"{API}/analysis/incident", json=body, headers=role_headers["emergency"])
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["zone_area_m2"] == pytest.approx(zone.area, abs=1.0)
    buildings = rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    inside = {b["code"] for b in buildings if b["wkb_g"].intersects(zone)}
    assert [b["code"] for b in answer["buildings"]] == sorted(inside) and inside  # all at distance 0
    units = rows("SELECT building_code, id, residents FROM house_unit")
    per_building: dict[str, set] = {}
    for u in units:
        per_building.setdefault(u["building_code"], set()).add(u["id"])
    assert all({u["id"] for u in b["units"]} == per_building.get(b["code"], set()) for b in answer["buildings"])
    assert answer["residents"] == sum(u["residents"] or 0 for u in units if u["building_code"] in inside)
    pipes = rows("SELECT id, utility, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline")
    by_utility: dict[str, dict] = {}
    for p in pipes:
        if p["wkb_g"].intersects(zone):
            entry = by_utility.setdefault(p["utility"], {"ids": set(), "length_m": 0.0})
            entry["ids"].add(p["id"])
            entry["length_m"] += p["wkb_g"].intersection(zone).length
    assert answer["pipes_by_utility"].keys() == by_utility.keys() and by_utility
    for utility, entry in by_utility.items():
        got = answer["pipes_by_utility"][utility]
        assert set(got["ids"]) == entry["ids"] and got["count"] == len(entry["ids"])
        assert got["length_m"] == pytest.approx(entry["length_m"], abs=0.05)
    sites = rows(
        """SELECT code, ST_AsBinary(footprint) AS wkb_g FROM project
            WHERE stage IN ('preparation', 'construction') AND footprint IS NOT NULL"""
    )
    assert {s["code"] for s in answer["construction_sites"]} == {
        s["code"] for s in sites if s["wkb_g"].intersects(zone)
    }
    compartments = rows(
        """SELECT c.id FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id
            WHERE ST_Intersects(ST_Force2D(u.axis), ST_GeomFromWKB(:z, 4549))""",
        z=shapely.to_wkb(zone),
    )
    assert [t["id"] for t in answer["tunnel_compartments"]] == sorted(r["id"] for r in compartments) and compartments
    sensors = rows("SELECT id, ST_AsBinary(ST_Force2D(position)) AS wkb_g FROM sensor")
    listed = {s["id"] for t in answer["tunnel_compartments"] for s in t["sensors"]}
    with_readings = {r["sensor_id"] for r in rows("SELECT DISTINCT sensor_id FROM sensor_reading")}
    assert listed == {s["id"] for s in sensors if s["wkb_g"].intersects(zone) and s["id"] in with_readings} and listed
    assert shapely.geometry.shape(answer["zone"]).equals_exact(to_lonlat(zone), 1e-7)


def _z_along(line: LineString, at: Point) -> float:
    """Axis height at a point on a 3D line, by linear interpolation over its segments (numpy)."""
    coords = np.asarray(line.coords)
    best = None
    for (x0, y0, z0), (x1, y1, z1) in zip(coords[:-1], coords[1:], strict=True):
        dx, dy = x1 - x0, y1 - y0
        t = np.clip(((at.x - x0) * dx + (at.y - y0) * dy) / (dx * dx + dy * dy), 0, 1)
        d = np.hypot(x0 + t * dx - at.x, y0 + t * dy - at.y)
        if best is None or d < best[0]:
            best = (d, z0 + t * (z1 - z0))
    return float(best[1])


def test_clearance_violations(client, role_headers, rows, to_lonlat):
    centre = _city_centre(rows)
    area = centre.buffer(400, quad_segs=2)
    response = client.post(
        f"{API}/analysis/clearance", json={"area": mapping(to_lonlat(area))}, headers=role_headers["planner"]
    )
    assert response.status_code == 200, response.text
    pipes = [
        p
        for p in rows(
            """SELECT id, utility, diameter_mm, pressure_class AS pressure, from_node, to_node,
                      ST_AsBinary(geom) AS wkb_g FROM pipeline"""
        )
        if p["wkb_g"].intersects(area)
    ]
    expected = set()
    for i, a in enumerate(pipes):
        for b in pipes[i + 1 :]:
            if {a["from_node"], a["to_node"]} & {b["from_node"], b["to_node"]} - {None}:
                continue
            radii = ((a["diameter_mm"] or 0) + (b["diameter_mm"] or 0)) / 2000
            a2, b2 = shapely.force_2d(a["wkb_g"]), shapely.force_2d(b["wkb_g"])
            crossing = a2.intersection(b2)
            if not crossing.is_empty:
                at = Point(shapely.get_coordinates(crossing)[0])
                clear, rule = abs(_z_along(a["wkb_g"], at) - _z_along(b["wkb_g"], at)) - radii, vertical_rule(a, b)
            else:
                clear, rule = a2.distance(b2) - radii, horizontal_rule(a, b)
            if rule is not None and clear < rule:
                expected.add(tuple(sorted((a["id"], b["id"]))))
    got = {tuple(sorted(v["pipes"])) for v in response.json()["violations"]}
    assert got == expected and expected


def test_profile_along_a_line(client, role_headers, rows, to_lonlat):
    centre = _city_centre(rows)
    section = LineString([(centre.x - 250, centre.y - 40), (centre.x + 250, centre.y + 40)])
    coords = ";".join(f"{x},{y}" for x, y in to_lonlat(section).coords)
    response = client.get(
        f"{API}/analysis/profile", params={"line": coords, "step_m": 50}, headers=role_headers["engineer"]
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["length_m"] == pytest.approx(section.length, abs=0.01)
    samples = rows(
        """SELECT ST_Value(d.rast, 1, ST_SetSRID(ST_MakePoint(:x, :y), 4549), true, 'bilinear') AS h
             FROM dem_tile d WHERE ST_Intersects(d.rast, ST_SetSRID(ST_MakePoint(:x, :y), 4549))""",
        x=section.interpolate(100).x,
        y=section.interpolate(100).y,
    )
    at_100 = next(g for g in answer["ground"] if g["station_m"] == pytest.approx(100))
    assert at_100["ground_h_orthometric"] == pytest.approx(samples[0]["h"], abs=0.05)
    expected = {}
    for p in rows("SELECT id, ST_AsBinary(geom) AS wkb_g FROM pipeline"):
        where = section.intersection(shapely.force_2d(p["wkb_g"]))
        for c in shapely.get_coordinates(where):
            expected[(p["id"], round(section.project(Point(c)), 1))] = _z_along(p["wkb_g"], Point(c))
    got = {(c["id"], round(c["station_m"], 1)): c["axis_z"] for c in answer["pipes"]}
    assert got.keys() == expected.keys() and expected
    for key, z in expected.items():
        assert got[key] == pytest.approx(z, abs=0.005)
