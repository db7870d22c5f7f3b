"""Multi-zone storage: what each way of storing a province across several 3-degree zones costs.

The same building-like rectangles (20 m × 15 m, random rotation) spread over Hubei (108°E–116°E,
29.5°N–32.5°N) are stored three ways, each with a GiST index:

- ``geographic``: CGCS2000 lon/lat (EPSG:4490); metric work by ST_Transform to each row's zone;
- ``one zone``: one projected CRS for the whole province (CGCS2000 3-degree zone at 114°E, EPSG:4547),
  which is what the store does today with a setting; metric work either as stored (distorted away from
  114°E) or by ST_Transform to each row's zone;
- ``per zone``: each row projected in its own zone (EPSG:4545/4546/4547), in list partitions by zone.

Timed: the total footprint area, the total perimeter ("length") and a within query (count in a 5 km
square given in CRS84, at 20 places), each the median of 3 runs; error of each area against the
ellipsoidal area (geography). Writes bench/province/ZONES.md.

    .venv/bin/python bench/province/zones.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pyproj
import shapely
from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

ZONES = {4545: 108, 4546: 111, 4547: 114, 4548: 117}
ONE_ZONE = 4547
ZONE_OF = "CASE WHEN lon < 109.5 THEN 4545 WHEN lon < 112.5 THEN 4546 WHEN lon < 115.5 THEN 4547 ELSE 4548 END"


def make_rows(n: int, seed: int = 5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rectangles as CRS84 polygons: (lon, lat, polygons)."""
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(108.0, 116.0, n), rng.uniform(29.5, 32.5, n)
    angle = rng.uniform(0, np.pi, n)
    corners = np.array([[-10, -7.5], [10, -7.5], [10, 7.5], [-10, 7.5], [-10, -7.5]], float)
    polys = np.empty(n, dtype=object)
    for zone, central in ZONES.items():
        mask = np.abs(lon - central) <= 1.5
        if not mask.any():
            continue
        fwd = pyproj.Transformer.from_crs(4490, zone, always_xy=True)
        back = pyproj.Transformer.from_crs(zone, 4490, always_xy=True)
        x, y = fwd.transform(lon[mask], lat[mask])
        c, s = np.cos(angle[mask]), np.sin(angle[mask])
        px = x[:, None] + corners[None, :, 0] * c[:, None] - corners[None, :, 1] * s[:, None]
        py = y[:, None] + corners[None, :, 0] * s[:, None] + corners[None, :, 1] * c[:, None]
        plon, plat = back.transform(px, py)
        polys[mask] = shapely.polygons(np.stack([plon, plat], -1))
    return lon, lat, polys


SETUP = """
DROP TABLE IF EXISTS zb_geo, zb_one, zb_part, zb_src CASCADE;
CREATE TABLE zb_src (id int, lon float8, lat float8, wkb bytea);
"""
BUILD = (
    f"""
CREATE TABLE zb_geo AS SELECT id, {ZONE_OF} AS zone,
  ST_GeomFromWKB(wkb, 4490)::geometry(Polygon, 4490) AS geom FROM zb_src;
CREATE TABLE zb_one AS SELECT id, {ZONE_OF} AS zone,
  ST_Transform(ST_GeomFromWKB(wkb, 4490), {ONE_ZONE})::geometry(Polygon, {ONE_ZONE}) AS geom FROM zb_src;
CREATE TABLE zb_part (id int, zone int, geom geometry(Polygon)) PARTITION BY LIST (zone);
"""
    + "".join(
        f"""CREATE TABLE zb_part_{z} PARTITION OF zb_part FOR VALUES IN ({z});
ALTER TABLE zb_part_{z} ADD CONSTRAINT srid CHECK (ST_SRID(geom) = {z});
INSERT INTO zb_part_{z} SELECT id, {z}, ST_Transform(ST_GeomFromWKB(wkb, 4490), {z}) FROM zb_src s
  WHERE {ZONE_OF.replace("lon", "s.lon")} = {z};
CREATE INDEX ON zb_part_{z} USING gist (geom);
"""
        for z in ZONES
    )
    + """
CREATE INDEX ON zb_geo USING gist (geom); CREATE INDEX ON zb_one USING gist (geom);
ANALYZE zb_geo; ANALYZE zb_one; ANALYZE zb_part;
"""
)

AREA = {
    "reference: geography (ellipsoidal)": "SELECT sum(ST_Area(geom::geography)) FROM zb_geo",
    "geographic + ST_Transform to the row's zone": "SELECT sum(ST_Area(ST_Transform(geom, zone))) FROM zb_geo",
    "one zone (114°E), as stored": "SELECT sum(ST_Area(geom)) FROM zb_one",
    "one zone + ST_Transform to the row's zone": "SELECT sum(ST_Area(ST_Transform(geom, zone))) FROM zb_one",
    "per-zone partitions, as stored": "SELECT sum(ST_Area(geom)) FROM zb_part",
}
LENGTH = {
    "reference: geography (ellipsoidal)": "SELECT sum(ST_Perimeter(geom::geography)) FROM zb_geo",
    "geographic + ST_Transform to the row's zone": "SELECT sum(ST_Perimeter(ST_Transform(geom, zone))) FROM zb_geo",
    "one zone (114°E), as stored": "SELECT sum(ST_Perimeter(geom)) FROM zb_one",
    "one zone + ST_Transform to the row's zone": "SELECT sum(ST_Perimeter(ST_Transform(geom, zone))) FROM zb_one",
    "per-zone partitions, as stored": "SELECT sum(ST_Perimeter(geom)) FROM zb_part",
}
WITHIN = {
    "geographic": "SELECT count(*) FROM zb_geo WHERE ST_Intersects(geom, ST_GeomFromWKB(:q, 4490))",
    "one zone": "SELECT count(*) FROM zb_one"
    f" WHERE ST_Intersects(geom, ST_Transform(ST_GeomFromWKB(:q, 4490), {ONE_ZONE}))",
    # the query area in each zone it may reach: every partition is asked with the area in its own CRS
    "per-zone partitions": " + ".join(
        f"(SELECT count(*) FROM zb_part_{z} WHERE ST_Intersects(geom, ST_Transform(ST_GeomFromWKB(:q, 4490), {z})))"
        for z in ZONES
    ).join(("SELECT ", "")),
}


def timed(conn, sql: str, params: dict | None = None, runs: int = 3) -> tuple[float, object]:
    times, value = [], None
    for _ in range(runs):
        started = time.perf_counter()
        value = conn.execute(text(sql), params or {}).scalar()
        times.append(time.perf_counter() - started)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    from bench.scratch import scratch_database
    from core.db import owner_engine

    lon, lat, polys = make_rows(args.rows)
    rng = np.random.default_rng(9)
    squares = []
    for qlon, qlat in zip(rng.uniform(108.5, 115.5, 20), rng.uniform(30.0, 32.0, 20), strict=True):
        half_lon, half_lat = 2500 / (111320 * np.cos(np.radians(qlat))), 2500 / 110574
        squares.append(shapely.box(qlon - half_lon, qlat - half_lat, qlon + half_lon, qlat + half_lat).wkb)
    with scratch_database("zones") as _, owner_engine().begin() as conn:
        conn.execute(text(SETUP))
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy("COPY zb_src (id, lon, lat, wkb) FROM STDIN") as copy:
            for i, (a, b, g) in enumerate(zip(lon, lat, shapely.to_wkb(polys), strict=True)):
                copy.write_row((i, float(a), float(b), g))
        conn.execute(text(BUILD))
        results: list[str] = []
        for title, queries in (("Area (sum of footprint areas)", AREA), ("Length (sum of perimeters)", LENGTH)):
            reference = None
            results += [f"### {title}", "", "| how | seconds | rows/s | error vs ellipsoid |", "|---|---:|---:|---:|"]
            for name, sql in queries.items():
                seconds, value = timed(conn, sql)
                reference = reference if reference is not None else float(value)
                error = (float(value) - reference) / reference
                results.append(f"| {name} | {seconds:.3f} | {args.rows / seconds:,.0f} | {error * 100:+.4f} % |")
            results.append("")
        results += [
            "### Within (count in a 5 km square, 20 places)",
            "",
            "| storage | ms per query (median) |",
            "|---|---:|",
        ]
        counts = {}
        for name, sql in WITHIN.items():
            per = []
            counts[name] = []
            for q in squares:
                seconds, value = timed(conn, sql, {"q": q}, runs=3)
                per.append(seconds)
                counts[name].append(int(value))
            results.append(f"| {name} | {statistics.median(per) * 1000:.2f} |")
        same = len({tuple(v) for v in counts.values()}) == 1
        results += ["", f"All three storages count the same rows in every square: {same}."]
    out = ROOT / "bench" / "province" / "ZONES.md"
    out.write_text(
        f"# Multi-zone storage: measured cost\n\n{args.rows:,} rectangles over 108°E–116°E, 29.5°N–32.5°N "
        f"(method: bench/province/zones.py docstring).\n\n" + "\n".join(results) + "\n"
    )
    print(out.read_text())


if __name__ == "__main__":
    main()
