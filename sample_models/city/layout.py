"""Streets, blocks, parcels, buildings and house units of the sample city, vectorised with numpy and shapely.

A grid of named roads (main, secondary, branch) cuts the city into blocks; each block holds one to four
parcels with a land use and planning limits; buildings stand on a grid of cells inside each parcel's
setback line; the city grows with the square root of the number of buildings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import shapely

from sample_models.city import names
from sample_models.city.dates import TODAY, random_dates
from sample_models.city.terrain import Terrain

CENTER = (497_000.0, 3_520_000.0)  # Changzhou, lon 119.97 lat 31.80, in EPSG:4549
ROAD_WIDTHS = {"main": (40.0, 50.0), "secondary": (24.0, 30.0), "branch": (16.0, 20.0)}
USES = np.array(["residential", "commercial", "office", "industrial", "public", "green"])
USE_P = np.array([0.42, 0.13, 0.08, 0.12, 0.12, 0.13])
# Per use: height limits (m), plot ratio range, density range, setback range (m), cell (w, d) m,
# storey height (m), floors choices.
PLANNING = {
    "residential": ((24.0, 54.0, 80.0, 100.0), (1.2, 3.0), (0.22, 0.30), (6.0, 10.0), (44.0, 38.0), 3.0),
    "commercial": ((24.0, 50.0, 100.0), (2.0, 4.5), (0.40, 0.55), (5.0, 8.0), (56.0, 48.0), 4.5),
    "office": ((60.0, 100.0, 150.0), (3.0, 6.0), (0.35, 0.45), (6.0, 10.0), (44.0, 44.0), 3.9),
    "industrial": ((24.0, 30.0), (1.0, 2.0), (0.45, 0.60), (5.0, 8.0), (64.0, 52.0), 6.5),
    "public": ((24.0, 36.0), (0.8, 2.0), (0.30, 0.40), (5.0, 8.0), (52.0, 44.0), 4.2),
    "green": ((12.0,), (0.05, 0.1), (0.02, 0.05), (5.0, 5.0), (1e9, 1e9), 4.0),
}
FLOORS = {
    "residential": (np.array([6, 11, 18, 26, 33]), np.array([0.32, 0.25, 0.2, 0.14, 0.09])),
    "commercial": (np.arange(2, 7), None),
    "office": (np.arange(8, 31), None),
    "industrial": (np.arange(1, 4), None),
    "public": (np.arange(2, 7), None),
}
PARAPET_M = 1.5


@dataclass(frozen=True)
class Streets:
    """The road grid: north-south roads at ``x``, east-west roads at ``y``, half widths, classes, names."""

    x: np.ndarray
    y: np.ndarray
    half_x: np.ndarray
    half_y: np.ndarray
    class_x: np.ndarray
    class_y: np.ndarray
    name_x: list[str]
    name_y: list[str]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (
            float(self.x[0] - self.half_x[0]),
            float(self.y[0] - self.half_y[0]),
            float(self.x[-1] + self.half_x[-1]),
            float(self.y[-1] + self.half_y[-1]),
        )


def _line_classes(n: int) -> np.ndarray:
    i = np.arange(n)
    return np.where(i % 4 == 1, "main", np.where(i % 4 == 3, "secondary", "branch"))


def _half_widths(rng: np.random.Generator, classes: np.ndarray) -> np.ndarray:
    half = np.empty(len(classes))
    for cls, options in ROAD_WIDTHS.items():
        mask = classes == cls
        half[mask] = np.array(options)[rng.integers(0, len(options), mask.sum())] / 2
    return half


def make_streets(rng: np.random.Generator, n_lines: int) -> Streets:
    """``n_lines`` roads each way, blocks 250-400 m wide and 220-350 m deep, centred on Changzhou."""
    x = np.concatenate([[0.0], np.cumsum(rng.uniform(250, 400, n_lines - 1))])
    y = np.concatenate([[0.0], np.cumsum(rng.uniform(220, 350, n_lines - 1))])
    x = np.round(x + CENTER[0] - x[-1] / 2, 2)
    y = np.round(y + CENTER[1] - y[-1] / 2, 2)
    class_x, class_y = _line_classes(n_lines), _line_classes(n_lines)
    return Streets(
        x,
        y,
        _half_widths(rng, class_x),
        _half_widths(rng, class_y),
        class_x,
        class_y,
        names.road_names(rng, n_lines, north_south=True),
        names.road_names(rng, n_lines, north_south=False),
    )


def roads_frame(streets: Streets) -> pd.DataFrame:
    """One road per grid line: centre line across the city, red line a rectangle closing the corners."""
    x0, y0, x1, y1 = streets.bounds
    nx, ny = len(streets.x), len(streets.y)
    ns_center = shapely.linestrings(
        np.stack([np.column_stack([streets.x, np.full(nx, y0)]), np.column_stack([streets.x, np.full(nx, y1)])], 1)
    )
    ew_center = shapely.linestrings(
        np.stack([np.column_stack([np.full(ny, x0), streets.y]), np.column_stack([np.full(ny, x1), streets.y])], 1)
    )
    ns_red = shapely.box(streets.x - streets.half_x, y0, streets.x + streets.half_x, y1)
    ew_red = shapely.box(x0, streets.y - streets.half_y, x1, streets.y + streets.half_y)
    return pd.DataFrame(
        {
            "code": [f"R{i:04d}" for i in range(nx + ny)],
            "name": streets.name_x + streets.name_y,
            "road_class": np.concatenate([streets.class_x, streets.class_y]),
            "width_m": np.concatenate([streets.half_x, streets.half_y]) * 2,
            "centerline": np.concatenate([ns_center, ew_center]),
            "red_line": np.concatenate([ns_red, ew_red]),
        }
    )


def _district(cx: np.ndarray, cy: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """新北 in the north, 武进 in the south, 钟楼 west and 天宁 east of the centre."""
    x0, y0, x1, y1 = bounds
    mid_x, quarter = (x0 + x1) / 2, (y1 - y0) / 4
    centre_y = (y0 + y1) / 2
    return np.where(
        cy > centre_y + quarter,
        "新北区",
        np.where(cy < centre_y - quarter, "武进区", np.where(cx < mid_x, "钟楼区", "天宁区")),
    )


def _uniform_in(rng: np.random.Generator, ranges: np.ndarray) -> np.ndarray:
    return ranges[:, 0] + rng.random(len(ranges)) * (ranges[:, 1] - ranges[:, 0])


@dataclass(frozen=True)
class Parcels:
    frame: pd.DataFrame  # the parcel table's columns plus helpers: x0, y0, x1, y1, district, slots
    cells: tuple[np.ndarray, ...]  # usable rectangle x0, y0, x1, y1, cell count along x and y


def make_parcels(rng: np.random.Generator, streets: Streets) -> Parcels:
    """Split every block into 1, 2 or 4 parcels; give each a land use and its planning limits."""
    nb = len(streets.x) - 1
    bi, bj = np.meshgrid(np.arange(nb), np.arange(nb))
    bi, bj = bi.ravel(), bj.ravel()
    bx0, bx1 = streets.x[bi] + streets.half_x[bi], streets.x[bi + 1] - streets.half_x[bi + 1]
    by0, by1 = streets.y[bj] + streets.half_y[bj], streets.y[bj + 1] - streets.half_y[bj + 1]
    pattern = rng.choice(4, len(bi), p=[0.3, 0.3, 0.2, 0.2])
    kx, ky = np.where(pattern % 2 == 1, 2, 1), np.where(pattern >= 2, 2, 1)
    fx, fy = rng.uniform(0.4, 0.6, len(bi)), rng.uniform(0.4, 0.6, len(bi))
    count = kx * ky
    pb = np.repeat(np.arange(len(bi)), count)
    q = np.arange(len(pb)) - np.repeat(np.cumsum(count) - count, count)
    ix, iy = q % kx[pb], q // kx[pb]
    splitx = bx0[pb] + fx[pb] * (bx1[pb] - bx0[pb])
    splity = by0[pb] + fy[pb] * (by1[pb] - by0[pb])
    px0 = np.where(ix == 1, splitx, bx0[pb])
    px1 = np.where((ix == 0) & (kx[pb] == 2), splitx, bx1[pb])
    py0 = np.where(iy == 1, splity, by0[pb])
    py1 = np.where((iy == 0) & (ky[pb] == 2), splity, by1[pb])
    px0, px1, py0, py1 = (np.round(v, 2) for v in (px0, px1, py0, py1))
    n = len(pb)
    cx, cy = (px0 + px1) / 2, (py0 + py1) / 2
    x0, y0, x1, y1 = streets.bounds
    radius = np.hypot((cx - (x0 + x1) / 2) / (x1 - x0), (cy - (y0 + y1) / 2) / (y1 - y0)) * 2
    use = USES[rng.choice(len(USES), n, p=USE_P)]
    use = np.where((radius > 0.6) & (rng.random(n) < 0.3), "industrial", use)
    height_limit = np.empty(n)
    plot_ratio, density, setback, cell_w, cell_d = (np.empty(n) for _ in range(5))
    for name, (heights, ratio, dens, back, cell, _storey) in PLANNING.items():
        mask = use == name
        m = mask.sum()
        height_limit[mask] = np.array(heights)[rng.integers(0, len(heights), m)]
        plot_ratio[mask] = np.round(rng.uniform(*ratio, m), 1)
        density[mask] = np.round(rng.uniform(*dens, m), 2)
        setback[mask] = np.round(rng.uniform(*back, m))
        cell_w[mask], cell_d[mask] = cell
    ux0, ux1, uy0, uy1 = px0 + setback, px1 - setback, py0 + setback, py1 - setback
    reserved = (use != "green") & (rng.random(n) < 0.12)  # land granted, not built yet
    ncol = np.where(reserved, 0, np.maximum(np.floor((ux1 - ux0) / cell_w), 0)).astype(int)
    nrow = np.maximum(np.floor((uy1 - uy0) / cell_d), 0).astype(int)
    frame = pd.DataFrame(
        {
            "code": [f"CZDK{i:06d}" for i in range(n)],
            "land_use": use,
            "height_limit_m": height_limit,
            "max_plot_ratio": plot_ratio,
            "max_density": density,
            "min_setback_m": setback,
            "geom": shapely.box(px0, py0, px1, py1),
            "district": _district(cx, cy, streets.bounds),
            "road": np.array(streets.name_y)[bj[pb]],
            "house_no": (1 + 2 * np.floor((px0 - streets.x[0]) / 20)).astype(int),
        }
    )
    return Parcels(frame, (ux0, uy0, ux1, uy1, ncol, nrow))


def capacity(parcels: Parcels) -> int:
    """How many building cells the parcels hold."""
    return int((parcels.cells[4] * parcels.cells[5]).sum())


def _footprints(rng: np.random.Generator, x0, y0, w, d, l_shape: np.ndarray) -> np.ndarray:
    """Rectangles, and L-shapes (a corner cut away, the corner chosen at random) where ``l_shape``."""
    n = len(x0)
    rect = np.stack([[x0, y0], [x0 + w, y0], [x0 + w, y0 + d], [x0, y0 + d], [x0, y0]], 0).transpose(2, 0, 1)
    cw, cd = w * rng.uniform(0.3, 0.5, n), d * rng.uniform(0.3, 0.5, n)
    # Unit L: cut the top-right corner, then mirror it into one of four corners.
    ux = np.stack([np.zeros(n), w, w, w - cw, w - cw, np.zeros(n), np.zeros(n)], 1)
    uy = np.stack([np.zeros(n), np.zeros(n), d - cd, d - cd, d, d, np.zeros(n)], 1)
    corner = rng.integers(0, 4, n)
    ux = np.where((corner % 2 == 1)[:, None], w[:, None] - ux, ux)
    uy = np.where((corner >= 2)[:, None], d[:, None] - uy, uy)
    lcoords = np.stack([x0[:, None] + ux, y0[:, None] + uy], 2)
    out = np.empty(n, dtype=object)
    out[~l_shape] = shapely.polygons(np.round(rect[~l_shape], 2))
    out[l_shape] = shapely.orient_polygons(shapely.polygons(np.round(lcoords[l_shape], 2)))
    return out


def _structure(floors: np.ndarray, use: np.ndarray, year: np.ndarray) -> np.ndarray:
    return np.select(
        [
            (use == "industrial") & (floors <= 3),
            (floors <= 6) & (year < 2000),
            floors <= 9,
            floors <= 18,
        ],
        ["steel", "masonry", "frame", "frame_shear_wall"],
        "shear_wall",
    )


def _safety_grade(rng: np.random.Generator, year: np.ndarray) -> np.ndarray:
    """Older buildings fare worse; few are D (dangerous); none while under construction."""
    u = rng.random(len(year))
    old, mid = year < 1995, year < 2010
    a = np.where(old, 0.30, np.where(mid, 0.55, 0.85))
    b = a + np.where(old, 0.45, np.where(mid, 0.38, 0.15))
    c = b + np.where(old, 0.18, np.where(mid, 0.06, 0.0))
    grade = np.where(u < a, "A", np.where(u < b, "B", np.where(u < c, "C", "D")))
    return np.where(year > 0, grade, None)


def develop(rng: np.random.Generator, parcels: Parcels, built: np.ndarray) -> pd.DataFrame:
    """When each parcel was (or will be) developed, under which project code and at which stage.

    Built parcels are delivered (before 2025), in acceptance or under construction; some vacant ones have
    projects in approval or preparation. Projects before 2000 are not in the bureau's database."""
    n = len(parcels.frame)
    stage = np.full(n, None, dtype=object)
    u = rng.random(n)
    stage[built] = np.where(u[built] < 0.72, "delivered", np.where(u[built] < 0.80, "acceptance", "construction"))
    vacant = ~built & (parcels.frame["land_use"].to_numpy() != "green") & (u < 0.7)
    stage[vacant] = np.where(rng.random(vacant.sum()) < 0.5, "approval", "preparation")
    year = np.zeros(n, dtype=int)
    delivered = stage == "delivered"
    year[delivered] = 1982 + np.floor(43 * rng.beta(2.0, 1.3, delivered.sum())).astype(int)
    year[stage == "acceptance"] = 2025
    has_project = (stage != None) & ~(delivered & (year < 2000))  # noqa: E711 (elementwise)
    start_year = np.where(delivered, year - 2, 2024)
    start_year = np.where(stage == "construction", rng.integers(2023, 2026, n), start_year)
    start_year = np.where(np.isin(stage, ["approval", "preparation"]), 2025, start_year)
    district_code = parcels.frame["district"].map(names.DISTRICTS).to_numpy()
    seq = np.cumsum(has_project)
    code = [
        f"{d}{y}{s:06d}" if p else None for d, y, s, p in zip(district_code, start_year, seq, has_project, strict=True)
    ]
    return pd.DataFrame({"stage": stage, "year": year, "project_code": code, "start_year": start_year})


def slot_parcels(parcels: Parcels, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The parcel of each cell index and the cell's index within its parcel."""
    per_parcel = parcels.cells[4] * parcels.cells[5]
    starts = np.cumsum(per_parcel) - per_parcel
    parcel = np.searchsorted(starts, slots, side="right") - 1
    return parcel, slots - starts[parcel]


def make_buildings(
    rng: np.random.Generator, parcels: Parcels, development: pd.DataFrame, slots: np.ndarray, terrain: Terrain
) -> pd.DataFrame:
    """Buildings in the chosen cells (``slots``: indices into all parcels' cells, sorted)."""
    ux0, uy0, ux1, uy1, ncol, nrow = parcels.cells
    parcel, k = slot_parcels(parcels, slots)
    col, row = k % ncol[parcel], k // ncol[parcel]
    cw = (ux1[parcel] - ux0[parcel]) / ncol[parcel]
    cd = (uy1[parcel] - uy0[parcel]) / nrow[parcel]
    frame = parcels.frame
    use = frame["land_use"].to_numpy()[parcel]
    n = len(slots)
    residential = use == "residential"
    w = cw * np.where(residential, rng.uniform(0.55, 0.8, n), rng.uniform(0.5, 0.8, n))
    d = cd * np.where(residential, rng.uniform(0.32, 0.45, n), rng.uniform(0.5, 0.8, n))
    x0 = ux0[parcel] + col * cw + (cw - w) * rng.uniform(0.3, 0.7, n)
    y0 = uy0[parcel] + row * cd + (cd - d) * rng.uniform(0.3, 0.7, n)
    footprint = _footprints(rng, x0, y0, w, d, rng.random(n) < np.where(residential, 0.15, 0.25))
    floors, storey = np.zeros(n, dtype=int), np.zeros(n)
    limit = frame["height_limit_m"].to_numpy()[parcel]
    for name, (choices, p) in FLOORS.items():
        mask = use == name
        storey[mask] = PLANNING[name][5]
        floors[mask] = rng.choice(choices, mask.sum(), p=p)
    floors = np.maximum(np.minimum(floors, np.floor((limit - PARAPET_M) / storey)).astype(int), 1)
    height = np.round(floors * storey + PARAPET_M, 2)
    below = np.where((floors >= 11) | np.isin(use, ["commercial", "office"]), rng.integers(1, 3, n), 0)
    year = development["year"].to_numpy()[parcel]
    building_year = np.where(year > 0, year - rng.integers(0, 2, n) * (year > 2000), 0)
    centroid = shapely.get_coordinates(shapely.centroid(footprint))
    grade = _safety_grade(rng, building_year)
    inspected = (np.isin(grade, ["C", "D"]) | ((building_year < 2000) & (building_year > 0))) & (rng.random(n) < 0.9)
    house_no = frame["house_no"].to_numpy()[parcel]
    index_in_parcel = np.arange(n) - np.searchsorted(parcel, parcel, side="left") + 1
    address = [
        f"常州市{dist}{road}{no}号{i}幢"
        for dist, road, no, i in zip(
            frame["district"].to_numpy()[parcel],
            frame["road"].to_numpy()[parcel],
            house_no,
            index_in_parcel,
            strict=True,
        )
    ]
    return pd.DataFrame(
        {
            "code": [f"CZB{i:07d}" for i in range(1, n + 1)],
            "address": address,
            "height_m": height,
            "ground_h_orthometric": np.round(terrain.ground(centroid), 3),
            "floors_above": floors,
            "floors_below": below,
            "structure": _structure(floors, use, building_year),
            "use": use,
            "year_built": pd.Series(building_year).where(building_year > 0).astype("Int64"),
            "project_code": development["project_code"].to_numpy()[parcel],
            "parcel_code": frame["code"].to_numpy()[parcel],
            "safety_grade": grade,
            "last_inspection": np.where(inspected, random_dates(rng, date(2022, 7, 1), TODAY, n), np.datetime64("NaT")),
            "footprint": footprint,
            "parcel_index": parcel,
        }
    )


def make_house_units(rng: np.random.Generator, buildings: pd.DataFrame) -> pd.DataFrame:
    """Two to four flats per floor of every finished residential building; owners masked, residents counted."""
    done = (buildings["use"] == "residential").to_numpy() & buildings["year_built"].notna().to_numpy()
    idx = np.flatnonzero(done)
    per_floor = rng.integers(2, 5, len(idx))
    floors = buildings["floors_above"].to_numpy()[idx]
    count = floors * per_floor
    b = np.repeat(idx, count)
    k = np.arange(len(b)) - np.repeat(np.cumsum(count) - count, count)
    pf = np.repeat(per_floor, count)
    floor, unit = k // pf + 1, k % pf + 1
    n = len(b)
    codes = buildings["code"].to_numpy()[b]
    year = buildings["year_built"].to_numpy(dtype=float, na_value=0)[b].astype(int)
    occupied = rng.random(n) < 0.9
    cert_year = np.clip(year + 1, 2016, 2025)
    seq = np.arange(1, n + 1)
    owners = names.masked_names(rng, n)
    unit_no = (floor * 100 + unit).astype(str)
    seq7 = np.strings.zfill(seq.astype(str), 7)
    return pd.DataFrame(
        {
            "id": _concat(codes.astype(str), "-", np.strings.zfill(unit_no, 4)),
            "building_code": codes,
            "unit_no": unit_no,
            "floor": floor,
            "area_m2": np.round(rng.uniform(55, 145, n), 2),
            "ownership_cert": _concat("苏(", cert_year.astype(str), ")常州市不动产权第", seq7, "号"),
            "owner_masked": np.where(occupied, owners, None),
            "residents": np.where(occupied, rng.integers(1, 6, n), 0),
            "contract_filing_no": np.where(year >= 2000, _concat("CZSP", year.astype(str), seq7), None),
        }
    )


def _concat(*parts) -> np.ndarray:
    """Element-wise string concatenation (numpy string ufuncs, fast on millions of rows)."""
    out = np.asarray(parts[0])
    for part in parts[1:]:
        out = np.strings.add(out, part)
    return out
