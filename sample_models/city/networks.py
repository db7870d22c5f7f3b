"""Underground networks of the sample city: seven pipe networks under the roads and one utility tunnel.

Each utility runs at its own offset from the road centre line (CJJ-style horizontal separations), so the
network of a utility is the road grid: one node where two of its lines cross, pipes split at every node.
Water, gas and heat have valves on every leg 6 m from each crossing (a burst between two crossings can be
isolated), water has hydrants, drains and sewers manholes every ~50 m, cable pits every ~100 m. Node axis
depth = the utility's cover at that point + the largest radius meeting there; the pipe axis runs straight
between its nodes; ``depth_m`` is a pipe's smallest cover to its top (``depth_ref='top'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import shapely

from sample_models.city.layout import Streets
from sample_models.city.terrain import Terrain


@dataclass(frozen=True)
class Utility:
    prefix: str  # pinyin initials used in Chinese pipe surveys
    offset: float  # from the road centre line, as a fraction of the half width (negative: west/south)
    cover_m: tuple[float, float]
    diameters_mm: dict[str, tuple[int, ...]]  # by road class
    materials: tuple[str, str, int]  # (small, large, from diameter mm)
    pressure: dict[str, str] | None
    owner: str
    junction: str  # node kind where two lines cross
    inline: str | None = None  # node kind placed every ``spacing_m``
    spacing_m: float = 0.0
    valves: bool = False
    main_roads_only: bool = False


UTILITIES = {
    "water": Utility(
        "JS", -0.65, (1.0, 1.6), {"main": (600, 800, 1000), "secondary": (300, 400), "branch": (150, 200)},
        ("PE100", "ductile_iron", 300), {"main": "1.0MPa", "secondary": "0.6MPa", "branch": "0.6MPa"},
        "常州市自来水有限公司", "tee", "hydrant", 120.0, valves=True,
    ),
    "drain": Utility(
        "YS", 0.30, (1.5, 2.8), {"main": (1000, 1200), "secondary": (800, 1000), "branch": (500, 600)},
        ("HDPE_double_wall", "reinforced_concrete", 800), None, "常州市排水管理处", "manhole", "manhole", 50.0,
    ),
    "sewer": Utility(
        "WS", -0.30, (2.0, 4.5), {"main": (800, 1000), "secondary": (500, 600), "branch": (300, 400)},
        ("HDPE_double_wall", "reinforced_concrete", 600), None, "常州市排水管理处", "manhole", "manhole", 50.0,
    ),
    "gas": Utility(
        "RQ", 0.55, (0.9, 1.4), {"main": (300, 400), "secondary": (200, 300), "branch": (100, 150)},
        ("PE100", "steel", 200), {"main": "medium_A", "secondary": "medium_B", "branch": "low"},
        "常州市燃气有限公司", "tee", valves=True,
    ),
    "heat": Utility(
        "RL", -0.45, (1.2, 1.8), {"main": (500, 600, 700)}, ("steel", "steel", 0),
        {"main": "1.6MPa"}, "常州市热力有限公司", "tee", valves=True, main_roads_only=True,
    ),
    "power": Utility(
        "DL", 0.80, (0.7, 1.0), {"main": (200,), "secondary": (200,), "branch": (150, 200)},
        ("MPP", "MPP", 0), None, "国网常州供电公司", "manhole", "manhole", 100.0,
    ),
    "telecom": Utility(
        "TX", -0.85, (0.7, 1.0), {"main": (150,), "secondary": (150,), "branch": (100, 150)},
        ("PVC", "PVC", 0), None, "中国电信常州分公司", "manhole", "manhole", 100.0,
    ),
}  # fmt: skip
VALVE_FROM_CROSSING_M = 6.0
SURVEYS = ("2023年常州市地下管线普查", "竣工测量")


def _cover(utility: str, spec: Utility, rng: np.random.Generator, xy: np.ndarray) -> np.ndarray:
    """Cover (m) over a smooth field; sewers deepen along 1 km saw teeth (gravity mains falling to pumps)."""
    lo, hi = spec.cover_m
    if utility == "sewer":
        tooth = np.mod(xy[:, 0] - 100.0, 1000.0) / 1000.0 + np.mod(xy[:, 1] - 100.0, 1000.0) / 1000.0
        return lo + (hi - lo) * tooth / 2
    phase = rng.uniform(0, 2 * np.pi, 2)
    field = np.sin(xy[:, 0] / 317.0 + phase[0]) * np.cos(xy[:, 1] / 241.0 + phase[1])
    return lo + (hi - lo) * (0.5 + 0.5 * field)


def _diameters(rng: np.random.Generator, spec: Utility, classes: np.ndarray) -> np.ndarray:
    out = np.zeros(len(classes))
    for cls, options in spec.diameters_mm.items():
        mask = classes == cls
        out[mask] = np.array(options)[rng.integers(0, len(options), mask.sum())]
    return out


def _line_nodes(spec: Utility, cross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions and kinds of the nodes between the crossings at ``cross`` (sorted) along one line."""
    start, length = cross[:-1], np.diff(cross)
    pos, kind = [], []
    if spec.valves:
        long = length > 5 * VALVE_FROM_CROSSING_M
        pos += [start[long] + VALVE_FROM_CROSSING_M, start[long] + length[long] - VALVE_FROM_CROSSING_M]
        kind += ["valve"] * 2 * int(long.sum())
    if spec.inline:
        m = np.floor(length / spec.spacing_m).astype(int)
        seg = np.repeat(np.arange(len(start)), m)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(m) - m, m) + 1
        pos.append(start[seg] + length[seg] * k / (m[seg] + 1))
        kind += [spec.inline] * len(seg)
    return (np.concatenate(pos) if pos else np.zeros(0)), np.array(kind, dtype=object)


def make_network(
    utility: str, rng: np.random.Generator, streets: Streets, terrain: Terrain
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Nodes and pipes of one utility (ids ``JS-N0000001`` and ``JS-P0000001`` for water)."""
    spec = UTILITIES[utility]
    carries_x = (streets.class_x == "main") if spec.main_roads_only else np.ones(len(streets.x), bool)
    carries_y = (streets.class_y == "main") if spec.main_roads_only else np.ones(len(streets.y), bool)
    vx, hy = np.flatnonzero(carries_x), np.flatnonzero(carries_y)
    line_x = streets.x[vx] + spec.offset * streets.half_x[vx]  # north-south lines
    line_y = streets.y[hy] + spec.offset * streets.half_y[hy]  # east-west lines
    diam_v, diam_h = _diameters(rng, spec, streets.class_x[vx]), _diameters(rng, spec, streets.class_y[hy])
    nv, nh = len(vx), len(hy)
    # Crossing nodes first: id a * nh + b for north-south line a and east-west line b.
    gx, gy = np.meshgrid(line_x, line_y, indexing="ij")
    node_x, node_y = [gx.ravel()], [gy.ravel()]
    node_kind = [np.full(nv * nh, spec.junction, dtype=object)]
    node_r = [np.maximum(diam_v[:, None], diam_h[None, :]).ravel() / 2000]
    pipes: list[tuple[np.ndarray, np.ndarray, np.ndarray, str]] = []  # (from, to, diameter, class)
    next_id = nv * nh
    lines = [(a, True) for a in range(nv)] + [(b, False) for b in range(nh)]
    for index, north_south in lines:
        cross = line_y if north_south else line_x
        cross_ids = index * nh + np.arange(nh) if north_south else np.arange(nv) * nh + index
        diameter = diam_v[index] if north_south else diam_h[index]
        pos, kinds = _line_nodes(spec, cross)
        ids = np.arange(next_id, next_id + len(pos))
        next_id += len(pos)
        fixed = np.full(len(pos), line_x[index] if north_south else line_y[index])
        node_x.append(fixed if north_south else pos)
        node_y.append(pos if north_south else fixed)
        node_kind.append(kinds)
        node_r.append(np.full(len(pos), diameter / 2000))
        order = np.argsort(np.concatenate([cross, pos]), kind="stable")
        chain = np.concatenate([cross_ids, ids])[order]
        cls = (streets.class_x[vx] if north_south else streets.class_y[hy])[index]
        pipes.append((chain[:-1], chain[1:], np.full(len(chain) - 1, diameter), cls))
    xy = np.column_stack([np.concatenate(node_x), np.concatenate(node_y)]).round(3)
    ground = terrain.ground(xy)
    axis_depth = _cover(utility, spec, rng, xy) + np.concatenate(node_r)
    z = np.round(ground - axis_depth, 3)
    node_ids = np.array([f"{spec.prefix}-N{i:07d}" for i in range(1, len(xy) + 1)])
    nodes = pd.DataFrame(
        {
            "id": node_ids,
            "utility": utility,
            "kind": np.concatenate(node_kind),
            "ground_h_orthometric": np.round(ground, 3),
            "depth_m": np.round(ground - z, 3),  # to the axis, where the node's geometry is
            "is_open": True,
            "geom": shapely.points(xy[:, 0], xy[:, 1], z),
        }
    )
    a = np.concatenate([p[0] for p in pipes])
    b = np.concatenate([p[1] for p in pipes])
    diameter = np.concatenate([p[2] for p in pipes])
    cls = np.concatenate([np.full(len(p[0]), p[3]) for p in pipes])
    radius = diameter / 2000
    top_cover = np.minimum(ground[a] - z[a], ground[b] - z[b]) - radius
    n = len(a)
    coords = np.stack([np.column_stack([xy[a], z[a]]), np.column_stack([xy[b], z[b]])], 1)
    small, large, threshold = spec.materials
    pipes_frame = pd.DataFrame(
        {
            "id": [f"{spec.prefix}-P{i:07d}" for i in range(1, n + 1)],
            "utility": utility,
            "material": np.where(diameter >= threshold, large, small),
            "diameter_mm": diameter,
            "pressure_class": [spec.pressure[c] for c in cls] if spec.pressure else None,
            "depth_m": np.round(top_cover, 3),
            "depth_ref": "top",
            "from_node": node_ids[a],
            "to_node": node_ids[b],
            "owner": spec.owner,
            "install_year": rng.integers(1990, 2025, n),
            "survey_source": np.array(SURVEYS)[(rng.random(n) < 0.15).astype(int)],
            "status": "in_service",
            "geom": shapely.linestrings(coords),
        }
    )
    return nodes, pipes_frame


# The utility tunnel: a 9.0 m x 3.6 m box, 3.0 m cover, three compartments across its width.
TUNNEL_WIDTH_M, TUNNEL_HEIGHT_M, TUNNEL_COVER_M = 9.0, 3.6, 3.0
COMPARTMENTS = (  # name, utilities, offset from the left (north) wall, width, sensor kinds
    ("水信舱", ["water", "telecom"], 0.3, 3.4, ("O2", "H2S", "temperature", "humidity", "water_level")),
    ("电力舱", ["power"], 4.0, 2.6, ("O2", "temperature", "humidity", "water_level")),
    ("燃气舱", ["gas"], 6.9, 1.8, ("CH4", "O2", "temperature", "humidity")),
)
SENSORS = {  # unit, alarm above, alarm below, normal mean, normal spread
    "CH4": ("%LEL", 20.0, None, 1.0, 0.6),
    "H2S": ("ppm", 10.0, None, 0.8, 0.4),
    "O2": ("%vol", 23.5, 19.5, 20.8, 0.1),
    "temperature": ("°C", 40.0, None, 24.0, 1.5),
    "humidity": ("%RH", 90.0, None, 72.0, 5.0),
    "water_level": ("m", 0.1, None, 0.01, 0.005),
}
READINGS_END = datetime(2025, 6, 30, 0, 0, tzinfo=timezone(timedelta(hours=8)))
READING_STEP = timedelta(minutes=10)
READINGS = 144  # 24 h


def tunnel_road(streets: Streets) -> int:
    """The east-west main road nearest the city centre, under which the tunnel runs."""
    mains = np.flatnonzero(streets.class_y == "main")
    candidates = mains if len(mains) else np.arange(len(streets.y))
    return int(candidates[np.argmin(np.abs(streets.y[candidates] - streets.y.mean()))])


def make_tunnel(rng: np.random.Generator, streets: Streets, terrain: Terrain) -> dict[str, pd.DataFrame]:
    """Tunnel segments between the main crossings nearest the centre (at most four), compartments,
    sensors every 200 m in each compartment, 24 h of 10-minute readings with a few alarms."""
    road = tunnel_road(streets)
    y = streets.y[road]
    mains = streets.x[streets.class_x == "main"]
    stops = mains if len(mains) >= 2 else streets.x[[0, -1]]
    middle = int(np.argmin(np.abs(stops - streets.x.mean())))
    first = max(0, min(middle - 2, len(stops) - 5))
    stops = stops[first : first + 5]
    name = f"{streets.name_y[road]}综合管廊"
    segments, compartments, sensors = [], [], []
    for k, (xa, xb) in enumerate(zip(stops[:-1], stops[1:], strict=True), 1):
        seg_id = f"ZHGL{road:03d}-S{k}"
        xs = np.linspace(xa, xb, max(2, int(np.ceil((xb - xa) / 20)) + 1))
        floor = terrain.ground(np.column_stack([xs, np.full(len(xs), y)])) - TUNNEL_COVER_M - TUNNEL_HEIGHT_M
        segments.append(
            {
                "id": seg_id,
                "name": name,
                "segment": f"S{k}",
                "width_m": TUNNEL_WIDTH_M,
                "height_m": TUNNEL_HEIGHT_M,
                "cover_depth_m": TUNNEL_COVER_M,
                "owner": "常州市城市综合管廊运营有限公司",
                "axis": shapely.linestrings(np.column_stack([xs, np.full(len(xs), y), np.round(floor, 3)])),
            }
        )
        stations = np.arange(xa + 50.0, xb - 25.0, 200.0)
        station_floor = terrain.ground(np.column_stack([stations, np.full(len(stations), y)]))
        station_floor -= TUNNEL_COVER_M + TUNNEL_HEIGHT_M
        for c, (cname, utilities, offset, width, kinds) in enumerate(COMPARTMENTS, 1):
            comp_id = f"{seg_id}-C{c}"
            compartments.append(
                {
                    "id": comp_id,
                    "tunnel_id": seg_id,
                    "name": cname,
                    "utilities": "{" + ",".join(utilities) + "}",
                    "offset_m": offset,
                    "width_m": width,
                }
            )
            lateral = TUNNEL_WIDTH_M / 2 - (offset + width / 2)  # north of the axis is positive
            for i, (sx, sz) in enumerate(zip(stations, station_floor, strict=True), 1):
                for kind in kinds:
                    unit, above, below, _, _ = SENSORS[kind]
                    sensors.append(
                        {
                            "id": f"{comp_id}-{kind}-{i:02d}",
                            "compartment_id": comp_id,
                            "kind": kind,
                            "unit": unit,
                            "alarm_above": above,
                            "alarm_below": below,
                            "position": shapely.Point(round(sx, 3), round(y + lateral, 3), round(sz + 2.4, 3)),
                        }
                    )
    sensor_frame = pd.DataFrame(sensors)
    return {
        "utility_tunnel": pd.DataFrame(segments),
        "tunnel_compartment": pd.DataFrame(compartments),
        "sensor": sensor_frame,
        "sensor_reading": _readings(rng, sensor_frame),
    }


def _readings(rng: np.random.Generator, sensors: pd.DataFrame) -> pd.DataFrame:
    """Normal values with a daily temperature cycle; one gas leak, one seepage and one hot cable episode."""
    n = len(sensors)
    kinds = sensors["kind"].to_numpy()
    mean = np.array([SENSORS[k][3] for k in kinds])
    spread = np.array([SENSORS[k][4] for k in kinds])
    hours = np.arange(READINGS) * READING_STEP.total_seconds() / 3600
    values = mean[:, None] + spread[:, None] * rng.standard_normal((n, READINGS))
    daily = 2.0 * np.sin((hours - 9) / 24 * 2 * np.pi)
    values[kinds == "temperature"] += daily
    values = np.where(np.isin(kinds, ["CH4", "H2S", "water_level"])[:, None], np.abs(values), values)
    for kind, compartment, level, start, length in (
        ("CH4", "C3", 28.0, 84, 6),
        ("water_level", "C1", 0.25, 100, 12),
        ("temperature", "C2", 47.0, 60, 4),
    ):
        hit = np.flatnonzero((kinds == kind) & sensors["compartment_id"].str.endswith(compartment).to_numpy())
        if len(hit):
            row = hit[len(hit) // 2]
            values[row, start : start + length] = level * rng.uniform(0.95, 1.1, length)
    values = np.round(values, 3)
    above = sensors["alarm_above"].to_numpy(dtype=float, na_value=np.inf)[:, None]
    below = sensors["alarm_below"].to_numpy(dtype=float, na_value=-np.inf)[:, None]
    times = [READINGS_END - READING_STEP * (READINGS - 1 - i) for i in range(READINGS)]
    return pd.DataFrame(
        {
            "sensor_id": np.repeat(sensors["id"].to_numpy(), READINGS),
            "time": np.tile(np.array([t.isoformat() for t in times]), n),
            "value": values.ravel(),
            "alarm": ((values > above) | (values < below)).ravel(),
        }
    )
