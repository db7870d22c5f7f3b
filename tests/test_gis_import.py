"""`cim gis import`: the Kentucky water network acceptance, census mappings in GeoPackage and Shapefile, CRS
handling, rejected rows, one transaction."""

from __future__ import annotations

import json
import subprocess

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon
from sqlalchemy import text
from typer.testing import CliRunner

from core.errors import UserError
from spatial_api.cli import _register_groups, app
from tests.fixtures_gis import CIM

X0, Y0, PIXEL = 500_000.0, 3_520_000.0, 10.0  # store CRS EPSG:4549


def plane(x, y):
    return 5.0 + 0.002 * (x - X0) - 0.001 * (Y0 - y)


@pytest.fixture(scope="module")
def plane_dem(gis_database, tmp_path_factory):
    from gis.dem import import_dem
    from tests.fixtures_gis import write_geotiff

    cx = X0 + (np.arange(200) + 0.5) * PIXEL
    cy = Y0 - (np.arange(200) + 0.5) * PIXEL
    path = write_geotiff(
        tmp_path_factory.mktemp("dem") / "plane.tif", plane(cx[None, :], cy[:, None]), (X0, Y0), PIXEL, "EPSG:4549"
    )
    import_dem(path)
    return gis_database


def cim(*args: str) -> dict:
    _register_groups()
    result = CliRunner().invoke(app, [*map(str, args), "--json"], catch_exceptions=True)
    if result.exception:
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.output.strip().splitlines()[-1])


def run_cim(env: dict, *args: str) -> dict:
    done = subprocess.run([str(CIM), *map(str, args), "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ky4_water_network(utm16_database, shared_datasets):
    """1,156 pipes in EPSG:3547 (US survey feet) land in metres; the graph matches the file's node names."""
    env, folder = utm16_database, shared_datasets / "water_network"
    dem = run_cim(env, "gis", "import-dem", folder / "ky4_elevation.tif")
    assert dem["source_crs"] == "EPSG:3547" and dem["crs"] == "EPSG:32616"
    for name, kind in (("junctions", "junction"), ("tanks", "tank"), ("reservoirs", "reservoir")):
        args = ("--layer", "pipe_nodes", "--kind", kind, "--utility", "water", "--mapping", "wntr")
        nodes = run_cim(env, "gis", "import", folder / f"ky4_{name}.geojson", *args)
        assert nodes["rejected"] == 0
    pipes = run_cim(
        env, "gis", "import", folder / "ky4_pipes.geojson", "--layer", "pipelines", "--utility", "water",
        "--mapping", "wntr",
    )  # fmt: skip
    assert pipes["read"] == 1156 and pipes["written"] == 1156 and pipes["rejected"] == 0

    raw = json.loads((folder / "ky4_pipes.geojson").read_text())["features"]
    nominal = {f["properties"]["name"]: f["properties"]["length"] for f in raw}
    from sqlalchemy import create_engine

    engine = create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, from_node, to_node, ST_Length(geom), ST_3DLength(geom), ST_SRID(geom) FROM pipeline")
        ).all()
        vertex = conn.execute(
            text("SELECT ST_X(ST_StartPoint(geom)), ST_Y(ST_StartPoint(geom)), ST_Z(ST_StartPoint(geom)) "
                 "FROM pipeline WHERE id = 'P-1'")
        ).one()  # fmt: skip
        dem_at_vertex = conn.execute(
            text("SELECT ST_Value(rast, 1, ST_SetSRID(ST_Point(:x, :y), 32616), resample => 'bilinear') FROM dem_tile "
                 "WHERE ST_Intersects(rast, ST_SetSRID(ST_Point(:x, :y), 32616))"),
            {"x": vertex[0], "y": vertex[1]},
        ).scalar_one()  # fmt: skip
    engine.dispose()
    assert len(rows) == 1156 and {r[5] for r in rows} == {32616}
    # Lengths in metres against the file's nominal metres: the 3D axis (it follows the terrain at a constant
    # cover, the pipe's physical length) and the plan length both agree within 1% for >= 95% of pipes.
    for column in (3, 4):
        ratio = np.array([r[column] / nominal[r[0]] for r in rows])
        assert (np.abs(ratio - 1) <= 0.01).mean() >= 0.95
    # Every pipe end is the node the file names, so the graphs are the same.
    declared = {
        f["properties"]["name"]: (f["properties"]["start_node_name"], f["properties"]["end_node_name"]) for f in raw
    }
    assert {r[0]: (r[1], r[2]) for r in rows} == declared
    stored = nx.Graph((r[1], r[2]) for r in rows)
    expected = nx.Graph(declared.values())
    components = {frozenset(c) for c in nx.connected_components(expected)}
    assert {frozenset(c) for c in nx.connected_components(stored)} == components
    assert pipes["components"] == len(components)
    # P-1 starts at J-1: pyproj EPSG:3547 -> 32616, Z = ground - 1.0 m default cover - radius (0.1524 m pipe)
    x, y = Transformer.from_crs("EPSG:3547", "EPSG:32616", always_xy=True).transform(4971350.0, 3905604.0)
    assert vertex[0] == pytest.approx(x, abs=1e-3) and vertex[1] == pytest.approx(y, abs=1e-3)
    assert vertex[2] == pytest.approx(dem_at_vertex - 1.0 - 0.0762, abs=0.02)
    assert dem_at_vertex == pytest.approx(188.06, abs=1.0)  # gdallocationinfo on the source file: metres


def census_pipes() -> gpd.GeoDataFrame:
    rows = [
        ("GP-1", "JS", 300, "球墨铸铁", 1.2, None, None, "市自来水公司",
         [(X0 + 100, Y0 - 100), (X0 + 200, Y0 - 100), (X0 + 200, Y0 - 200)]),
        ("GP-2", "燃气", 200, "PE", None, 1.0, 2.0, "港华燃气", [(X0 + 300, Y0 - 300), (X0 + 400, Y0 - 300)]),
        ("GP-3", "XX", 100, "PE", 1.0, None, None, None, [(X0 + 500, Y0 - 500), (X0 + 600, Y0 - 500)]),
        (None, "JS", 100, "PE", 1.0, None, None, None, [(X0 + 700, Y0 - 700), (X0 + 800, Y0 - 700)]),
        ("GP-5", "JS", 150, "钢", 1.0, None, None, None, [(X0 + 200.3, Y0 - 200.2), (X0 + 300, Y0 - 200)]),
    ]  # fmt: skip
    columns = ["管线编号", "管线类别", "管径", "材质", "埋深", "起点埋深", "终点埋深", "权属单位"]
    return gpd.GeoDataFrame(
        [dict(zip(columns, r[:8], strict=True)) for r in rows],
        geometry=[LineString(r[8]) for r in rows],
        crs="EPSG:4549",
    )


def test_census_geopackage_round_trip(plane_dem, tmp_path):
    path = tmp_path / "census.gpkg"
    census_pipes().to_file(path, driver="GPKG")
    report = cim("gis", "import", path, "--layer", "pipelines", "--mapping", "census")
    assert (report["read"], report["written"], report["rejected"]) == (5, 3, 2)
    assert report["reasons"] == {"unknown utility code 'XX'": 1, "missing id": 1}
    assert (report["components"], report["dangling_ends"], report["unconnected_pipes"]) == (2, 4, 1)
    with plane_dem.connect() as conn:
        rows = {
            r[0]: r[1:]
            for r in conn.execute(
                text("SELECT id, utility, diameter_mm, material, owner, depth_m, from_node, to_node, "
                     "ST_AsText(geom) FROM pipeline")
            )
        }  # fmt: skip
        issues = conn.execute(text("SELECT feature_id, problem FROM network_issue WHERE layer = 'pipelines'")).all()
    assert rows["GP-1"][:5] == ("water", 300.0, "球墨铸铁", "市自来水公司", 1.2)
    assert rows["GP-2"][0] == "gas" and rows["GP-2"][4] == pytest.approx(1.5)
    assert rows["GP-5"][5] == rows["GP-1"][6]  # GP-5 starts 0.36 m from GP-1's end: one node
    for pid, cover, radius in (("GP-1", (1.2, 1.2), 0.15), ("GP-2", (1.0, 2.0), 0.1)):
        coords = shapely.get_coordinates(shapely.from_wkt(rows[pid][7]), include_z=True)
        t = np.linspace(0, 1, len(coords)) if pid == "GP-2" else np.zeros(len(coords))
        expected = plane(coords[:, 0], coords[:, 1]) - (cover[0] + (cover[1] - cover[0]) * t) - radius
        np.testing.assert_allclose(coords[:, 2], expected, atol=1e-3)
    assert ("GP-3", "rejected: unknown utility code 'XX'") in issues
    assert ("GP-2", "pipe connects to no other pipe") in issues


def test_depth_from_invert_elevations_against_the_dem(plane_dem, tmp_path):
    """A sewer surveyed by its invert (管底高程) at each end: the axis runs from invert + radius at
    the start to invert + radius at the end, and the stored cover is the DEM ground minus the pipe top."""
    start, end = (X0 + 1000, Y0 - 1000), (X0 + 1080, Y0 - 1000)
    frame = gpd.GeoDataFrame(
        [{"管线编号": "WS-1", "管线类别": "WS", "管径": 400, "起点管底高程": 2.5, "终点管底高程": 2.1}],
        geometry=[LineString([start, end])],
        crs="EPSG:4549",
    )
    path = tmp_path / "sewer.gpkg"
    frame.to_file(path, driver="GPKG")
    report = cim("gis", "import", path, "--layer", "pipelines", "--mapping", "census")
    assert (report["written"], report["rejected"]) == (1, 0)
    with plane_dem.connect() as conn:
        utility, depth, wkt = conn.execute(
            text("SELECT utility, depth_m, ST_AsText(geom) FROM pipeline WHERE id = 'WS-1'")
        ).one()
    coords = shapely.get_coordinates(shapely.from_wkt(wkt), include_z=True)
    assert utility == "sewer"
    np.testing.assert_allclose(coords[:, 2], [2.5 + 0.2, 2.1 + 0.2], atol=1e-6)
    ground = plane(np.array([start[0], end[0]]), np.array([start[1], end[1]]))
    assert depth == pytest.approx(float(np.mean(ground - np.array([2.5, 2.1]) - 0.4)), abs=1e-3)


def test_census_shapefile_in_zone_prefixed_gk_with_invalid_polygons(plane_dem, tmp_path):
    """EPSG:4528 (CGCS2000 GK zone 40, easting with the 40 zone prefix) lands where pyproj puts it."""
    offset = 40_000_000

    def polygon(*corners: tuple[float, float]) -> Polygon:
        return Polygon([(X0 + dx + offset, Y0 - dy) for dx, dy in corners])

    square = polygon((10, 10), (30, 10), (30, 30), (10, 30))
    bowtie = polygon((50, 50), (70, 70), (70, 50), (50, 70))
    spike = polygon((100, 100), (120, 100), (120, 110), (130, 110), (120, 110), (120, 120), (100, 120))
    frame = gpd.GeoDataFrame(
        {"编号": ["B-1", "B-2", "B-3"], "高度": [24.0, 9.0, 12.0], "层数": [8, 3, 4], "用途": ["住宅", "商业", "住宅"]},
        geometry=[square, bowtie, spike],
        crs="EPSG:4528",
    )  # fmt: skip
    path = tmp_path / "buildings.shp"
    frame.to_file(path, encoding="utf-8")
    report = cim("gis", "import", path, "--layer", "buildings", "--mapping", "census")
    assert report["source_crs"] == "EPSG:4528"
    assert (report["written"], report["rejected"]) == (2, 1)
    assert list(report["reasons"]) == ["invalid polygon (Self-intersection): repair gives 2 polygons"]
    assert report["warnings"] == {"invalid polygon repaired (Ring Self-intersection)": 1}
    with plane_dem.connect() as conn:
        rows = {r[0]: r[1:] for r in conn.execute(text(
            "SELECT code, height_m, floors_above, use, ground_h_orthometric, ST_X(ST_Centroid(footprint)), "
            "ST_Y(ST_Centroid(footprint)), ST_Area(footprint) FROM building"))}  # fmt: skip
    to_store = Transformer.from_crs("EPSG:4528", "EPSG:4549", always_xy=True)
    cx, cy = to_store.transform(square.centroid.x, square.centroid.y)
    height, floors, use, ground, x, y, area = rows["B-1"]
    assert (height, floors, use) == (24.0, 8, "住宅")
    assert (x, y) == (pytest.approx(cx, abs=1e-3), pytest.approx(cy, abs=1e-3))
    assert area == pytest.approx(400.0, rel=1e-4)
    assert ground == pytest.approx(plane(cx, cy), abs=1e-3)
    assert rows["B-3"][6] == pytest.approx(400.0, rel=1e-4)  # the spike repaired away


def test_feet_crs_and_feet_attributes_become_metres(plane_dem, tmp_path):
    """A transverse Mercator in US survey feet at 120°E (same scale as the store): plan lengths in metres are
    the lengths in feet × 1200/3937; inches and feet attributes convert through the mapping."""
    ft_crs = "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=1640416.6667 +y_0=0 +ellps=GRS80 +units=us-ft +no_defs"
    to_ft = Transformer.from_crs("EPSG:4549", ft_crs, always_xy=True)
    a = to_ft.transform(X0 + 1000, Y0 - 1000)
    line = LineString([a, (a[0] + 300, a[1]), (a[0] + 300, a[1] + 400)])  # 700 ft
    frame = gpd.GeoDataFrame({"pid": ["F-1"], "dia_in": [12.0], "cover_ft": [4.0]}, geometry=[line])
    path = tmp_path / "feet.geojson"
    frame.to_file(path, driver="GeoJSON")
    mapping = tmp_path / "feet.json"
    fields = {"pid": "id", "dia_in": {"to": "diameter_mm", "unit": "in"}, "cover_ft": {"to": "depth_m", "unit": "ft"}}
    mapping.write_text(json.dumps({"pipelines": {"fields": fields}}))
    report = cim(
        "gis", "import", path, "--layer", "pipelines", "--utility", "gas", "--crs", ft_crs, "--mapping", mapping
    )
    assert report["written"] == 1
    with plane_dem.connect() as conn:
        length, diameter, depth = conn.execute(
            text("SELECT ST_Length(geom), diameter_mm, depth_m FROM pipeline WHERE id = 'F-1'")
        ).one()
    assert length == pytest.approx(700 * 1200 / 3937, rel=1e-6)
    assert diameter == pytest.approx(304.8) and depth == pytest.approx(1.2192)


def test_zero_length_pipe_rejected_and_repeated_vertex_dropped(plane_dem, tmp_path):
    p = (X0 + 1500, Y0 - 1500)
    frame = gpd.GeoDataFrame(
        {"id": ["Z-1", "Z-2"]},
        geometry=[LineString([p, p, p]), LineString([p, (p[0] + 50, p[1]), (p[0] + 50, p[1])])],
        crs="EPSG:4549",
    )
    path = tmp_path / "zero.geojson"
    frame.to_file(path, driver="GeoJSON")
    report = cim("gis", "import", path, "--layer", "pipelines", "--utility", "water")
    assert report["reasons"] == {"zero-length pipe": 1} and report["written"] == 1
    assert report["warnings"]["repeated vertex removed"] == 1
    with plane_dem.connect() as conn:
        assert conn.execute(text("SELECT ST_NPoints(geom) FROM pipeline WHERE id = 'Z-2'")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM pipeline WHERE id = 'Z-1'")).scalar_one() == 0


def test_file_without_crs_is_a_clear_error(plane_dem, tmp_path):
    frame = gpd.GeoDataFrame({"id": ["N-1"]}, geometry=[LineString([(X0, Y0 - 5), (X0 + 5, Y0 - 5)])])
    path = tmp_path / "nocrs.shp"
    frame.to_file(path)
    with pytest.raises(UserError, match="says nothing about its CRS: pass --crs"):
        cim("gis", "import", path, "--layer", "pipelines", "--utility", "water")
    done = subprocess.run(
        [str(CIM), "gis", "import", str(path), "--layer", "pipelines"], capture_output=True, text=True
    )
    assert done.returncode == 2 and done.stderr.startswith("error: nocrs.shp says nothing about its CRS")
    assert (
        cim("gis", "import", path, "--layer", "pipelines", "--utility", "water", "--crs", "EPSG:4549")["written"] == 1
    )


def test_failed_import_leaves_nothing(plane_dem, tmp_path, monkeypatch):
    import gis.importers

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    path = tmp_path / "census.gpkg"
    frame = census_pipes()
    frame["管线编号"] = frame["管线编号"].map(lambda v: f"T{v}" if v else v)
    frame.to_file(path, driver="GPKG")
    with plane_dem.connect() as conn:
        before = conn.execute(text("SELECT (SELECT count(*) FROM pipeline), (SELECT count(*) FROM pipe_node)")).one()
    monkeypatch.setattr(gis.importers, "record_issues", fail)  # after pipes and nodes were written
    with pytest.raises(RuntimeError, match="disk full"):
        cim("gis", "import", path, "--layer", "pipelines", "--mapping", "census")
    with plane_dem.connect() as conn:
        after = conn.execute(text("SELECT (SELECT count(*) FROM pipeline), (SELECT count(*) FROM pipe_node)")).one()
    assert after == before
