"""A fire event's action sheet: the fire engines' way in over roads wide enough, from the nearest road
entry, and the hydrants within hose reach; checked against an independent networkx/shapely computation."""

from __future__ import annotations

import networkx as nx
import pytest
import shapely
from pyproj import Transformer

pytestmark = pytest.mark.usefixtures("sample_city")


def expected_route(rows, fire: shapely.Point, min_width: float) -> tuple[float, set[tuple[float, float]]]:
    """(route length, the road entries it can start from): the centre lines of the wide-enough roads noded
    by shapely's union, a virtual source joined to every road end of degree one, Dijkstra to the fire's
    nearest road point."""
    lines = [
        r["wkb_line"]
        for r in rows(
            "SELECT ST_AsBinary(ST_Force2D(centerline)) AS wkb_line FROM road WHERE width_m >= :w", w=min_width
        )
    ]
    pieces = list(shapely.unary_union(lines).geoms)
    graph = nx.Graph()
    key = lambda xy: (round(xy[0], 2), round(xy[1], 2))  # noqa: E731
    for piece in pieces:
        graph.add_edge(key(piece.coords[0]), key(piece.coords[-1]), weight=piece.length)
    ends = {n for n in graph.nodes if graph.degree(n) == 1}
    for end in ends:
        graph.add_edge("source", end, weight=0.0)
    nearest = min(pieces, key=lambda p: p.distance(fire))
    along = nearest.project(fire)
    graph.add_edge("fire", key(nearest.coords[0]), weight=along)
    graph.add_edge("fire", key(nearest.coords[-1]), weight=nearest.length - along)
    length, path = nx.single_source_dijkstra(graph, "source", "fire")
    starts = {n for n in ends if abs(nx.dijkstra_path_length(graph, n, "fire") - length) < 1e-6}
    assert path[1] in starts
    return length, starts


def _fire_at(rows, narrowest: bool) -> shapely.Point:
    """The centroid of a building; with ``narrowest``, of the building nearest the narrowest road."""
    if not narrowest:
        return rows("SELECT ST_AsBinary(ST_Centroid(footprint)) AS wkb_c FROM building ORDER BY code LIMIT 1")[0][
            "wkb_c"
        ]
    return rows(
        """SELECT ST_AsBinary(ST_Centroid(b.footprint)) AS wkb_c FROM building b,
                  (SELECT centerline FROM road ORDER BY width_m, code LIMIT 1) r
            ORDER BY ST_Distance(b.footprint, r.centerline), b.code LIMIT 1"""
    )[0]["wkb_c"]


@pytest.mark.parametrize(("min_width", "narrowest"), [(None, False), (20.0, True)])
def test_fire_sheet_routes_engines_over_wide_roads_and_lists_hydrants_in_reach(
    client, role_headers, rows, to_lonlat, min_width, narrowest
):
    fire = _fire_at(rows, narrowest)
    body = {"type": "fire", "location": shapely.geometry.mapping(to_lonlat(fire)), "source": "119 指挥中心"}
    if min_width is not None:
        body["min_road_width_m"] = min_width
    answer = client.post("/api/v1/events", json=body, headers=role_headers["emergency"])
    assert answer.status_code == 201, answer.text
    event_id, sheet = answer.json()["id"], answer.json()["event"]["action_sheet"]
    access = sheet["fire_access"]
    width = min_width or 4.0
    assert access["min_road_width_m"] == width
    length, starts = expected_route(rows, fire, width)
    assert abs(access["route_m"] - length) <= 0.1
    to_store = Transformer.from_crs("OGC:CRS84", "EPSG:4549", always_xy=True)
    entry = to_store.transform(access["entry"]["lon"], access["entry"]["lat"])
    assert min(shapely.Point(entry).distance(shapely.Point(s)) for s in starts) < 0.05
    widths = {r["code"]: r["width_m"] for r in rows("SELECT code, width_m FROM road")}
    assert access["roads"] and all(widths[r["code"]] >= width for r in access["roads"])
    if narrowest:  # the narrowest road, next to the fire, is not on the way
        assert min(widths, key=lambda c: (widths[c], c)) not in {r["code"] for r in access["roads"]}
    # The route drawn ends at the fire's road point and is as long as the route.
    drawn = shapely.LineString([to_store.transform(*p) for p in access["route"]])
    assert abs(drawn.length - length) < 0.5
    assert abs(shapely.Point(drawn.coords[-1]).distance(fire) - access["reach_to_fire_m"]) < 0.1

    hydrants = rows("SELECT id, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipe_node WHERE kind = 'hydrant'")
    in_reach = sorted(
        (round(h["wkb_g"].distance(fire), 1), h["id"]) for h in hydrants if h["wkb_g"].distance(fire) <= 150
    )
    assert [(h["distance_m"], h["id"]) for h in sheet["hydrants"]] == in_reach
    report = client.get(f"/api/v1/events/{event_id}/report", headers=role_headers["emergency"]).text
    assert "消防车通道" in report and all(h["id"] in report for h in sheet["hydrants"])
    assert all(r["name"] in report for r in access["roads"])
