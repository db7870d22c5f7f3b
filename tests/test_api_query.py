"""Manage by map: identify and within on the sample city, checked against raw SQL and shapely."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

import pytest
import shapely
from shapely.geometry import mapping

API = "/api/v1"


@pytest.fixture(scope="module")
def building_with_people(rows, sample_city) -> dict:
    """A building whose project has permits and people (raw SQL)."""
    found = rows(
        """SELECT b.code, b.project_code, ST_AsBinary(b.footprint) AS wkb_footprint
             FROM building b JOIN project p ON p.code = b.project_code
            WHERE EXISTS (SELECT 1 FROM project_person pp JOIN person s ON s.id = pp.person_id
                           WHERE pp.project_code = p.code AND s.phone IS NOT NULL)
              AND EXISTS (SELECT 1 FROM construction_permit c WHERE c.project_code = p.code)
            ORDER BY b.code LIMIT 1"""
    )
    assert found, "the sample city has a building whose project has permits and people"
    return found[0]


def test_identify_at_a_point_returns_the_building_and_its_records(client, building_with_people, rows, to_lonlat):
    b = building_with_people
    at = to_lonlat(b["wkb_footprint"].centroid)
    answer = client.get(f"{API}/query/identify", params={"lon": at.x, "lat": at.y}).json()
    assert (answer["layer"], answer["id"]) == ("buildings", b["code"])
    project = answer["project"]
    assert project["code"] == b["project_code"]
    permits = {
        r["permit_no"]
        for r in rows("SELECT permit_no FROM construction_permit WHERE project_code = :c", c=b["project_code"])
    }
    assert {p["permit_no"] for p in project["permits"]} == permits
    parties = rows(
        """SELECT e.uscc, e.credit_grade, e.credit_score FROM project p JOIN enterprise e ON e.uscc = p.contractor_uscc
            WHERE p.code = :c""",
        c=b["project_code"],
    )[0]
    contractor = project["parties"]["contractor"]
    assert (contractor["uscc"], contractor["credit_grade"]) == (parties["uscc"], parties["credit_grade"])
    latest = rows(
        """SELECT decided_on FROM credit_record WHERE subject_kind = 'enterprise' AND subject_id = :u AND disclosed
            ORDER BY decided_on DESC, id DESC LIMIT 3""",
        u=parties["uscc"],
    )
    assert [r["decided_on"].isoformat() for r in latest] == [r["decided_on"] for r in contractor["latest_credit"]]
    safety = rows("SELECT safety_grade FROM building WHERE code = :c", c=b["code"])[0]["safety_grade"]
    assert answer["safety"]["grade"] == safety
    people = rows(
        """SELECT pp.role, s.phone FROM project_person pp JOIN person s ON s.id = pp.person_id
            WHERE pp.project_code = :c AND s.phone IS NOT NULL""",
        c=b["project_code"],
    )
    shown = {(role, p["phone"]) for role, group in project["people"].items() for p in group}
    for person in people:
        phone = person["phone"]
        assert (person["role"], phone) not in shown, "a public caller sees no plain phone number"
        assert any(
            r == person["role"] and s and s[:3] == phone[:3] and s[-4:] == phone[-4:] and "*" in s for r, s in shown
        )


def test_identify_lists_pipes_beneath_within_the_distance(client, building_with_people, rows):
    b = building_with_people
    footprint = b["wkb_footprint"]
    pipes = rows("SELECT id, depth_m, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline")
    distance = 40.0
    expected = {p["id"]: p["depth_m"] for p in pipes if p["wkb_g"].distance(footprint) <= distance}
    answer = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": b["code"], "distance_m": distance})
    got = {p["id"]: p["depth_m"] for p in answer.json()["beneath"]["pipes"]}
    assert got == expected and expected


def test_identify_by_id_of_an_enterprise_lists_its_projects(client, sample_city, rows):
    uscc = rows("SELECT contractor_uscc AS u FROM project WHERE contractor_uscc IS NOT NULL ORDER BY code LIMIT 1")[0][
        "u"
    ]
    answer = client.get(f"{API}/query/identify", params={"layer": "enterprises", "id": uscc}).json()
    expected = {r["code"] for r in rows("SELECT code FROM project WHERE contractor_uscc = :u", u=uscc)}
    assert {p["code"] for p in answer["projects"] if "contractor" in p["roles"]} == expected


@pytest.fixture(scope="module")
def demo_model(sample_city) -> dict:
    """One of the demo's BIM models, authored on a vacant parcel of a project and published."""
    from sample_models.demo_models import publish_demo_models

    return publish_demo_models(1)[0]


def test_identify_a_bim_element_gives_its_properties_and_its_project(client, demo_model, rows, to_lonlat):
    import ifcopenshell
    import ifcopenshell.util.element

    wall = rows(
        """SELECT e.global_id, ST_AsBinary(e.footprint) AS wkb_fp FROM bim_element e
            WHERE e.version_id = :v AND e.ifc_class = 'IfcWall' ORDER BY e.global_id LIMIT 1""",
        v=demo_model["version_id"],
    )[0]
    answer = client.get(f"{API}/query/identify", params={"layer": "bim_elements", "id": wall["global_id"]}).json()
    from spatial_api.settings import get_settings

    ifc = ifcopenshell.open(str(get_settings().data_dir / "sample" / "ifc" / f"{demo_model['project_code']}.ifc"))
    authored = ifcopenshell.util.element.get_pset(ifc.by_guid(wall["global_id"]), "Pset_WallCommon")
    element = answer["element"]
    assert (element["ifc_class"], element["version_id"]) == ("IfcWall", demo_model["version_id"])
    assert element["properties"]["Pset_WallCommon"]["FireRating"] == authored["FireRating"]
    contractor = rows(
        """SELECT e.uscc, e.credit_grade FROM project p JOIN enterprise e ON e.uscc = p.contractor_uscc
            WHERE p.code = :c""",
        c=demo_model["project_code"],
    )
    assert answer["project"]["code"] == demo_model["project_code"]
    if contractor:
        party = answer["project"]["parties"]["contractor"]
        assert (party["uscc"], party["credit_grade"]) == (contractor[0]["uscc"], contractor[0]["credit_grade"])
    # a click inside the model's footprint, where no sample building stands, picks a BIM element
    slab = rows(
        """SELECT ST_AsBinary(ST_PointOnSurface(e.footprint)) AS wkb_p FROM bim_element e
            WHERE e.version_id = :v AND e.ifc_class = 'IfcSlab' ORDER BY e.global_id LIMIT 1""",
        v=demo_model["version_id"],
    )[0]
    at = to_lonlat(slab["wkb_p"])
    picked = client.get(f"{API}/query/identify", params={"lon": at.x, "lat": at.y}).json()
    assert picked["layer"] == "bim_elements"
    assert picked["feature"]["properties"]["version_id"] == demo_model["version_id"]


def test_identify_problems(client, sample_city):
    assert client.get(f"{API}/query/identify", params={"lon": 10.0, "lat": 50.0}).status_code == 422
    assert client.get(f"{API}/query/identify", params={"lon": 500.0, "lat": 50.0}).status_code == 400
    assert client.get(f"{API}/query/identify").status_code == 400
    assert client.get(f"{API}/query/identify", params={"layer": "buildings", "id": "NOPE"}).status_code == 404
    response = client.get(f"{API}/query/identify", params={"layer": "nowhere", "id": "x"})
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"


def _area(rows, to_lonlat, fraction: float) -> tuple[shapely.Polygon, dict]:
    """A polygon over part of the city: store-CRS and CRS84 GeoJSON (vertices transformed by pyproj)."""
    extent = shapely.union_all([r["wkb_g"] for r in rows("SELECT ST_AsBinary(footprint) AS wkb_g FROM building")])
    x0, y0, x1, y1 = extent.bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = (x1 - x0) * fraction, (y1 - y0) * fraction
    # A pentagon, so the test does not lean on boxes.
    store = shapely.Polygon(
        [(cx - w, cy - h), (cx + w, cy - h * 0.8), (cx + w * 1.1, cy + h), (cx, cy + h * 1.2), (cx - w, cy + h)]
    )
    return store, mapping(to_lonlat(store))


def test_within_statistics_match_shapely(client, sample_city, rows, to_lonlat):
    store, geojson = _area(rows, to_lonlat, 0.3)
    answer = client.post(f"{API}/query/within", json=geojson)
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    buildings = rows("SELECT code, use, safety_grade, floors_above, ST_AsBinary(footprint) AS wkb_g FROM building")
    inside = [b for b in buildings if store.contains(b["wkb_g"].centroid)]
    assert inside and stats["buildings"]["count"] == len(inside)
    assert stats["buildings"]["by_use"] == dict(Counter(b["use"] or "unknown" for b in inside))
    area_by_use: dict[str, float] = defaultdict(float)
    for b in inside:
        area_by_use[b["use"] or "unknown"] += b["wkb_g"].area * (b["floors_above"] or 1)
    for use, value in area_by_use.items():
        assert stats["buildings"]["floor_area_m2_by_use"][use] == pytest.approx(value, abs=0.2)
    assert [d["code"] for d in stats["buildings"]["dangerous"]] == sorted(
        b["code"] for b in inside if b["safety_grade"] == "D"
    )
    pipes = rows("SELECT utility, install_year, ST_AsBinary(ST_Force2D(geom)) AS wkb_g FROM pipeline")
    length: dict[str, float] = defaultdict(float)
    by_age: dict[str, float] = defaultdict(float)
    for p in pipes:
        part = p["wkb_g"].intersection(store).length
        if part:
            length[p["utility"]] += part
            age = date.today().year - p["install_year"] if p["install_year"] else None
            band = (
                "unknown"
                if age is None
                else "0-9"
                if age < 10
                else "10-19"
                if age < 20
                else "20-29"
                if age < 30
                else "30+"
            )
            by_age[band] += part
    assert stats["pipe_length_m_by_utility"].keys() == length.keys()
    for utility, value in length.items():
        assert stats["pipe_length_m_by_utility"][utility] == pytest.approx(value, abs=0.05)
    for band, value in by_age.items():
        assert stats["pipe_length_m_by_age"][band] == pytest.approx(value, abs=0.05)
    projects = rows("SELECT stage, ST_AsBinary(footprint) AS wkb_g FROM project WHERE footprint IS NOT NULL")
    assert stats["projects_by_stage"] == dict(Counter(p["stage"] for p in projects if p["wkb_g"].intersects(store)))


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (
            {
                "type": "Polygon",
                "coordinates": [[[119.0, 31.0], [119.1, 31.1], [119.1, 31.0], [119.0, 31.1], [119.0, 31.0]]],
            },
            400,
        ),
        ({"type": "Polygon", "coordinates": [[[1.0, 1.0], [1.1, 1.0], [1.1, 1.1], [1.0, 1.0]]]}, 422),
        ({"type": "Point", "coordinates": [119.97, 31.78]}, 400),
        ({"type": "Polygon", "coordinates": [[[119, 31], [121, 31], [121, 33], [119, 33], [119, 31]]]}, 400),
        ({"type": "Polygon", "coordinates": "nonsense"}, 400),
    ],
)
def test_within_rejects_bad_polygons(client, sample_city, body, status):
    response = client.post(f"{API}/query/within", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
