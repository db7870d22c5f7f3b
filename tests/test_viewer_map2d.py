"""The viewer's 2D map in Debian's headless Chromium: the switch loads MapLibre only then, the map
reads the vector tiles through their TileJSON, the buildings it draws are those of the view (ids
promoted from the tiles, checked against SQL and shapely), and the legend is the registry's."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box
from sqlalchemy import text

from core.registry import registry
from tests.fixtures_viewer import E2E, ROOT
from tests.test_maps_2d import _expected_legend

TO_CRS84 = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)


@pytest.fixture
def hillshade_imagery(city_server, database) -> Iterator[dict]:
    """The demo's imagery (the sample DEM's hillshade) imported for this test, removed after it (the
    other viewer tests see a globe without imagery)."""
    from core.settings import get_settings
    from gis.imagery import hillshade, import_imagery
    from sample_models.load import dem_path

    layer = import_imagery(hillshade(dem_path(), get_settings().data_dir / "sample" / "hillshade.tif"), "hillshade")
    yield layer
    with database.begin() as conn:
        conn.execute(text("DELETE FROM imagery_layer WHERE name = 'hillshade'"))


def test_switch_to_2d_draws_the_vector_tiles_with_the_registrys_legend(city_server, hillshade_imagery, rows, artifacts):
    footprints = {
        r["code"]: shapely.transform(
            r["wkb_g"], lambda x, y: TO_CRS84.transform(x.tolist(), y.tolist()), interleaved=False
        )
        for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building")
    }
    centre = shapely.union_all(list(footprints.values())).centroid
    spec = {"url": city_server, "artifacts": str(artifacts), "center": [centre.x, centre.y], "zoom": 16.5}
    done = subprocess.run(
        ["node", str(E2E / "map2d.mjs"), json.dumps(spec)], cwd=ROOT, capture_output=True, text=True, timeout=400
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert "error" not in result, (result["error"], result["bad_responses"], result["console_errors"])
    assert result["outside"] == [] and result["bad_after_switch"] == [] and result["errors_after_switch"] == []
    # Nothing of the 2D map loads before the switch; after it, MapLibre, the style, TileJSON, tiles.
    assert result["before_switch"] == []
    after = result["after_switch"]
    assert any("/vendor/maplibre-gl/maplibre-gl.mjs" in u for u in after) and any(
        u.endswith("/api/v1/maps/style.json") for u in after
    )
    drawn = {la.name for la in registry().mvt() if la.style or la.draped}
    assert {u.split("/mvt/")[1].split("/")[0] for u in after if u.endswith("/tilejson.json")} >= drawn
    assert any("/api/v1/mvt/buildings/" in u and u.endswith(".pbf") for u in after)
    assert any("/api/v1/maps/fonts/" in u for u in after)  # labels drawn with the server's glyphs
    # The imagery: on the globe after the first view, under the vector layers in 2D.
    assert (
        result["imagery_3d"] == ["hillshade"]
        and result["imagery_3d_layers"] == ["/api/v1/imagery/hillshade/{z}/{x}/{y}.png"]
        and result["imagery_3d_tiles"] > 0
    )
    assert result["rendered"]["imagery"] == ["hillshade"] and result["rendered"]["raster_layers"] == [
        "imagery-hillshade"
    ]
    assert result["imagery_2d_tiles"] > 0
    assert result["button_after"] == "3D" and result["globe_hidden"] and result["back_to_3d"]
    # The buildings drawn: those in view (shapely on the SQL footprints), by the ids the tiles carry.
    rendered = result["rendered"]
    assert abs(rendered["zoom"] - 16.5) < 1e-6
    view = box(*rendered["bounds"])
    w, s, e, n = rendered["bounds"]
    shrunk = box(w + (e - w) * 0.02, s + (n - s) * 0.02, e - (e - w) * 0.02, n - (n - s) * 0.02)
    inside = {k for k, g in footprints.items() if g.intersects(shrunk)}
    touching = {k for k, g in footprints.items() if g.intersects(view.buffer((e - w) * 0.05))}
    got = set(rendered["buildings"])
    assert inside and inside <= got <= touching, (len(inside), len(got), len(touching))
    assert rendered["roads"], "roads in view"
    # The legend: every layer drawn, its colours and labels from the registry's files (zh first).
    legend = result["legend"]
    legend_layers = [entry["layer"] for entry in legend]
    assert set(legend_layers) == drawn
    ground = {la.name for la in registry().mvt() if not la.underground and (la.style or la.draped)}
    assert ground <= set(legend_layers)
    for entry in legend:
        layer = registry().layer(entry["layer"])
        assert entry["title"] == layer.title.zh
        expected = _expected_legend(layer)
        assert [(i["value"], i["color"], i["label"]) for i in entry["items"]] == [
            (x["value"] or "", x["color"], x["label"]["zh"]) for x in expected
        ], layer.name
