"""`cim demo` end to end on a database of its own: the sample city, its BIM models on their parcels,
the tilesets, the API and the viewer, all served at once."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import ifcopenshell
import ifcopenshell.util.element
import pytest
from pyproj import Transformer
from sqlalchemy import create_engine, text

from spatial_api.local_server import answers, await_ready, free_port, stop
from tests.conftest import ROOT, create_database, drop_database

BUILDINGS = 300


@pytest.fixture(scope="module")
def demo(server_url: str, tmp_path_factory: pytest.TempPathFactory):
    """`cim demo --buildings 300` running against a fresh database; yields (base URL, engine, data dir)."""
    from core import migrate

    name = f"cim_test_demo_{uuid.uuid4().hex[:8]}"
    url = create_database(server_url, name)
    engine = create_engine(url)
    migrate.upgrade(engine)
    data_dir = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = data_dir / "demo.log"
    env = {**os.environ, "DATABASE_URL": url, "CIM_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT)}
    cim = Path(sys.executable).parent / "cim"
    process = subprocess.Popen(
        [str(cim), "demo", "--buildings", str(BUILDINGS), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await_ready(process, answers(f"{base}/api/v1/health"), 300, log.read_text)
        yield base, engine, data_dir
    finally:
        stop(process)
        engine.dispose()
        drop_database(server_url, name)


def test_demo_serves_the_city_the_viewer_and_the_docs(demo):
    base, engine, _ = demo
    items = httpx.get(f"{base}/api/v1/collections/buildings/items?limit=1").json()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM building")).scalar_one() == BUILDINGS
        first = conn.execute(text("SELECT min(code) FROM building")).scalar_one()
        pipes = conn.execute(text("SELECT count(*) FROM pipeline")).scalar_one()
    assert [f["id"] for f in items["features"]] == [first] and pipes > 0
    assert "cesium" in httpx.get(f"{base}/").text.lower()
    assert httpx.get(f"{base}/docs").status_code == 200
    for layer in ("buildings", "pipelines", "pipe_nodes", "tunnel_compartments", "bim_elements"):
        tileset = httpx.get(f"{base}/api/v1/tiles/{layer}/tileset.json")
        assert tileset.status_code == 200, layer
        assert tileset.json()["asset"]["version"] == "1.1"


def test_demo_bim_models_stand_on_their_parcels_where_their_map_conversion_says(demo):
    _, engine, data_dir = demo
    with engine.connect() as conn:
        models = conn.execute(
            text(
                """SELECT m.project_code, v.georef, v.element_count,
                          bool_and(ST_Covers(ST_Buffer(pa.geom, 0.01), e.footprint)) AS inside
                   FROM bim_model m JOIN bim_model_version v ON v.model_id = m.id AND v.status = 'published'
                   JOIN project pr ON pr.code = m.project_code JOIN parcel pa ON pa.code = pr.parcel_code
                   JOIN bim_element e ON e.version_id = v.id
                   GROUP BY m.project_code, v.georef, v.element_count ORDER BY m.project_code"""
            )
        ).all()
    assert len(models) >= 2, "the demo publishes its sample models"
    to_lonlat = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)
    for project_code, georef, element_count, inside in models:
        assert inside, f"{project_code}: a model element lies outside its parcel"
        assert element_count > 20
        ifc = ifcopenshell.open(str(data_dir / "sample" / "ifc" / f"{project_code}.ifc"))
        if ifc.schema == "IFC2X3":
            site = ifc.by_type("IfcSite")[0]
            pset = ifcopenshell.util.element.get_pset(site, "ePSet_MapConversion")
            east, north = pset["Eastings"], pset["Northings"]
        else:
            conversion = ifc.by_type("IfcMapConversion")[0]
            east, north = conversion.Eastings, conversion.Northings
        lon, lat = to_lonlat.transform(east, north)
        got_lon, got_lat, _ = georef["origin_lonlat_h"]
        metres = math.hypot((got_lon - lon) * 111_320 * math.cos(math.radians(lat)), (got_lat - lat) * 110_574)
        assert metres < 0.01, f"{project_code}: origin {metres:.3f} m from its MapConversion"
