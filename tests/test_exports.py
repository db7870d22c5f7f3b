"""Bulk export jobs: 100,000 rows to GeoPackage and XLSX with progress, read back with pyogrio and
openpyxl and compared with independent SQL; a search to CSV; a profile to XLSX; personal data,
roles and bad queries."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import unicodedata
from pathlib import Path

import openpyxl
import pyogrio
import pytest
import shapely

EXPORTS = "/api/v1/exports"
N_ROWS = 100_000
MARK = "export_test"
ROOT = Path(__file__).resolve().parents[1]


def registry_labels(layer: str) -> dict[str, dict]:
    """A layer's property labels and vocabularies as the registry file writes them (read here as JSON)."""
    layers = json.loads((ROOT / "core/registry/layers.json").read_text(encoding="utf-8"))["layers"]
    return {p["name"]: p for p in next(la for la in layers if la["name"] == layer)["properties"]}


def vocabulary_zh(name: str) -> dict[str, str]:
    entries = json.loads((ROOT / f"core/vocab/{name}.json").read_text(encoding="utf-8"))["entries"]
    return {e["code"]: e["label"]["zh"] for e in entries}


@pytest.fixture(scope="module")
def many_pipelines(database, sample_city):
    """100,000 pipes made with generate_series (status ``export_test``), removed afterwards."""
    with database.begin() as conn:
        conn.exec_driver_sql(
            f"""INSERT INTO pipeline (id, utility, material, diameter_mm, depth_m, depth_ref, install_year, status,
                                      geom)
                SELECT 'EXP' || lpad(i::text, 6, '0'), 'water', 'PE', 100 + mod(i, 400), 1.5 + mod(i, 7) * 0.1, 'top',
                       1980 + mod(i, 45), '{MARK}',
                       ST_SetSRID(ST_MakeLine(ST_MakePoint(x, y, 3), ST_MakePoint(x + 5 + mod(i, 3), y + 2, 3)), 4549)
                  FROM (SELECT i, 490000 + mod(i, 400) * 7.0 AS x, 3518000 + (i / 400) * 3.0 AS y
                          FROM generate_series(1, {N_ROWS}) AS i) AS s"""
        )
    yield
    with database.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM pipeline WHERE status = '{MARK}'")


def run_export(
    client, headers, query: dict, fmt: str, timeout_s: float = 120, heading: str = "zh"
) -> tuple[dict, list[float], bytes]:
    """Submit, poll until done (recording the percents seen), download."""
    response = client.post(EXPORTS, json={"query": query, "format": fmt, "headers": heading}, headers=headers)
    assert response.status_code == 202, response.text
    job, seen = response.json(), []
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"export still {job['status']} at {job['percent']} %"
        time.sleep(0.3)  # the worker shares this process: polling often would slow it
        job = client.get(f"{EXPORTS}/{job['id']}", headers=headers).json()
        seen.append(job["percent"])
    assert job["status"] == "succeeded", job
    file = client.get(job["file"], headers=headers)
    assert file.status_code == 200
    return job, seen, file.content


def expected_pipes(rows) -> list[dict]:
    return rows(
        f"""SELECT id, diameter_mm, install_year, ST_AsBinary(ST_Transform(ST_Force2D(geom), 4326)) AS wkb_g
              FROM pipeline WHERE status = '{MARK}' ORDER BY id"""
    )


def test_100k_rows_to_geopackage(client, rows, role_headers, many_pipelines, tmp_path: Path) -> None:
    query = {"source": "collection", "collection": "pipelines", "filters": {"status": MARK}}
    job, seen, content = run_export(client, role_headers["planner"], query, "gpkg")
    assert job["rows"] == N_ROWS and not job["personal"] and not job["requires_approval"]
    assert any(0 < p < 100 for p in seen) and seen[-1] == 100
    path = tmp_path / "pipes.gpkg"
    path.write_bytes(content)
    frame = pyogrio.read_dataframe(path)
    expected = expected_pipes(rows)
    zh = {name: p["label"]["zh"] for name, p in registry_labels("pipelines").items()}
    utilities = vocabulary_zh("utilities")
    assert frame[zh["id"]].tolist() == [r["id"] for r in expected]
    assert frame[zh["diameter_mm"]].tolist() == [r["diameter_mm"] for r in expected]
    assert frame[zh["install_year"]].tolist() == [r["install_year"] for r in expected]
    assert set(frame[zh["utility"]]) == {utilities["water"]}  # the code as its Chinese label
    got = shapely.get_coordinates(frame.geometry.values)
    want = shapely.get_coordinates([r["wkb_g"] for r in expected])
    assert got.shape == want.shape and abs(got - want).max() < 1e-9


def test_100k_rows_to_xlsx(client, rows, role_headers, many_pipelines, tmp_path: Path) -> None:
    properties = ["diameter_mm", "install_year"]
    query = {"source": "collection", "collection": "pipelines", "filters": {"status": MARK}, "properties": properties}
    job, seen, content = run_export(client, role_headers["engineer"], query, "xlsx")
    assert job["rows"] == N_ROWS and any(0 < p < 100 for p in seen)
    path = tmp_path / "pipes.xlsx"
    path.write_bytes(content)
    frame = pyogrio.read_dataframe(path, read_geometry=False)  # GDAL's XLSX driver: 100k rows in seconds
    zh = {name: p["label"]["zh"] for name, p in registry_labels("pipelines").items()}
    assert frame.columns.tolist() == [zh["id"], *(zh[p] for p in properties), "几何（WKT）"]
    expected = expected_pipes(rows)
    assert frame[zh["id"]].tolist() == [r["id"] for r in expected]
    assert frame[zh["diameter_mm"]].tolist() == [r["diameter_mm"] for r in expected]
    assert frame[zh["install_year"]].tolist() == [r["install_year"] for r in expected]
    got = shapely.from_wkt(frame["几何（WKT）"].to_numpy(dtype=object))
    want = [r["wkb_g"] for r in expected]
    assert shapely.equals_exact(got, want, tolerance=1e-7).all()


def _norm(value: str) -> str:
    return re.sub(r"街道|[省市区县镇]|[\s\W_]", "", unicodedata.normalize("NFKC", value).lower())


def test_search_to_csv(client, rows, role_headers, sample_city) -> None:
    q = "太湖路"
    query = {"source": "search", "q": q, "kind": ["building", "road"]}
    job, _, content = run_export(client, role_headers["planner"], query, "csv", heading="field")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    buildings = {r["code"] for r in rows("SELECT code, address FROM building") if _norm(q) in _norm(r["address"])}
    roads = {r["code"] for r in rows("SELECT code, name FROM road") if _norm(q) in _norm(r["name"])}
    assert {(r["kind"], r["id"]) for r in table} == {("building", c) for c in buildings} | {("road", c) for c in roads}
    assert job["rows"] == len(table) and all(r["wkt"].startswith("POLYGON") for r in table)


def test_profile_to_xlsx(client, rows, role_headers, sample_city) -> None:
    uscc = rows("SELECT enterprise_uscc FROM qualification ORDER BY 1 LIMIT 1")[0]["enterprise_uscc"]
    query = {"source": "profile", "kind": "enterprise", "id": uscc}
    job, _, content = run_export(client, role_headers["planner"], query, "xlsx", heading="zh+en")
    book = openpyxl.load_workbook(io.BytesIO(content))
    fields = json.loads((ROOT / "profiles/labels.json").read_text(encoding="utf-8"))["fields"]
    assert list(book["record"].iter_rows(max_row=2, values_only=True)) == [("字段", "值"), ("Field", "Value")]
    record = dict(book["record"].iter_rows(min_row=3, values_only=True))
    assert record[fields["uscc"]["zh"]] == uscc
    types = vocabulary_zh("enterprise_types")
    stored_type = rows("SELECT type FROM enterprise WHERE uscc = :u", u=uscc)[0]["type"]
    assert record[fields["type"]["zh"]] == types[stored_type]
    sheet = list(book["qualifications"].iter_rows(values_only=True))
    assert fields["certificate_no"]["en"] in sheet[1]  # the English names in the second row
    numbers = {r[sheet[0].index(fields["certificate_no"]["zh"])] for r in sheet[2:]}
    expected = rows("SELECT certificate_no FROM qualification WHERE enterprise_uscc = :u", u=uscc)
    assert numbers == {r["certificate_no"] for r in expected} and job["rows"] >= len(expected)


def test_personal_exports(client, rows, role_headers, sample_city) -> None:
    """A role that sees people masked may not export them; one that may is held for approval (the
    approval itself: tests/test_export_approval.py)."""
    name = rows("SELECT name FROM person ORDER BY id LIMIT 1")[0]["name"]
    query = {"source": "search", "q": name, "kind": ["person"]}
    refused = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=role_headers["planner"])
    assert refused.status_code == 403 and "personal data" in refused.json()["detail"]
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'export_personal'")[0]["n"]
    job = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=role_headers["admin"]).json()
    assert job["personal"] and job["requires_approval"] and job["status"] == "pending_approval"
    assert rows("SELECT count(*) AS n FROM audit_log WHERE action = 'export_personal'")[0]["n"] == before + 1


@pytest.mark.parametrize(
    ("query", "fmt", "status"),
    [
        ({"source": "collection", "collection": "planets"}, "csv", 404),
        ({"source": "collection", "collection": "buildings", "filters": {"colour": "red"}}, "csv", 400),
        ({"source": "teleport"}, "csv", 400),
        ({"source": "profile", "kind": "enterprise", "id": "x"}, "csv", 400),
    ],
)
def test_bad_exports(client, role_headers, sample_city, query, fmt, status) -> None:
    response = client.post(EXPORTS, json={"query": query, "format": fmt}, headers=role_headers["planner"])
    assert response.status_code == status, response.text


def test_public_may_not_export(client, sample_city) -> None:
    response = client.post(EXPORTS, json={"query": {"source": "search", "q": "路"}, "format": "csv"})
    assert response.status_code == 401


def test_within_polygon_to_csv(client, rows, role_headers, to_lonlat, to_store, sample_city) -> None:
    buildings = rows("SELECT code, ST_AsBinary(footprint) AS wkb_f FROM building ORDER BY code")
    area = to_lonlat(shapely.box(*shapely.GeometryCollection([b["wkb_f"] for b in buildings[:3]]).bounds))
    query = {"source": "within", "collection": "buildings", "geometry": shapely.geometry.mapping(area),
             "properties": ["address"]}  # fmt: skip
    job, _, content = run_export(client, role_headers["planner"], query, "csv", heading="field")
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    stored = to_store(area)
    expected = [b["code"] for b in buildings if b["wkb_f"].intersects(stored)]
    assert [r["id"] for r in table] == expected and len(expected) >= 3 and job["rows"] == len(expected)
    assert list(table[0]) == ["id", "address", "wkt"]


def test_chinese_headers_and_values_read_back(client, rows, role_headers, sample_city, tmp_path: Path) -> None:
    """Buildings to XLSX and CSV with Chinese names over English ones (zh+en): the names come from the
    registry, the use and safety grade as their vocabularies' Chinese labels, every row as stored."""
    properties = ["address", "use", "safety_grade", "floors_above"]
    query = {"source": "collection", "collection": "buildings", "properties": properties}
    labels = registry_labels("buildings")
    uses, grades = vocabulary_zh("building_uses"), vocabulary_zh("grades_safety")
    stored = rows("SELECT code, address, use, safety_grade, floors_above FROM building ORDER BY code")
    expected = [
        [r["code"], r["address"], uses.get(r["use"], r["use"]), grades.get(r["safety_grade"], r["safety_grade"]),
         r["floors_above"]]
        for r in stored
    ]  # fmt: skip
    names = ["code", *properties]
    zh, en = [labels[n]["label"]["zh"] for n in names], [labels[n]["label"]["en"] for n in names]
    _, _, content = run_export(client, role_headers["planner"], query, "xlsx", heading="zh+en")
    sheet = list(openpyxl.load_workbook(io.BytesIO(content), read_only=True).active.iter_rows(values_only=True))
    assert list(sheet[0]) == [*zh, "几何（WKT）"] and list(sheet[1]) == [*en, "Geometry (WKT)"]
    assert [list(r[:-1]) for r in sheet[2:]] == expected
    assert any(r[2] in uses.values() for r in sheet[2:])  # labels, not codes, really were written
    _, _, content = run_export(client, role_headers["planner"], query, "csv", heading="zh+en")
    table = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert table[0][:-1] == zh and table[1][:-1] == en
    as_text = [[str(v) if v is not None else "" for v in row] for row in expected]
    assert [r[:-1] for r in table[2:]] == as_text
    path = tmp_path / "buildings.gpkg"
    _, _, content = run_export(client, role_headers["planner"], query, "gpkg", heading="zh+en")
    path.write_bytes(content)
    frame = pyogrio.read_dataframe(path, read_geometry=False)
    assert frame.columns.tolist() == zh  # one name per column: the Chinese
    assert frame.astype(object).where(frame.notna(), None).values.tolist() == expected
