"""The records write API: roles, optimistic locking (ETag / If-Match), validation identical to the
importer, audit with before and after, changes visible at once in identify, history with as_of, and
file imports as jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import shapely
from shapely.geometry import box, mapping

from gis.importers import import_layer
from records.importer import import_file
from tests.conftest import ROOT
from tests.fixtures_bim import wait_for_job
from tests.fixtures_records import USCC_CHARS

API = "/api/v1"
LON, LAT = 120.7000, 31.3500
DEG = 0.0001


def _enterprise(codes, name: str = "无锡测试建设有限公司") -> dict:
    return {"uscc": codes.uscc(), "name": name, "type": "施工总承包", "legal_representative": "钱一"}


def test_create_read_update_with_if_match(client, codes, token_headers, sql):
    editor = token_headers("records")
    body = _enterprise(codes)
    created = client.post(f"{API}/records/enterprises", json=body, headers=editor)
    assert created.status_code == 201, created.text
    etag = created.headers["ETag"]
    assert created.json()["data"]["type"] == "builder"
    key = body["uscc"]
    read = client.get(f"{API}/records/enterprises/{key}")
    assert read.headers["ETag"] == etag and read.json()["data"]["name"] == body["name"]
    again = client.post(f"{API}/records/enterprises", json=body, headers=editor)
    assert again.status_code == 409

    missing = client.patch(f"{API}/records/enterprises/{key}", json={"name": "新名"}, headers=editor)
    assert missing.status_code == 428
    changed = client.patch(f"{API}/records/enterprises/{key}", json={"name": "新名"},
                           headers=editor | {"If-Match": etag})  # fmt: skip
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["name"] == "新名" and changed.headers["ETag"] != etag
    stale = client.patch(f"{API}/records/enterprises/{key}", json={"name": "再改"}, headers=editor | {"If-Match": etag})
    assert stale.status_code == 412
    assert sql("SELECT name FROM enterprise WHERE uscc = :u", u=key)[0]["name"] == "新名"


def test_a_create_the_database_refuses_is_a_400_and_writes_nothing(client, codes, token_headers, sql, owner_database):
    """A new record is COPYed into its table: a refusal there (a trigger standing in for a rule the spec
    does not know) answers as a refused statement does, 400 with a message, and the server keeps serving."""
    with owner_database.begin() as conn:
        conn.exec_driver_sql(
            """CREATE FUNCTION test_refuse_create() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN IF NEW.name = '拒绝' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$;
               CREATE TRIGGER test_refuse_create BEFORE INSERT ON enterprise
                 FOR EACH ROW EXECUTE FUNCTION test_refuse_create();"""
        )
    body = _enterprise(codes, "拒绝")
    try:
        refused = client.post(f"{API}/records/enterprises", json=body, headers=token_headers("records"))
    finally:
        with owner_database.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER test_refuse_create ON enterprise; DROP FUNCTION test_refuse_create();")
    assert refused.status_code == 400 and refused.headers["content-type"] == "application/problem+json", refused.text
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = :u", u=body["uscc"])[0]["n"] == 0
    fine = client.post(f"{API}/records/enterprises", json=_enterprise(codes), headers=token_headers("records"))
    assert fine.status_code == 201, fine.text


def test_roles_without_write_access_are_refused(client, codes, token_headers, sql):
    body = _enterprise(codes)
    planner = client.post(f"{API}/records/enterprises", json=body, headers=token_headers("planner"))
    assert planner.status_code == 403 and "records" in planner.json()["detail"]
    anonymous = client.post(f"{API}/records/enterprises", json=body)
    assert anonymous.status_code == 401
    engineer = client.post(f"{API}/records/enterprises", json=body, headers=token_headers("engineer"))
    assert engineer.status_code == 403, "engineers may change projects, not enterprises"
    assert sql("SELECT count(*) AS n FROM enterprise WHERE uscc = :u", u=body["uscc"])[0]["n"] == 0
    admin = client.post(f"{API}/records/enterprises", json=body, headers=token_headers("admin"))
    assert admin.status_code == 201


def test_validation_is_the_importers(client, codes, token_headers, write_csv):
    """The same bad USCC gets the same reasons through the API as through a file."""
    body = _enterprise(codes)
    right = body["uscc"][17]
    body["uscc"] = body["uscc"][:17] + next(c for c in USCC_CHARS if c != right)
    answer = client.post(f"{API}/records/enterprises", json=body, headers=token_headers("records"))
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    summary = import_file(write_csv("same.csv", list(body), [list(body.values())]), "enterprises")
    [rejection] = summary["rejections"]
    assert (error["reason_zh"], error["reason_en"]) == (rejection["reason_zh"], rejection["reason_en"])
    assert f"gives {right!r}" in error["reason_en"]


def test_each_write_leaves_an_audit_row_with_before_and_after(client, codes, token_headers, sql):
    editor = token_headers("records")
    body = _enterprise(codes)
    created = client.post(f"{API}/records/enterprises", json=body, headers=editor)
    key = body["uscc"]
    client.patch(f"{API}/records/enterprises/{key}", json={"legal_representative": "孙二"},
                 headers=editor | {"If-Match": created.headers["ETag"]})  # fmt: skip
    rows = sql("SELECT action, username, detail FROM audit_log WHERE object = :o ORDER BY id", o=f"enterprises/{key}")
    assert [r["action"] for r in rows] == ["records.create", "records.update"]
    assert rows[0]["username"] == "records-tester" and rows[0]["detail"]["before"] is None
    assert rows[1]["detail"]["before"]["legal_representative"] == "钱一"
    assert rows[1]["detail"]["after"]["legal_representative"] == "孙二"


def test_soft_delete_needs_a_reason_and_keeps_the_record(client, codes, token_headers, sql):
    editor = token_headers("records")
    body = _enterprise(codes)
    etag = client.post(f"{API}/records/enterprises", json=body, headers=editor).headers["ETag"]
    key = body["uscc"]
    no_reason = client.delete(f"{API}/records/enterprises/{key}", headers=editor | {"If-Match": etag})
    assert no_reason.status_code == 400
    gone = client.delete(f"{API}/records/enterprises/{key}", params={"reason": "吊销营业执照"},
                         headers=editor | {"If-Match": etag})  # fmt: skip
    assert gone.status_code == 204
    [row] = sql("SELECT deleted_at, deleted_reason FROM enterprise WHERE uscc = :u", u=key)
    assert row["deleted_at"] is not None and row["deleted_reason"] == "吊销营业执照"


def _import_building(folder, code: str, footprint: shapely.Polygon) -> dict:
    feature = {"type": "Feature", "properties": {"code": code}, "geometry": mapping(footprint)}
    path = folder / f"{code}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    return import_layer(str(path), "buildings")


@pytest.fixture(scope="module")
def site(codes, tmp_path_factory, write_csv) -> dict:
    """A building inside a project's site, both from files."""
    building = codes.code("FW")
    _import_building(
        tmp_path_factory.mktemp("api-site"), building, box(LON + DEG, LAT + DEG, LON + 3 * DEG, LAT + 3 * DEG)
    )
    project = codes.code("XM")
    import_file(write_csv("x.csv", ["项目编号", "项目名称", "项目类别", "项目阶段", "用地范围"],
                          [[project, "原项目名", "房建", "施工", box(LON, LAT, LON + 5 * DEG, LAT + 5 * DEG).wkt]]),
                "projects")  # fmt: skip
    return {"building": building, "project": project}


def test_a_change_shows_at_once_in_identify_and_as_of_gives_the_earlier_value(client, site, token_headers):
    editor = token_headers("records")
    url = f"{API}/records/projects/{site['project']}"
    identify = {"layer": "buildings", "id": site["building"]}
    assert client.get(f"{API}/query/identify", params=identify).json()["project"]["name"] == "原项目名"
    etag = client.get(url).headers["ETag"]
    between = datetime.now(UTC)
    changed = client.patch(url, json={"name": "新项目名", "stage": "验收"}, headers=editor | {"If-Match": etag})
    assert changed.status_code == 200, changed.text
    project = client.get(f"{API}/query/identify", params=identify).json()["project"]
    assert (project["name"], project["stage"]) == ("新项目名", "acceptance")
    before = client.get(url, params={"as_of": between.isoformat()})
    assert before.status_code == 200, before.text
    assert (before.json()["data"]["name"], before.json()["data"]["stage"]) == ("原项目名", "construction")
    assert client.get(url).json()["data"]["name"] == "新项目名"
    versions = client.get(f"{url}/versions").json()
    assert [v["data"]["name"] for v in versions] == ["原项目名", "新项目名"]
    assert versions[1]["changed_by"] == "records-tester" and versions[0]["valid_to"] == versions[1]["valid_from"]
    early = client.get(url, params={"as_of": "2000-01-01"})
    assert early.status_code == 404


def test_a_site_change_relinks_and_queues_the_tile_rebuild(client, codes, token_headers, sql, tmp_path):
    editor = token_headers("records")
    project = codes.code("XM")
    created = client.post(f"{API}/records/projects", json={"code": project, "name": "空地项目", "type": "房建",
                                                          "stage": "施工"}, headers=editor)  # fmt: skip
    assert created.status_code == 201, created.text
    before = sql("SELECT count(*) AS n FROM job WHERE kind = 'tiles.build'")[0]["n"]
    building = codes.code("FW")
    with_site = box(LON + 50 * DEG, LAT, LON + 55 * DEG, LAT + 5 * DEG)
    imported = _import_building(tmp_path, building, box(LON + 51 * DEG, LAT + DEG, LON + 52 * DEG, LAT + 2 * DEG))
    assert imported["linking"]["building_project"]["unlinked"]["outside_every_project"]["codes"] == [building]
    answer = client.patch(f"{API}/records/projects/{project}", json={"footprint": with_site.wkt},
                          headers=editor | {"If-Match": created.headers["ETag"]})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert sql("SELECT project_code FROM building WHERE code = :c", c=building)[0]["project_code"] == project
    assert sql("SELECT count(*) AS n FROM job WHERE kind = 'tiles.build'")[0]["n"] == before + 1
    [job] = sql("SELECT id, params FROM job WHERE kind = 'tiles.build' ORDER BY created_at DESC LIMIT 1")
    assert job["params"] == {"layer": "buildings"}
    wait_for_job(client, str(job["id"]), editor)  # the rebuild runs before the next tests touch the tiles


def test_a_file_uploaded_to_the_api_is_imported_by_a_job(client, codes, token_headers, sql):
    rows = [_enterprise(codes, f"上传测试{i}公司") for i in range(3)]
    header = "统一社会信用代码,企业名称,企业类型,法定代表人\n"
    data = (header + "".join(",".join(r.values()) + "\n" for r in rows)).encode("gb18030")
    files = {"file": ("企业.csv", data, "text/csv")}
    denied = client.post(f"{API}/records/enterprises/imports", files=files, headers=token_headers("planner"))
    assert denied.status_code == 403
    accepted = client.post(f"{API}/records/enterprises/imports", files=files, headers=token_headers("records"))
    assert accepted.status_code == 202, accepted.text
    job = wait_for_job(client, accepted.json()["job_id"], token_headers("records"))
    assert job["status"] == "succeeded", job
    assert (job["result"]["inserted"], job["result"]["rejected"], job["result"]["file"]) == (3, 0, "企业.csv")
    names = sql("SELECT name FROM enterprise WHERE uscc = ANY(:u) ORDER BY name", u=[r["uscc"] for r in rows])
    assert [n["name"] for n in names] == sorted(r["name"] for r in rows)


def test_an_upload_may_not_name_a_file_on_the_server_as_its_mapping(client, token_headers, sql):
    files = {"file": ("企业.csv", "统一社会信用代码\n".encode(), "text/csv")}
    jobs = sql("SELECT count(*) AS n FROM job WHERE kind = 'records.import'")[0]["n"]
    for name in ("/etc/passwd", "../mappings/siku", "nosuch"):
        answer = client.post(f"{API}/records/enterprises/imports", files=files, data={"mapping": name},
                             headers=token_headers("records"))  # fmt: skip
        assert answer.status_code == 400 and "siku" in answer.json()["detail"], answer.text
    assert sql("SELECT count(*) AS n FROM job WHERE kind = 'records.import'")[0]["n"] == jobs


def test_the_kinds_are_described_in_chinese_and_english(client):
    kinds = {k["kind"]: k for k in client.get(f"{API}/records").json()}
    declared = json.loads((ROOT / "records" / "kinds.json").read_text(encoding="utf-8"))
    assert set(kinds) == set(declared) and kinds["enterprises"]["label_zh"] == "企业"
    fields = {f["name"]: f for f in kinds["enterprises"]["fields"]}
    assert fields["uscc"]["label_zh"] == "统一社会信用代码" and fields["uscc"]["required"]
    vocab = json.loads((ROOT / "core" / "vocab" / "enterprise_types.json").read_text(encoding="utf-8"))
    builder = next(e["label"] for e in vocab["entries"] if e["code"] == "builder")
    assert fields["type"]["values"]["builder"] == [builder["zh"], builder["en"]]
    people = {f["name"]: f for f in kinds["people"]["fields"]}
    assert people["employer_uscc"]["references"] == ["enterprise.uscc"]
    assert "records" in kinds["people"]["writers"] and "planner" not in kinds["people"]["writers"]


def test_a_house_unit_is_stored_with_its_owner_masked_and_removed_with_its_history(client, site, token_headers, sql):
    editor = token_headers("records")
    unit = f"{site['building']}-0301"
    body = {"id": unit, "building_code": site["building"], "unit_no": "301", "floor": 3, "area_m2": "89.5",
            "owner": "欧阳建华"}  # fmt: skip
    created = client.post(f"{API}/records/house_units", json=body, headers=editor)
    assert created.status_code == 201, created.text
    [row] = sql("SELECT row_to_json(h)::text AS t, owner_masked FROM house_unit h WHERE id = :i", i=unit)
    assert row["owner_masked"] == "欧**华" and "欧阳建华" not in row["t"]
    before_delete = datetime.now(UTC)
    gone = client.delete(f"{API}/records/house_units/{unit}", headers=editor | {"If-Match": created.headers["ETag"]})
    assert gone.status_code == 204
    assert sql("SELECT count(*) AS n FROM house_unit WHERE id = :i", i=unit)[0]["n"] == 0
    assert client.get(f"{API}/records/house_units/{unit}").status_code == 404
    earlier = client.get(f"{API}/records/house_units/{unit}", params={"as_of": before_delete.isoformat()})
    assert earlier.status_code == 200 and earlier.json()["data"]["area_m2"] == 89.5
    assert (
        client.get(f"{API}/records/house_units/{unit}", params={"as_of": datetime.now(UTC).isoformat()}).json()["data"]
        is None
    )
