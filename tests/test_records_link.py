"""Buildings and business records from files (no generator) link on the map: a building inside a
project's site belongs to that project, a code in the file links directly, the rest is reported;
identify then answers with the project, its permits, parties and people."""

from __future__ import annotations

import json

import pytest
import shapely
from shapely.geometry import box, mapping

from gis.importers import import_layer
from records.importer import import_file
from tests.pii import open_field

API = "/api/v1"
LON, LAT = 120.6200, 31.3000  # Suzhou: away from the sample city, inside the store CRS's zone
DEG = 0.0001  # about 10 m


def _square(ix: float, iy: float, size: float = 1.5) -> shapely.Polygon:
    return box(LON + ix * DEG, LAT + iy * DEG, LON + (ix + size) * DEG, LAT + (iy + size) * DEG)


@pytest.fixture(scope="module")
def town(codes, tmp_path_factory, write_csv, sql) -> dict:
    """Four buildings (three before any project, one naming its project) and a project site with
    parties, a permit and a project manager, all imported from files the test writes."""
    folder = tmp_path_factory.mktemp("town")
    site = box(LON, LAT, LON + 6 * DEG, LAT + 6 * DEG)
    footprints = {codes.code("FW"): _square(1, 1), codes.code("FW"): _square(3.5, 3.5), codes.code("FW"): _square(9, 9)}
    inside = sorted(c for c, f in footprints.items() if site.contains(f.representative_point()))
    outside = sorted(set(footprints) - set(inside))
    assert len(inside) == 2 and len(outside) == 1

    def buildings_file(name: str, features: dict[str, tuple[shapely.Polygon, dict]]) -> str:
        path = folder / name
        collection = {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "properties": {"code": code, "height_m": 20.0, **extra}, "geometry": mapping(f)}
                for code, (f, extra) in features.items()
            ],
        }
        path.write_text(json.dumps(collection))
        return str(path)

    before = import_layer(buildings_file("b.geojson", {c: (f, {}) for c, f in footprints.items()}), "buildings")
    contractor, supervisor = codes.uscc(), codes.uscc()
    import_file(write_csv("e.csv", ["统一社会信用代码", "企业名称", "企业类型"],
                          [[contractor, "苏州测试建工集团", "施工总承包"], [supervisor, "苏州测试监理", "监理"]]),
                "enterprises")  # fmt: skip
    manager_id, manager_phone = codes.id_number("19700315"), "13800138000"
    import_file(write_csv("r.csv", ["身份证号", "姓名", "人员类别", "统一社会信用代码", "联系电话"],
                          [[manager_id, "孙项目", "执业", contractor, manager_phone]]), "people")  # fmt: skip
    project = codes.code("XM")
    projects = import_file(
        write_csv("x.csv", ["项目编号", "项目名称", "项目类别", "项目阶段", "施工单位统一社会信用代码",
                            "监理单位统一社会信用代码", "用地范围"],
                  [[project, "苏州测试安置房", "房建", "施工", contractor, supervisor, site.wkt]], encoding="gb18030"),
        "projects",
    )  # fmt: skip
    permit = codes.code("SG")
    import_file(write_csv("s.csv", ["施工许可证编号", "项目编号", "发证日期"], [[permit, project, "2025-05-06"]]),
                "permits")  # fmt: skip
    import_file(write_csv("pp.csv", ["项目编号", "身份证号", "岗位"], [[project, manager_id, "项目经理"]]),
                "project_people")  # fmt: skip
    named = codes.code("FW")
    later = import_layer(buildings_file("b2.geojson", {named: (_square(20, 20), {"project_code": project})}),
                         "buildings")  # fmt: skip
    return {"before": before, "projects": projects, "later": later, "inside": inside, "outside": outside,
            "named": named, "project": project, "permit": permit, "contractor": contractor,
            "supervisor": supervisor, "manager_id": manager_id, "manager_phone": manager_phone}  # fmt: skip


def test_buildings_link_to_the_project_whose_site_holds_them_and_the_rest_is_reported(town, sql):
    first = town["before"]["linking"]["building_project"]["unlinked"]
    assert first["outside_every_project"]["count"] == 3, "no project existed when the buildings came"
    assert town["projects"]["linking"]["building_project"]["linked_now"] == len(town["inside"])
    codes = [*town["inside"], *town["outside"], town["named"]]
    linked = {r["code"]: r["project_code"] for r in sql("SELECT code, project_code FROM building WHERE code = ANY(:c)",
                                                         c=codes)}  # fmt: skip
    assert linked == {**dict.fromkeys(town["inside"], town["project"]), **dict.fromkeys(town["outside"]),
                      town["named"]: town["project"]}  # fmt: skip
    later = town["later"]["linking"]["building_project"]
    assert later["unlinked"] == {}, "the code the file gave linked the last building"
    projects = town["projects"]["linking"]["project_parcel"]["unlinked"]
    assert projects["outside_every_parcel"]["codes"] == [town["project"]]


def test_identify_answers_with_project_permits_parties_and_people(town, client, token_headers):
    building = town["inside"][0]
    answer = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": building})
    assert answer.status_code == 200, answer.text
    project = answer.json()["project"]
    assert project["code"] == town["project"] and project["name"] == "苏州测试安置房"
    assert [p["permit_no"] for p in project["permits"]] == [town["permit"]]
    assert project["parties"]["contractor"]["uscc"] == town["contractor"]
    assert project["parties"]["supervisor"]["name"] == "苏州测试监理"
    [manager] = project["people"]["project_manager"]
    number, phone = town["manager_id"], town["manager_phone"]
    assert manager["name"] == "孙项目" and manager["id_card"] == number[:6] + "********" + number[-4:]
    assert manager["phone"] == phone[:3] + "****" + phone[-4:] and phone not in answer.text
    assert "phone_enc" not in manager
    emergency = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": building},
                           headers=token_headers("emergency"))  # fmt: skip
    assert emergency.json()["project"]["people"]["project_manager"][0]["phone"] == phone


def test_phone_in_the_table_is_sealed(town, sql):
    [row] = sql("SELECT phone_enc, phone_masked FROM person WHERE employer_uscc = :u", u=town["contractor"])
    assert open_field(row["phone_enc"]) == town["manager_phone"] and town["manager_phone"] not in row["phone_enc"]


def test_a_buildings_safety_grade_is_its_latest_appraisals(town, codes, write_csv, sql):
    first, second = town["inside"]
    rows = [
        [codes.code("JD"), first, "2020-05-01", "B"],
        [codes.code("JD"), first, "2024-08-15", "D"],
        [codes.code("JD"), first, "2022-01-10", "C"],
        [codes.code("JD"), second, "2023-03-03", "A"],
    ]
    result = import_file(
        write_csv("jd.csv", ["鉴定编号", "房屋编码", "鉴定日期", "鉴定等级"], rows), "safety_appraisals"
    )
    assert (result["inserted"], result["rejected"]) == (4, 0)
    latest = {}
    for _, building, _day, grade in sorted(rows, key=lambda r: r[2]):
        latest[building] = grade
    got = sql("SELECT code, safety_grade FROM building WHERE code = ANY(:c)", c=[first, second])
    assert {r["code"]: r["safety_grade"] for r in got} == latest == {first: "D", second: "A"}
