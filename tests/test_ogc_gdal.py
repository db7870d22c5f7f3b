"""GDAL's OGC API Features driver (OAPIF) against a live server: Debian's ogrinfo (GDAL 3.6) and
pyogrio's bundled GDAL (3.12). The server's access log counts the requests GDAL makes; expected
answers from raw SQL."""

from __future__ import annotations

import re
import shutil
import subprocess
from urllib.parse import unquote

import pyogrio
import pyogrio.raw
import pytest
import shapely

from core.registry import registry

needs_ogrinfo = pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo (Debian gdal-bin) is not installed")


def _items_requests(lines: list[str], collection: str) -> list[str]:
    return [unquote(line) for line in lines if f"/collections/{collection}/items" in line]


def _ogrinfo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ogrinfo", "-ro", *args], capture_output=True, text=True, timeout=300)


@needs_ogrinfo
def test_ogrinfo_counts_with_one_request(ogc_server, rows):
    expected = rows("SELECT count(*) AS n FROM pipeline")[0]["n"]
    mark = ogc_server.mark()
    summary = _ogrinfo("-so", "-al", f"OAPIF:{ogc_server.base}/api/v1/collections/pipelines")
    assert summary.returncode == 0, summary.stderr
    assert f"Feature Count: {expected}" in summary.stdout
    assert expected > 100  # paging 10 at a time would take many requests
    assert len(_items_requests(ogc_server.requests_since(mark), "pipelines")) == 1


def test_pyogrio_counts_with_one_request(ogc_server, rows):
    expected = rows("SELECT count(*) AS n FROM building")[0]["n"]
    mark = ogc_server.mark()
    info = pyogrio.read_info(f"OAPIF:{ogc_server.base}/api/v1/collections/buildings", force_feature_count=True)
    assert info["features"] == expected
    assert len(_items_requests(ogc_server.requests_since(mark), "buildings")) == 1


@needs_ogrinfo
def test_every_collection_opens_empty_ones_too(empty_collection_server, sample_city, rows):
    server = empty_collection_server
    layers = server.registry.layers
    assert [layer.name for layer in layers] == [*registry().names(), server.empty]
    assert rows(f"SELECT count(*) AS n FROM {server.registry.layer(server.empty).from_clause}")[0]["n"] == 0
    for layer in layers:
        url = f"OAPIF:{server.base}/api/v1/collections/{layer.name}"
        opened = _ogrinfo("-so", "-al", url)
        assert opened.returncode == 0 and "Feature Count:" in opened.stdout, (layer.name, opened.stderr)
        assert pyogrio.read_info(url)["crs"] == "EPSG:4549", layer.name  # the storageCrs, read through Part 2
        if layer.name == server.empty:
            assert "Feature Count: 0" in opened.stdout, opened.stdout


def test_where_goes_to_the_server_as_a_filter(ogc_server, rows):
    expected = {r["id"] for r in rows("SELECT id FROM pipeline WHERE utility = 'gas' AND diameter_mm >= 200")}
    assert expected
    url = f"OAPIF:{ogc_server.base}/api/v1/collections/pipelines"
    mark = ogc_server.mark()
    _, _, geometries, fields = pyogrio.raw.read(url, where="utility = 'gas' AND diameter_mm >= 200", columns=["id"])
    assert set(fields[0]) == expected and len(geometries) == len(expected)
    requests = _items_requests(ogc_server.requests_since(mark), "pipelines")
    filtered = [r for r in requests if "filter=" in r]
    assert filtered and all("filter-lang=cql-text" in r for r in filtered)
    assert re.search(r"filter=\(utility = 'gas'\) AND \(diameter_mm >= 200\)", filtered[0])
    assert len(requests) <= 2  # the schema page and one filtered page: nothing read to filter client-side


@needs_ogrinfo
def test_ogrinfo_where_counts_on_the_server(ogc_server, rows):
    expected = rows("SELECT count(*) AS n FROM pipeline WHERE utility = 'water'")[0]["n"]
    mark = ogc_server.mark()
    summary = _ogrinfo(
        "-so", "-al", "-where", "utility = 'water'", f"OAPIF:{ogc_server.base}/api/v1/collections/pipelines"
    )
    assert summary.returncode == 0 and f"Feature Count: {expected}" in summary.stdout, summary.stderr
    requests = _items_requests(ogc_server.requests_since(mark), "pipelines")
    assert any("resultType=hits" in r and "filter=utility = 'water'" in r for r in requests), requests
    assert len(requests) == 2  # the schema page and the count


def test_gdal_reads_geometry_in_the_storage_crs_exactly(ogc_server, rows):
    stored = {
        r["code"]: r["wkb_g"]
        for r in rows("SELECT code, ST_AsBinary(footprint) AS wkb_g FROM building ORDER BY code LIMIT 30")
    }
    codes = ", ".join(f"'{c}'" for c in stored)
    url = f"OAPIF:{ogc_server.base}/api/v1/collections/buildings"
    meta, _, geometries, fields = pyogrio.raw.read(url, where=f"code IN ({codes})", columns=["code"])
    assert meta["crs"] == "EPSG:4549" and len(geometries) == len(stored)
    for code, wkb in zip(fields[0], geometries, strict=True):
        assert shapely.from_wkb(wkb).hausdorff_distance(stored[code]) < 0.001  # 1 mm, easting first again
