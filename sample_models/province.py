"""A sample province: several sample cities placed across the province's 3-degree Gauss-Krüger zones
(Hubei runs from about 108°E to 116°E), with five levels of administrative divisions, written into
the store (its CRS, whatever zone that is) in one transaction, replacing any previous city or province.

Each city is the sample city generator's (``generate_city``, a seed per city), its keys prefixed by the
city's 4-digit code so that cities do not collide, moved to its place in its own zone and transformed
to the store CRS. Its divisions are rectangles in that zone: four counties (2 × 2), two townships per
county (west, east), two villages per township (south, north). Each row's division is found as its city
is made (the deepest division holding a point on its surface, as ``core.divisions.assign`` does in SQL), so
that the rows are written once, straight into their city's partition; cities are generated and written one
at a time, so a province of a million buildings never sits in memory whole."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import pyproj
import shapely
from sqlalchemy import Connection, text

from core import divisions
from core.db import owner_engine
from core.settings import store_srid
from sample_models.city.generate import generate_city
from sample_models.load import _clear, _copy, _set_aside_checks

PROVINCE = ("420000000000", "湖北省", "Hubei")
CITY_NAMES = (
    ("武汉市", "Wuhan"),
    ("黄石市", "Huangshi"),
    ("十堰市", "Shiyan"),
    ("宜昌市", "Yichang"),
    ("襄阳市", "Xiangyang"),
    ("鄂州市", "Ezhou"),
    ("荆门市", "Jingmen"),
    ("孝感市", "Xiaogan"),
    ("荆州市", "Jingzhou"),
    ("黄冈市", "Huanggang"),
    ("咸宁市", "Xianning"),
    ("随州市", "Suizhou"),
)
WEST, EAST, LATITUDES = 108.6, 115.6, (30.4, 31.2, 30.8)
# The tables a province holds (referenced first), and each one's key columns that get the city prefix.
TABLES = {
    "enterprise": (),
    "parcel": ("code",),
    "project": ("code", "parcel_code"),
    "building": ("code", "project_code", "parcel_code"),
    "house_unit": ("id", "building_code"),
    "pipe_node": ("id",),
    "pipeline": ("id", "from_node", "to_node"),
}
# The located tables whose division is found as the rows are made, by the geometry column CODED names.
LOCATED = {
    "building": "footprint",
    "project": "footprint",
    "pipeline": "geom",
    "pipe_node": "geom",
    "enterprise": "location",
}
PARTITIONED = ("building", "house_unit", "pipeline", "pipe_node")  # by city (city_code)
MARGIN_M = 100.0
SEGMENT_M = 200.0  # boundaries are densified before transforming, so they follow the zone's curvature

Progress = Callable[[int], None]


def zone_srid(lon: float) -> int:
    """The EPSG code of the CGCS2000 3-degree Gauss-Krüger zone (no zone prefix) holding ``lon``."""
    central = 3 * round(lon / 3)
    if not 75 <= central <= 135:
        raise ValueError(f"longitude {lon} lies outside China's 3-degree zones (75°E–135°E)")
    return 4534 + (central - 75) // 3


@dataclass(frozen=True)
class CityPart:
    """One city of a province: its rows by table (TABLES order, keys prefixed, geometries in the store CRS,
    each row's ``division_code`` and ``city_code`` set) and its divisions (levels 2–5)."""

    code4: str
    tables: dict[str, pd.DataFrame]
    divisions: pd.DataFrame  # code, parent_code, level, name, name_en, zone_srid, geom (store CRS)


@dataclass(frozen=True)
class Province:
    """A province held in memory (small ones: tests, the scale-out bench); large ones stream city by city."""

    cities: list[CityPart]

    @cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {t: pd.concat([c.tables[t] for c in self.cities], ignore_index=True) for t in TABLES}

    @cached_property
    def divisions(self) -> pd.DataFrame:
        frames = [c.divisions for c in self.cities]
        return pd.concat([province_division(frames), *frames], ignore_index=True)


def _mover(zone: int, centre: tuple[float, float], target: tuple[float, float]) -> Callable[[np.ndarray], np.ndarray]:
    """Coordinates of the generated city (around ``centre``) → around ``target`` in ``zone`` → store CRS."""
    to_store = pyproj.Transformer.from_crs(zone, store_srid(), always_xy=True)

    def move(coords: np.ndarray) -> np.ndarray:
        x = coords[:, 0] - centre[0] + target[0]
        y = coords[:, 1] - centre[1] + target[1]
        out = coords.copy()
        out[:, 0], out[:, 1] = to_store.transform(x, y)
        return out

    return move


def _moved(values: np.ndarray, move: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    z = shapely.has_z(values)
    out = np.empty(len(values), dtype=object)
    out[~z] = shapely.transform(values[~z], move)
    out[z] = shapely.transform(values[z], move, include_z=True)
    return out


def _city_divisions(code4: str, name: tuple[str, str], box: tuple[float, float, float, float], zone: int, move):
    """The city and its counties, townships and villages as rectangles of its zone, moved to the store."""
    x0, y0, x1, y1 = box
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    rows = [(f"{code4}00000000", PROVINCE[0], 2, name[0], name[1], box)]
    quadrants = ((x0, y0, xm, ym), (xm, y0, x1, ym), (x0, ym, xm, y1), (xm, ym, x1, y1))
    for k, (a0, b0, a1, b1) in enumerate(quadrants, 1):
        county = f"{code4}{k:02d}"
        rows.append(
            (f"{county}000000", rows[0][0], 3, f"{name[0][:-1]}{k}区", f"{name[1]} District {k}", (a0, b0, a1, b1))
        )
        am = (a0 + a1) / 2
        for t, (c0, c1) in enumerate(((a0, am), (am, a1)), 1):
            township = f"{county}{t:03d}"
            rows.append(
                (
                    f"{township}000",
                    f"{county}000000",
                    4,
                    f"{county[-2:]}{t}街道",
                    f"Subdistrict {k}-{t}",
                    (c0, b0, c1, b1),
                )
            )
            bm = (b0 + b1) / 2
            for v, (d0, d1) in enumerate(((b0, bm), (bm, b1)), 1):
                rows.append(
                    (
                        f"{township}{v:03d}",
                        f"{township}000",
                        5,
                        f"{k}{t}{v}社区",
                        f"Community {k}-{t}-{v}",
                        (c0, d0, c1, d1),
                    )
                )
    frame = pd.DataFrame(rows, columns=["code", "parent_code", "level", "name", "name_en", "box"])
    boxes = shapely.segmentize(shapely.box(*np.array(frame.pop("box").tolist()).T), SEGMENT_M)
    frame["geom"] = shapely.transform(boxes, move)
    frame["zone_srid"] = zone
    return frame


def province_cities(cities: int, buildings: int, seed: int = 7) -> Iterator[CityPart]:
    """The cities of a province of ``cities`` cities and ``buildings`` buildings in all, spread evenly from
    WEST to EAST, generated one at a time (a large province never sits in memory whole)."""
    if cities < 1 or buildings < cities:
        raise ValueError("a province needs at least one city and one building per city")
    seen: set[str] = set()  # enterprises are keyed by USCC alone: one city's duplicate of another's is dropped
    for i in range(cities):
        lon = WEST + (EAST - WEST) * (i / max(cities - 1, 1))
        lat = LATITUDES[i % len(LATITUDES)]
        zone = zone_srid(lon)
        code4 = f"42{i + 1:02d}"
        name = CITY_NAMES[i] if i < len(CITY_NAMES) else (f"第{i + 1}市", f"City {i + 1}")
        city = generate_city(buildings // cities + (1 if i < buildings % cities else 0), seed + i)
        geoms = np.concatenate([f[c].to_numpy() for f in city.tables.values() for c in f.columns if _is_geom(f[c])])
        bx0, by0, bx1, by1 = shapely.total_bounds(geoms)
        target = pyproj.Transformer.from_crs(4490, zone, always_xy=True).transform(lon, lat)
        move = _mover(zone, ((bx0 + bx1) / 2, (by0 + by1) / 2), target)
        half_w, half_h = (bx1 - bx0) / 2 + MARGIN_M, (by1 - by0) / 2 + MARGIN_M
        box = (target[0] - half_w, target[1] - half_h, target[0] + half_w, target[1] + half_h)
        city_divisions = _city_divisions(code4, name, box, zone, _mover(zone, (0.0, 0.0), (0.0, 0.0)))
        tables = {}
        for table, keys in TABLES.items():
            frame = city.tables[table]
            for key in keys:
                frame[key] = frame[key].map(lambda v, p=code4: f"{p}-{v}" if isinstance(v, str) else None)
            for column in frame.columns:
                if _is_geom(frame[column]):
                    frame[column] = _moved(frame[column].to_numpy(), move)
            tables[table] = frame
        tables["enterprise"] = tables["enterprise"][~tables["enterprise"]["uscc"].isin(seen)].drop_duplicates("uscc")
        seen.update(tables["enterprise"]["uscc"])
        _assign_divisions(tables, city_divisions, code4)
        yield CityPart(code4, tables, city_divisions)


def generate_province(cities: int, buildings: int, seed: int = 7) -> Province:
    """A province held in memory whole (see :func:`province_cities`)."""
    return Province(list(province_cities(cities, buildings, seed)))


def _assign_divisions(tables: dict[str, pd.DataFrame], city_divisions: pd.DataFrame, code4: str) -> None:
    """Give the city's located rows the deepest of its divisions holding a point on their surface (lowest
    code on a shared edge), as ``core.divisions.assign`` does in SQL, before they are written; rows outside
    every division keep none. Every row of the partitioned tables gets the city's code."""
    ordered = city_divisions.sort_values(["level", "code"], ascending=[False, True])
    codes = ordered["code"].to_numpy()
    tree = shapely.STRtree(ordered["geom"].to_numpy())
    parcels = dict(zip(tables["parcel"]["code"], tables["parcel"]["geom"], strict=True))
    for table, column in LOCATED.items():
        frame = tables[table]
        geoms = frame[column].to_numpy()
        if table == "project":  # as CODED: the footprint, else its parcel's
            own = zip(geoms, frame["parcel_code"], strict=True)
            geoms = np.array([g if isinstance(g, shapely.Geometry) else parcels.get(p) for g, p in own], dtype=object)
        located = np.array([isinstance(g, shapely.Geometry) for g in geoms], dtype=bool)
        found = np.full(len(frame), None, dtype=object)
        if located.any():
            points = shapely.point_on_surface(shapely.force_2d(geoms[located]))
            point_index, division_index = tree.query(points, predicate="intersects")
            first = np.full(len(points), len(codes))  # divisions are ordered deepest first: the smallest index wins
            np.minimum.at(first, point_index, division_index)
            hit = first < len(codes)
            rows = np.flatnonzero(located)
            found[rows[hit]] = codes[first[hit]]
        frame["division_code"] = found
    for table in PARTITIONED:
        tables[table]["city_code"] = code4


def province_division(cities: list[pd.DataFrame]) -> pd.DataFrame:
    """The province's own row: the hull of its cities, 1 km around."""
    frame = pd.concat(cities, ignore_index=True)
    hull = shapely.convex_hull(shapely.union_all(frame.loc[frame["level"] == 2, "geom"].to_numpy()))
    return pd.DataFrame(
        [
            {
                "code": PROVINCE[0],
                "parent_code": None,
                "level": 1,
                "name": PROVINCE[1],
                "name_en": PROVINCE[2],
                "geom": shapely.buffer(hull, 1000.0),
                "zone_srid": zone_srid((WEST + EAST) / 2),
            }
        ]
    )


def _is_geom(series: pd.Series) -> bool:
    return series.dtype == object and len(series) > 0 and isinstance(series.iloc[0], shapely.Geometry)


def write_divisions(conn: Connection, frame: pd.DataFrame) -> int:
    """Replace every division with ``frame``'s (boundaries as MultiPolygons in the store CRS)."""
    conn.execute(text("DELETE FROM division"))
    return _copy(conn, "division", frame.assign(geom=_multi(frame["geom"].to_numpy())), store_srid())


def _multi(values: np.ndarray) -> np.ndarray:
    return np.array([g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in values], dtype=object)


def load_province(cities: int, buildings: int, seed: int = 7, progress: Progress | None = None) -> dict[str, int]:
    """Generate the province city by city and write each as it comes (see :func:`write_province`)."""
    return write_province(province_cities(cities, buildings, seed), progress)


def write_province(cities: Iterable[CityPart], progress: Progress | None = None) -> dict[str, int]:
    """Write the province's cities as they come (as the schema's owner, in one transaction), replacing any
    previous city or province, then its own boundary around them; returns the rows written per table and
    the rows given a division code by ``core.divisions.assign`` (``assigned_<table>``: those the cities
    did not bring, e.g. enterprises known by their district's name)."""
    counts: dict[str, int] = dict.fromkeys(("division", *TABLES), 0)
    srid = store_srid()
    with owner_engine().begin() as conn:
        _clear(conn)
        conn.execute(text("DELETE FROM division"))
        restore = _set_aside_checks(conn, tuple(TABLES))
        written = []
        for city in cities:
            frame = city.divisions
            counts["division"] += _copy(conn, "division", frame.assign(geom=_multi(frame["geom"].to_numpy())), srid)
            written.append(frame[["code", "level", "geom"]])
            for table, rows in city.tables.items():
                counts[table] += _copy(conn, table, rows, srid)
            if progress:
                progress(1)
        province = province_division(written)
        counts["division"] += _copy(conn, "division", province.assign(geom=_multi(province["geom"].to_numpy())), srid)
        for statement in restore:
            conn.execute(text(statement))
        assigned = divisions.assign(conn, [t for t in TABLES if t in divisions.CODED])
        counts |= {f"assigned_{t}": n for t, n in assigned.items()}
    with owner_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in (*TABLES, "division"):
            conn.execute(text(f"ANALYZE {table}"))
    if progress:
        progress(1)
    return counts
