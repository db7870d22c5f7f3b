"""The 2D map's API: TileJSON per vector-tile layer (checked against the registry and raw SQL), tiles
generalised at low zooms (checked with shapely), the MapLibre style (MapLibre's own validator, the
legend against the vocabulary files), the label glyphs (decoded here), and GDAL reading the tiles
through the TileJSON (Debian's ogrinfo and pyogrio's GDAL)."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import mapbox_vector_tile
import numpy as np
import pyogrio
import pytest
import shapely
from PIL import ImageFont
from pyproj import Transformer
from shapely.geometry import box
from sqlalchemy import text

from core.registry import registry

API = "/api/v1"
ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "core" / "vocab"
TYPES = {
    "text": "String",
    "date": "String",
    "datetime": "String",
    "int": "Number",
    "float": "Number",
    "bool": "Boolean",
}
TO_3857 = Transformer.from_crs("EPSG:4549", "EPSG:3857", always_xy=True)
TO_CRS84 = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _tile_box(z: int, x: int, y: int) -> shapely.Polygon:
    half = 20037508.342789244
    size = 2 * half / 2**z
    return box(-half + x * size, half - (y + 1) * size, -half + (x + 1) * size, half - y * size)


def _merc(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda x, y: TO_3857.transform(x.tolist(), y.tolist()), interleaved=False)


@pytest.fixture(scope="module")
def footprints(sample_city, rows) -> dict[str, shapely.Geometry]:
    return {r["code"]: _merc(r["wkb_g"]) for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")}


def test_tilejson_of_every_vector_layer_follows_the_registry(client, sample_city):
    layers = registry().mvt()
    assert len(layers) >= 10
    for layer in layers:
        response = client.get(f"{API}/mvt/{layer.name}/tilejson.json")
        assert response.status_code == 200, (layer.name, response.text)
        doc = response.json()
        assert doc["tilejson"] == "3.0.0" and doc["scheme"] == "xyz"
        assert doc["tiles"] == [f"http://testserver{API}/mvt/{layer.name}/{{z}}/{{x}}/{{y}}.pbf"]
        assert 0 <= doc["minzoom"] < doc["maxzoom"] <= 22
        (vector_layer,) = doc["vector_layers"]
        assert vector_layer["id"] == layer.name
        props = {p.name: p for p in layer.properties}
        expected = {"id": TYPES[props[layer.id_column].type]}
        expected |= {name: TYPES[p.type] for name, p in props.items() if name != layer.id_column}
        assert vector_layer["fields"] == expected
        assert vector_layer["field_labels"]["id"] == props[layer.id_column].label.model_dump()
        assert all(
            vector_layer["field_labels"][n] == p.label.model_dump() for n, p in props.items() if n != layer.id_column
        )
        assert doc["promote_id"] == "id"
        west, south, east, north = doc["bounds"]
        lon, lat, zoom = doc["center"]
        assert west <= lon <= east and south <= lat <= north and doc["minzoom"] <= zoom <= doc["maxzoom"]


def test_tilejson_bounds_are_the_layers_extent(client, sample_city, rows):
    for layer, sql in (
        ("buildings", "SELECT ST_AsBinary(footprint) AS wkb_g FROM building"),
        ("pipelines", "SELECT ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline"),
    ):
        union = shapely.union_all([r["wkb_g"] for r in rows(sql)])
        lonlat = shapely.transform(union, lambda x, y: TO_CRS84.transform(x.tolist(), y.tolist()), interleaved=False)
        expected = lonlat.bounds
        got = client.get(f"{API}/mvt/{layer}/tilejson.json").json()["bounds"]
        # The server transforms the store-CRS box (densified): it holds the features, within ~1 m.
        assert all(abs(g - e) < 2e-5 for g, e in zip(got[:2], expected[:2], strict=True)) or (
            got[0] <= expected[0] and got[1] <= expected[1]
        )
        assert got[0] <= expected[0] + 1e-6 and got[1] <= expected[1] + 1e-6
        assert got[2] >= expected[2] - 1e-6 and got[3] >= expected[3] - 1e-6
        assert got[2] - got[0] < (expected[2] - expected[0]) * 1.02 + 1e-4


def test_tilejson_of_no_layer_is_404(client):
    response = client.get(f"{API}/mvt/nowhere/tilejson.json")
    assert response.status_code == 404 and "buildings" in response.json()["detail"]


def test_low_zoom_tiles_leave_out_polygons_under_two_pixels(client, footprints):
    """At z 13 a pixel (of a 256-pixel tile) is ~19 m: footprints under 2 square pixels are left out,
    the others are all there; at z 14 and above nothing is left out (the z 17 tests elsewhere)."""
    centre = shapely.union_all(list(footprints.values())).centroid
    lon, lat = Transformer.from_crs("EPSG:3857", "OGC:CRS84", always_xy=True).transform(centre.x, centre.y)
    for z in (13, 14):
        x, y = _tile_of(lon, lat, z)
        tile = _tile_box(z, x, y)
        pixel = (tile.bounds[2] - tile.bounds[0]) / 256
        decoded = mapbox_vector_tile.decode(client.get(f"{API}/mvt/buildings/{z}/{x}/{y}.pbf").content)
        got = {f["properties"]["id"] for f in decoded.get("buildings", {"features": []})["features"]}
        margin = (tile.bounds[2] - tile.bounds[0]) * 64 / 4096
        min_area = 2 * pixel * pixel if z < 14 else 0
        big = {k for k, g in footprints.items() if g.area >= min_area * 1.01}
        small = {k for k, g in footprints.items() if g.area < min_area * 0.99}
        inside = {k for k in big if footprints[k].intersects(tile)}
        near = {k for k, g in footprints.items() if g.intersects(tile.buffer(margin + 0.01, join_style="mitre"))}
        assert inside and inside <= got <= near, z
        if z < 14:
            assert small & near, "the sample city has footprints under 2 square pixels at z 13"
            assert not got & small
        else:
            assert got >= {k for k, g in footprints.items() if g.intersects(tile)}


def test_low_zoom_rings_are_simplified_to_a_pixel(client, sample_city, database):
    """A round parcel of 200 vertices (made here, removed after): in a z 11 tile it has the vertices of
    shapely's simplification to one pixel (76 m), in a z 14 tile about all of them."""
    code = "TEST-ROUND-PARCEL"
    with database.connect() as conn:
        lon, lat = conn.execute(
            text(
                "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Transform(ST_SetSRID(ST_Centroid(ST_Extent(geom)), 4549),"
                " 4326) c FROM parcel) p"
            )
        ).one()
    # Centred in its z 14 tile (so every tile asked for below holds all of it), 300 m across.
    centre = _tile_box(14, *_tile_of(lon, lat, 14)).centroid
    cx, cy = Transformer.from_crs("EPSG:3857", "EPSG:4549", always_xy=True).transform(centre.x, centre.y)
    lon, lat = TO_CRS84.transform(cx, cy)
    ring = [
        (cx + 300 * math.cos(2 * math.pi * i / 200), cy + 300 * math.sin(2 * math.pi * i / 200)) for i in range(200)
    ]
    circle = shapely.Polygon(ring)
    with database.begin() as conn:
        conn.execute(
            text("INSERT INTO parcel (code, land_use, geom) VALUES (:code, 'green', ST_GeomFromText(:wkt, 4549))"),
            {"code": code, "wkt": circle.wkt},
        )
    try:
        counts = {}
        for z in (11, 14):
            x, y = _tile_of(lon, lat, z)
            decoded = mapbox_vector_tile.decode(client.get(f"{API}/mvt/parcels/{z}/{x}/{y}.pbf").content)
            (feature,) = [f for f in decoded["parcels"]["features"] if f["properties"]["id"] == code]
            counts[z] = len(shapely.get_coordinates(shapely.geometry.shape(feature["geometry"])))
        pixel_11 = 40075016.685578488 / 2**11 / 256
        expected_11 = len(shapely.get_coordinates(shapely.simplify(_merc(circle), pixel_11, preserve_topology=True)))
        assert abs(counts[11] - expected_11) <= 2 and counts[11] < 30, (counts, expected_11)
        # From z 14 on no simplification: only vertices the tile's integer grid (0.6 m) makes collinear go.
        assert counts[14] >= 140 and counts[14] > 5 * counts[11], counts
    finally:
        with database.begin() as conn:
            conn.execute(text("DELETE FROM parcel WHERE code = :code"), {"code": code})


def _vocab(name: str) -> dict:
    return json.loads((VOCAB / f"{name}.json").read_text(encoding="utf-8"))


def _expected_legend(layer) -> list[dict]:
    """A layer's legend from the files: its style's single colour, or the coloured entries of its
    vocabulary and the colour of other values; a draped layer without a style: its drape fill."""
    raw_style = (
        json.loads((ROOT / "styles" / f"{layer.name}.json").read_text()).get("style")
        if (ROOT / "styles" / f"{layer.name}.json").is_file()
        else None
    )
    if raw_style is None:
        return [
            {"value": None, "label": layer.title.model_dump(), "color": layer.draped.fill, "alpha": layer.draped.alpha}
        ]
    alpha = raw_style.get("alpha", 1.0)
    if "color" in raw_style:
        return [{"value": None, "label": layer.title.model_dump(), "color": raw_style["color"], "alpha": alpha}]
    words = _vocab(raw_style["vocab"])
    items = [
        {"value": e["code"], "label": e["label"], "color": e["color"], "alpha": e.get("alpha", 1.0) * alpha}
        for e in words["entries"]
        if e.get("color")
    ]
    other = words.get("other") or {"label": {"zh": "其他", "en": "Other"}, "color": "#A0A0A0"}
    return [*items, {"value": None, "label": other["label"], "color": other["color"], "alpha": alpha}]


@pytest.fixture(scope="module")
def style(client) -> dict:
    response = client.get(f"{API}/maps/style.json")
    assert response.status_code == 200
    return response.json()


def test_style_passes_maplibres_validator(style, tmp_path):
    validator = ROOT / "node_modules" / "@maplibre" / "maplibre-gl-style-spec" / "dist" / "gl-style-validate.mjs"
    if not validator.is_file():
        pytest.skip("@maplibre/maplibre-gl-style-spec is not installed: run `make npm`")
    path = tmp_path / "style.json"
    path.write_text(json.dumps(style, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(["node", str(validator), str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr
    # The validator does catch a broken style (it is not a program that passes anything).
    broken = style | {"layers": [*style["layers"], {"id": "x", "type": "fill", "source": "nowhere"}]}
    path.write_text(json.dumps(broken), encoding="utf-8")
    failed = subprocess.run(["node", str(validator), str(path)], capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "nowhere" in failed.stdout + failed.stderr


def test_style_sources_are_the_layers_tilejson_with_promoted_ids(style):
    drawn = [la for la in registry().mvt() if la.style or la.draped]
    assert set(style["sources"]) == {la.name for la in drawn}
    for name, source in style["sources"].items():
        assert source == {
            "type": "vector",
            "url": f"http://testserver{API}/mvt/{name}/tilejson.json",
            "promoteId": "id",
        }
    assert style["glyphs"] == f"http://testserver{API}/maps/fonts/{{fontstack}}/{{range}}.pbf"
    drawn_layers = {la["source"] for la in style["layers"] if la["type"] in ("fill", "line", "circle")}
    assert drawn_layers == set(style["sources"])


def test_style_labels_roads_and_places_from_the_citys_layers(style):
    symbols = {(la["source"], la["layout"]["text-field"][1][1]) for la in style["layers"] if la["type"] == "symbol"}
    assert {("roads", "name"), ("projects", "name")} <= symbols
    road = next(la for la in style["layers"] if la["type"] == "symbol" and la["source"] == "roads")
    assert road["layout"]["symbol-placement"] == "line"


def test_style_legend_is_every_drawn_layers_from_the_files(style):
    legend = style["metadata"]["cim:legend"]
    drawn = {la.name: la for la in registry().mvt() if la.style or la.draped}
    assert [entry["layer"] for entry in legend] == [
        la.name for la in sorted((d for d in drawn.values() if d.draped), key=lambda d: d.draped.order)
    ] + [la.name for la in drawn.values() if not la.draped]
    for entry in legend:
        layer = drawn[entry["layer"]]
        assert entry["title"] == layer.title.model_dump() and entry["underground"] == layer.underground
        assert entry["items"] == _expected_legend(layer), layer.name
    ground = {la.name for la in registry().mvt() if not la.underground and (la.style or la.draped)}
    assert {"buildings", "parcels", "roads", "projects"} <= ground <= {e["layer"] for e in legend}


def _fields(message: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of a protobuf message: varints and length-delimited bytes."""
    out, i = [], 0
    while i < len(message):
        key, i = _varint(message, i)
        if key & 7 == 0:
            value, i = _varint(message, i)
            out.append((key >> 3, value))
        else:
            assert key & 7 == 2, key
            size, i = _varint(message, i)
            out.append((key >> 3, message[i : i + size]))
            i += size
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        value |= (byte & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if byte < 0x80:
            return value, i


def test_glyphs_are_signed_distance_fields_of_the_chinese_font(client):
    road = "路"
    start = ord(road) // 256 * 256
    response = client.get(f"{API}/maps/fonts/WenQuanYi Micro Hei/{start}-{start + 255}.pbf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    ((number, stack),) = _fields(response.content)
    assert number == 1
    stack_fields = _fields(stack)
    assert (1, b"WenQuanYi Micro Hei") in stack_fields and (2, f"{start}-{start + 255}".encode()) in stack_fields
    glyphs = {}
    for _, raw in (f for f in stack_fields if f[0] == 3):
        g = dict(_fields(raw))
        glyphs[g[1]] = g
    assert set(glyphs) == set(range(start, start + 256))
    g = glyphs[ord(road)]
    width, height, bitmap = g[3], g[4], g[2]
    assert len(bitmap) == (width + 6) * (height + 6)
    field = np.frombuffer(bitmap, dtype=np.uint8).reshape(height + 6, width + 6)
    ink = np.asarray(
        ImageFont.truetype("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 24).getmask(road), dtype=np.uint8
    )
    assert ink.size == width * height
    inside = field[3:-3, 3:-3].reshape(-1) >= 192
    covered = ink.reshape(-1) >= 128
    assert (inside == covered).mean() > 0.9  # the field's edge (192) is the glyph's outline
    assert field[0].max() < 192 and field[-1].max() < 192  # the border is outside


@pytest.mark.parametrize("bad", ["0-100", "7-262", "65536-65791", "a-b"])
def test_glyph_ranges_are_checked(client, bad):
    response = client.get(f"{API}/maps/fonts/any/{bad}.pbf")
    assert response.status_code == 400 and "range" in response.json()["detail"]


def _feature_count(stdout: str) -> int:
    return int(stdout.split("Feature Count: ")[1].split()[0])


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (Debian gdal-bin) is not installed")
def test_gdal_reads_a_tile_through_the_tilejson(ogc_server, footprints):
    """Debian's ogrinfo (GDAL's MVT driver) and pyogrio's GDAL open a z 17 tile with the TileJSON as
    its metadata: the layer, its fields typed from the TileJSON, the features of the tile."""
    tilejson = f"{ogc_server.base}{API}/mvt/buildings/tilejson.json"
    centre = shapely.union_all(list(footprints.values())).centroid
    lon, lat = Transformer.from_crs("EPSG:3857", "OGC:CRS84", always_xy=True).transform(centre.x, centre.y)
    x, y = _tile_of(lon, lat, 17)
    tile = _tile_box(17, x, y)
    inside = {k for k, g in footprints.items() if g.intersects(tile)}
    assert inside
    url = f"MVT:{ogc_server.base}{API}/mvt/buildings/17/{x}/{y}.pbf"
    mark = ogc_server.mark()
    done = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-so", "-oo", f"METADATA_FILE={tilejson}", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Layer name: buildings" in done.stdout
    assert any("/mvt/buildings/tilejson.json" in line for line in ogc_server.requests_since(mark))
    # The fields in the TileJSON's order and types (GDAL reads Number as Real, whatever the tile holds).
    listed = re.findall(r"^(\w+): (\w+) ", done.stdout, flags=re.M)
    gdal_types = {"String": "String", "Number": "Real", "Boolean": "Integer"}
    tilejson_fields = httpx.get(tilejson).json()["vector_layers"][0]["fields"]
    assert [(n, t) for n, t in listed if n in tilejson_fields] == [
        (n, gdal_types[t]) for n, t in tilejson_fields.items()
    ]
    assert _feature_count(done.stdout) >= len(inside)
    table = pyogrio.read_dataframe(url, layer="buildings", METADATA_FILE=tilejson)
    assert inside <= set(table["id"])
