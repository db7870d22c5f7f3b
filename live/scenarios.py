"""Incident kinds as an ordered registry: each kind's default radius and the sections of its action
sheet. The shared overlay (buildings, residents, sites, pipes, compartments, sensors) comes from
``gis.analysis.incident``; the kinds add valve isolation (water bursts and gas leaks, with
second-level isolation past inoperable valves), hydrants (fire), vulnerability ranking
(earthquake) and the building, its neighbours and the pipes beneath (building safety)."""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import networkx as nx
import shapely
from sqlalchemy import Connection, text

from core.errors import UserError
from gis.analysis import incident, isolation
from gis.analysis.inputs import srid
from gis.crs import store_to_crs84
from gis.network import kept, pipe_graph

VULNERABILITY_FILE = Path(__file__).with_name("vulnerability.json")
PIPE_SEARCH_M = 50.0
HYDRANT_REACH_M = 150.0  # GB 50974-2014 §7.2.5: a municipal hydrant protects at most 150 m (as commonly cited)
# GB 50016-2014 §7.1.8: 消防车道的净宽度和净空高度均不应小于4.0m (a fire lane at least 4.0 m wide); compared
# here with the road's red-line width, the only width the city records.
FIRE_LANE_MIN_WIDTH_M = 4.0


@dataclass(frozen=True)
class Context:
    conn: Connection
    location: shapely.Geometry
    zone: shapely.Geometry
    params: dict
    personal: bool


Section = Callable[[Context], dict]


@dataclass(frozen=True)
class Kind:
    type: str
    label: dict[str, str]
    radius_m: float
    overlay: bool
    sections: tuple[Section, ...]
    compartment_action: dict[str, str]


def _wkb(geom: shapely.Geometry) -> dict:
    return {"wkb": shapely.to_wkb(geom), "srid": srid()}


def _nearest_pipe(ctx: Context, utility: str) -> str:
    pipe_id = ctx.params.get("pipe_id")
    if pipe_id:
        found = ctx.conn.execute(text("SELECT utility FROM pipeline WHERE id = :p"), {"p": pipe_id}).scalar()
        if found != utility:
            raise UserError(f"pipe {pipe_id!r} is not a {utility} pipe: give the id of the leaking {utility} pipe")
        return pipe_id
    pipe_id = ctx.conn.execute(
        text(
            """SELECT id FROM pipeline WHERE utility = :u AND ST_DWithin(geom, ST_GeomFromWKB(:wkb, :srid), :d)
                ORDER BY geom <-> ST_GeomFromWKB(:wkb, :srid), id LIMIT 1"""
        ),
        {"u": utility, "d": PIPE_SEARCH_M, **_wkb(ctx.location.centroid)},
    ).scalar()
    if pipe_id is None:
        raise UserError(f"no {utility} pipe within {PIPE_SEARCH_M:.0f} m of the location: give pipe_id")
    return pipe_id


def _dijkstra(graph: nx.Graph, starts: dict, targets: set, weight: str, first: bool = False) -> tuple[dict, dict]:
    """Network distances (by ``weight``) from the nearest start (each at its own offset) and each settled
    node's predecessor; stopped once every target is settled, or the first one when ``first``. (The valves
    bound a burst's section, so it reads that section, not the city's network.)"""
    settled: dict = {}
    before: dict = {}
    best = dict(starts)
    heap = [(d, i, s, None) for i, (s, d) in enumerate(starts.items())]
    heapq.heapify(heap)
    left = set(targets)
    count = len(heap)
    while heap and left:
        d, _, node, previous = heapq.heappop(heap)
        if node in settled:
            continue
        settled[node] = d
        before[node] = previous
        if node in left and first:
            break
        left.discard(node)
        for other, data in graph[node].items():
            through = d + data.get(weight, 1.0)
            if other not in settled and through < best.get(other, math.inf):
                best[other] = through
                count += 1
                heapq.heappush(heap, (through, count, other, node))
    return settled, before


def _valves(ctx: Context, utility: str) -> dict:
    """The valves to close in order (nearest along the network first), past inoperable ones."""
    pipe_id = _nearest_pipe(ctx, utility)
    inoperable = frozenset(
        ctx.conn.execute(
            text("SELECT id FROM pipe_node WHERE utility = :u AND kind = 'valve' AND NOT operable"), {"u": utility}
        ).scalars()
    )
    graph = pipe_graph(utility)
    result = isolation.isolate(graph, pipe_id, inoperable)
    ends = isolation.edge_of(graph, pipe_id)
    distance, _ = _dijkstra(graph, dict.fromkeys(ends, 0.0), set(result["valves_to_close"]), "length_m")
    order = sorted(result["valves_to_close"], key=lambda v: (distance.get(v, float("inf")), v))
    where = {
        r["id"]: r
        for r in ctx.conn.execute(
            text(
                """SELECT id, ST_X(ST_Transform(geom, 4326)) AS lon, ST_Y(ST_Transform(geom, 4326)) AS lat
                     FROM pipe_node WHERE id = ANY(:ids)"""
            ),
            {"ids": order},
        ).mappings()
    }
    skipped = result["valves_inoperable_skipped"]
    return {
        "valves": {
            "utility": utility,
            "pipe_id": pipe_id,
            "to_close": [
                {
                    "order": i,
                    "id": v,
                    "network_distance_m": round(distance.get(v, 0.0), 1),
                    "lon": where[v]["lon"],
                    "lat": where[v]["lat"],
                }
                for i, v in enumerate(order, 1)
            ],
            "already_closed": result["valves_already_closed"],
            "inoperable_skipped": skipped,
            "second_ring": bool(skipped),
            "note": (
                f"阀门 {', '.join(skipped)} 无法操作，已越过追溯至下一圈阀门（二级关阀） / "
                f"valve(s) {', '.join(skipped)} inoperable: traced on to the next ring (second-level isolation)"
                if skipped
                else None
            ),
            "isolated_pipes": result["isolated_pipes"],
            "warning": result["warning"],
        }
    }


def gas_valves(ctx: Context) -> dict:
    return _valves(ctx, "gas")


def water_valves(ctx: Context) -> dict:
    return _valves(ctx, "water")


def hydrants(ctx: Context) -> dict:
    """Hydrants within reach of the fire, nearest first."""
    rows = ctx.conn.execute(
        text(
            """SELECT id, round(ST_Distance(geom, ST_GeomFromWKB(:wkb, :srid))::numeric, 1)::float AS distance_m,
                      ST_X(ST_Transform(geom, 4326)) AS lon, ST_Y(ST_Transform(geom, 4326)) AS lat, is_open
                 FROM pipe_node WHERE kind = 'hydrant' AND ST_DWithin(geom, ST_GeomFromWKB(:wkb, :srid), :reach)
                ORDER BY distance_m, id"""
        ),
        {"reach": HYDRANT_REACH_M, **_wkb(ctx.location)},
    )
    return {"hydrants": [dict(r) for r in rows.mappings()], "hydrant_reach_m": HYDRANT_REACH_M}


@dataclass(frozen=True)
class Roads:
    """The road network of the roads at least a width wide: centre lines split where they meet, nodes at
    the split points, edges weighted by length and named by their road; its entries (road ends at the
    edge of the network) and an index of its pieces."""

    graph: nx.Graph
    pieces: list[tuple[str, shapely.LineString]]
    entries: frozenset
    tree: shapely.STRtree


def _roads(conn: Connection, min_width_m: float) -> Roads:
    roads = conn.execute(
        text("SELECT code, ST_AsBinary(ST_Force2D(centerline)) FROM road WHERE width_m >= :w ORDER BY code"),
        {"w": min_width_m},
    ).all()
    lines = {code: shapely.from_wkb(bytes(wkb)) for code, wkb in roads}
    graph = nx.Graph()
    pieces: list[tuple[str, shapely.LineString]] = []
    if lines:
        codes = list(lines)  # in code order: of roads equally near, the first code names the piece
        tree = shapely.STRtree(list(lines.values()))
        for piece in shapely.get_parts(shapely.node(shapely.MultiLineString(list(lines.values())))):
            middle = piece.interpolate(0.5, normalized=True)
            code = codes[min(tree.query_nearest(middle, all_matches=True))]
            pieces.append((code, piece))
            a, b = piece.coords[0], piece.coords[-1]
            graph.add_edge(_node(a), _node(b), length=piece.length, road=code)
    entries = frozenset(n for n in graph.nodes if graph.degree(n) == 1)
    return Roads(graph, pieces, entries, shapely.STRtree([p for _, p in pieces]))


def _road_network(min_width_m: float) -> Roads:
    """:func:`_roads`, kept until a road is written."""
    return kept("road", min_width_m, lambda conn: _roads(conn, min_width_m))


def warm_up() -> None:
    """The networks the sheets trace (gas and water pipes, the fire lanes' roads), built before the first
    event needs them (~1–3 s each on a 100,000-building city)."""
    for utility in ("gas", "water"):
        pipe_graph(utility)
    _road_network(FIRE_LANE_MIN_WIDTH_M)


def _node(xy: tuple[float, ...]) -> tuple[float, float]:
    return round(xy[0], 3), round(xy[1], 3)


def fire_access(ctx: Context) -> dict:
    """The way in for fire engines: the shortest route over roads wide enough (``min_road_width_m``)
    from the nearest road entry (a road end at the edge of the network) to the road point nearest the fire."""
    min_width = float(ctx.params.get("min_road_width_m", FIRE_LANE_MIN_WIDTH_M))
    net = _road_network(min_width)  # shared: read only
    no_route = {"fire_access": {"min_road_width_m": min_width, "route": None, "note": "没有足够宽的道路可达"}}
    if not net.entries:
        return no_route
    fire = ctx.location.centroid
    code, piece = net.pieces[min(net.tree.query_nearest(fire, all_matches=True))]  # of equally near, the first
    along = piece.project(fire)
    reach = piece.interpolate(along)
    a, b = _node(piece.coords[0]), _node(piece.coords[-1])
    starts = {a: along, b: piece.length - along} if a != b else {a: min(along, piece.length - along)}
    settled, before = _dijkstra(net.graph, starts, set(net.entries), "length", first=True)
    entry = next(reversed(settled), None)
    if entry is None or entry not in net.entries:
        return no_route
    path: list[tuple[float, float]] = [entry]
    while before[path[-1]] is not None:
        path.append(before[path[-1]])
    roads: list[str] = []
    for road in [*(net.graph.edges[p, q]["road"] for p, q in zip(path, path[1:], strict=False)), code]:
        if not roads or roads[-1] != road:
            roads.append(road)
    found = ctx.conn.execute(text("SELECT code, name, width_m FROM road WHERE code = ANY(:c)"), {"c": roads})
    about: dict[str, tuple[str, float]] = {code: (name, width) for code, name, width in found}
    line = [*path, (reach.x, reach.y)]
    lon_lat = store_to_crs84()
    return {
        "fire_access": {
            "min_road_width_m": min_width,
            "entry": dict(zip(("lon", "lat"), lon_lat.transform(*path[0]), strict=True)),
            "route_m": round(settled[entry], 1),
            "roads": [{"code": r, "name": about[r][0], "width_m": about[r][1]} for r in roads],
            "route": [list(lon_lat.transform(x, y)) for x, y in line],
            "reach_to_fire_m": round(reach.distance(fire), 1),
        }
    }


@lru_cache
def vulnerability() -> dict:
    return json.loads(VULNERABILITY_FILE.read_text())


def vulnerability_score(structure: str | None, year: int | None, grade: str | None) -> float:
    """Structure + era + safety-grade weights (``vulnerability.json``)."""
    weights = vulnerability()
    score = weights["structure"].get(structure or "", weights["structure_unknown"])
    if year is not None:
        score += next(e["weight"] for e in weights["eras"] if year < e["before"])
    else:
        score += weights["eras"][0]["weight"]
    score += weights["grade"].get(grade or "", weights["grade_unknown"])
    return round(score, 2)


def earthquake(ctx: Context) -> dict:
    """Buildings in the intensity zone ranked by vulnerability, with the people in them."""
    rows = ctx.conn.execute(
        text(
            """SELECT b.code, b.address, b.structure, b.year_built, b.safety_grade, b.floors_above,
                      COALESCE((SELECT sum(h.residents) FROM house_unit h WHERE h.building_code = b.code), 0)::int
                        AS residents
                 FROM building b WHERE ST_Intersects(b.footprint, ST_GeomFromWKB(:wkb, :srid))"""
        ),
        _wkb(ctx.zone),
    ).mappings()
    ranked = [
        {**dict(r), "score": vulnerability_score(r["structure"], r["year_built"], r["safety_grade"])} for r in rows
    ]
    ranked.sort(key=lambda b: (-b["score"], -b["residents"], b["code"]))
    for rank, building in enumerate(ranked, 1):
        building["rank"] = rank
    return {
        "earthquake": {
            "intensity": ctx.params.get("intensity"),
            "buildings_ranked": ranked,
            "people": sum(b["residents"] for b in ranked),
        }
    }


def building_safety(ctx: Context) -> dict:
    """A dangerous building: its units and residents, neighbours within the collapse distance (its
    height), pipes beneath its footprint."""
    code = (
        ctx.params.get("building_code")
        or ctx.conn.execute(
            text("SELECT code FROM building ORDER BY footprint <-> ST_GeomFromWKB(:wkb, :srid), code LIMIT 1"),
            _wkb(ctx.location.centroid),
        ).scalar()
    )
    building = (
        ctx.conn.execute(
            text("SELECT code, address, safety_grade, height_m, structure, year_built FROM building WHERE code = :c"),
            {"c": code},
        )
        .mappings()
        .first()
    )
    if building is None:
        raise UserError(f"building {code!r} does not exist")
    units = (
        ctx.conn.execute(
            text(
                """SELECT id, unit_no, floor, residents, owner_masked AS owner FROM house_unit WHERE building_code = :c
                ORDER BY floor, unit_no"""
            ),
            {"c": code},
        )
        .mappings()
        .all()
    )
    collapse_m = float(building["height_m"] or 0.0)
    neighbours = (
        ctx.conn.execute(
            text(
                """SELECT n.code, n.address,
                      round(ST_Distance(n.footprint, b.footprint)::numeric, 1)::float AS distance_m,
                      COALESCE((SELECT sum(h.residents) FROM house_unit h WHERE h.building_code = n.code), 0)::int
                        AS residents
                 FROM building b JOIN building n ON n.code <> b.code AND ST_DWithin(n.footprint, b.footprint, :d)
                WHERE b.code = :c ORDER BY distance_m, n.code"""
            ),
            {"c": code, "d": collapse_m},
        )
        .mappings()
        .all()
    )
    pipes = (
        ctx.conn.execute(
            text(
                """SELECT p.id, p.utility, p.diameter_mm FROM pipeline p JOIN building b ON b.code = :c
                WHERE p.geom && b.footprint AND ST_Intersects(ST_Force2D(p.geom), b.footprint)
                ORDER BY p.utility, p.id"""
            ),
            {"c": code},
        )
        .mappings()
        .all()
    )
    return {
        "building_safety": {
            "building": dict(building),
            "units": [dict(u) for u in units],
            "residents": sum(u["residents"] or 0 for u in units),
            "collapse_distance_m": collapse_m,
            "neighbours": [dict(n) for n in neighbours],
            "pipes_beneath": [dict(p) for p in pipes],
        }
    }


REGISTRY: tuple[Kind, ...] = (
    Kind("gas_leak", {"zh": "燃气泄漏", "en": "Gas leak"}, 200.0, True, (gas_valves,), {"gas": "ventilate"}),
    Kind(
        "pipe_burst", {"zh": "供水爆管", "en": "Water main burst"}, 100.0, True, (water_valves,), {"water": "inspect"}
    ),
    Kind("fire", {"zh": "火灾", "en": "Fire"}, 100.0, True, (fire_access, hydrants), {"*": "close"}),
    Kind("flood", {"zh": "内涝", "en": "Flood"}, 300.0, True, (), {"*": "inspect"}),
    Kind("earthquake", {"zh": "地震", "en": "Earthquake"}, 2000.0, False, (earthquake,), {"*": "inspect"}),
    Kind("building_safety", {"zh": "房屋安全", "en": "Building safety"}, 50.0, True, (building_safety,), {}),
)
KINDS = {k.type: k for k in REGISTRY}


def compartment_actions(kind: Kind, compartments: list[dict]) -> list[dict]:
    """What to do with each tunnel compartment in the zone (ventilate, close, inspect)."""
    out = []
    for c in compartments:
        action = next((kind.compartment_action[u] for u in c["utilities"] if u in kind.compartment_action), None)
        action = action or kind.compartment_action.get("*")
        if action:
            out.append({"id": c["id"], "name": c["name"], "action": action, "sensors": c["sensors"]})
    return out


def action_sheet(
    conn: Connection, type_: str, location: shapely.Geometry, radius_m: float | None, params: dict, personal: bool
) -> dict:
    """The event's action sheet: the overlay of its kind and the kind's own sections."""
    kind = KINDS.get(type_)
    if kind is None:
        raise UserError(f"unknown event type {type_!r}: one of {', '.join(KINDS)}")
    radius = radius_m if radius_m is not None or location.geom_type != "Point" else kind.radius_m
    zone = incident.zone(location, radius)
    sheet: dict = {"type": kind.type, "label": kind.label, "radius_m": radius}
    if kind.overlay:
        base_kind: incident.IncidentType = (
            "flood" if kind.type == "flood" else "fire"
        )  # the overlay differs only by flood depths
        base = incident.incident(conn, base_kind, location, radius, personal, water_level_m=params.get("water_level_m"))
        base.pop("type")
        zone = base.pop("zone")
        compartments = base.pop("tunnel_compartments")
        sheet |= base
        sheet["compartments"] = compartment_actions(kind, compartments)
        sheet["sensors"] = [s for c in compartments for s in c["sensors"]]
    ctx = Context(conn, location, zone, params, personal)
    for section in kind.sections:
        sheet |= section(ctx)
    sheet["zone_area_m2"] = round(zone.area, 1)
    return sheet | {"zone": zone}
