"""Manage by map: identify and within on the sample city, checked against raw SQL and shapely."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import date

import pytest
import shapely
from shapely.geometry import mapping

from tests.pii import open_field

API = "/api/v1"


@pytest.fixture(scope="module")
def building_with_people(rows, sample_city) -> dict:
    """A building whose project has permits and people (raw SQL)."""
    found = rows(
        """SELECT b.code, b.project_code, ST_AsBinary(b.footprint) AS wkb_footprint
             FROM building b JOIN project p ON p.code = b.project_code
            WHERE EXISTS (SELECT 1 FROM project_person pp JOIN person s ON s.id = pp.person_id
                           WHERE pp.project_code = p.code AND s.phone_enc IS NOT NULL)
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
        """SELECT pp.role, s.phone_enc FROM project_person pp JOIN person s ON s.id = pp.person_id
            WHERE pp.project_code = :c AND s.phone_enc IS NOT NULL""",
        c=b["project_code"],
    )
    people = [{"role": p["role"], "phone": open_field(p["phone_enc"])} for p in people]
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


def test_identify_a_bim_element_gives_its_properties_and_its_project(client, demo_model, rows, to_lonlat):
    import ifcopenshell
    import ifcopenshell.util.element

    wall = rows(
        """SELECT e.global_id, ST_AsBinary(e.footprint) AS wkb_fp FROM bim_element e
            WHERE e.version_id = :v AND e.ifc_class = 'IfcWall' ORDER BY e.global_id LIMIT 1""",
        v=demo_model["version_id"],
    )[0]
    answer = client.get(f"{API}/query/identify", params={"layer": "bim_elements", "id": wall["global_id"]}).json()
    from core.settings import get_settings

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


def test_within_statements_planned_for_each_area(database, sample_city, rows, to_lonlat) -> None:
    """Within's statements, prepared on a connection after 5 runs, are planned for each area (a generic plan
    cannot size an unknown box: over the city partitions it read them all), the connection left at the
    default after."""
    from sqlalchemy import create_engine

    from core.settings import store_srid
    from gis.analysis.within import within

    area, _ = _area(rows, to_lonlat, 0.2)  # in the store CRS
    engine = create_engine(database.url, isolation_level="AUTOCOMMIT")  # a connection of its own
    with engine.connect() as conn:
        # a connection that plans generically (as PostgreSQL chose on the 1M province): within plans anew
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        first = within(conn, area, store_srid(), 2026)
        assert first["buildings"]["count"] > 0
        for _ in range(7):
            assert within(conn, area, store_srid(), 2026) == first
        plans = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        prepared = [p[1:] for p in conn.exec_driver_sql(plans).all() if "ST_GeomFromWKB(" in p[0]]
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
        workers = "SELECT setting = reset_val FROM pg_settings WHERE name = 'max_parallel_workers_per_gather'"
        assert conn.exec_driver_sql(workers).scalar()  # within plans without workers, then resets that too
    engine.dispose()
    assert prepared and all(generic == 0 and custom >= 3 for generic, custom in prepared), prepared


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


def test_within_records_match_raw_sql(client, sample_city, rows, to_lonlat):
    """Dangerous buildings, house units, residents and enterprises and contractors by credit grade, over an
    area drawn around the city's dangerous buildings; each figure counted here with shapely over raw rows."""
    buildings = rows(
        """SELECT code, address, use, safety_grade, last_inspection, ST_AsBinary(footprint) AS wkb_g FROM building"""
    )
    dangerous = [b for b in buildings if b["safety_grade"] == "D"]
    assert len(dangerous) >= 2, "the sample city has dangerous buildings"
    # A hexagon over the first dangerous buildings (edges straight in the store CRS, as the server sees them).
    hull = shapely.MultiPoint([b["wkb_g"].centroid for b in dangerous[:3]]).convex_hull
    store = hull.buffer(220, quad_segs=2).simplify(1.0)
    response = client.post(f"{API}/query/within", json=mapping(to_lonlat(store)))
    assert response.status_code == 200, response.text
    stats = response.json()

    inside = {b["code"]: b for b in buildings if store.contains(b["wkb_g"].centroid)}
    expected_dangerous = [
        {
            "code": b["code"],
            "address": b["address"],
            "use": b["use"],
            "safety_grade": "D",
            "last_inspection": b["last_inspection"].isoformat() if b["last_inspection"] else None,
        }
        for code, b in sorted(inside.items())
        if b["safety_grade"] == "D"
    ]
    assert stats["buildings"]["dangerous"] == expected_dangerous and expected_dangerous

    units = [u for u in rows("SELECT building_code, residents FROM house_unit") if u["building_code"] in inside]
    assert stats["buildings"]["house_units"] == len(units) and units
    assert stats["buildings"]["residents"] == sum(u["residents"] or 0 for u in units)

    enterprises = rows("SELECT uscc, credit_grade, ST_AsBinary(location) AS wkb_g FROM enterprise")
    by_grade = Counter(
        e["credit_grade"] or "ungraded" for e in enterprises if e["wkb_g"] is not None and e["wkb_g"].intersects(store)
    )
    assert stats["enterprises_by_credit_grade"] == dict(by_grade) and by_grade

    grade = {e["uscc"]: e["credit_grade"] or "ungraded" for e in enterprises}
    projects = rows("SELECT contractor_uscc, ST_AsBinary(footprint) AS wkb_g FROM project WHERE footprint IS NOT NULL")
    contractors = {p["contractor_uscc"] for p in projects if p["contractor_uscc"] and p["wkb_g"].intersects(store)}
    assert stats["contractors_by_credit_grade"] == dict(Counter(grade[u] for u in contractors)) and contractors


def test_within_of_an_empty_corner_counts_nothing(client, sample_city, rows, to_lonlat):
    """A small area away from every building, enterprise and project: zero everywhere, not a missing key."""
    extent = rows(
        """SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0 FROM (SELECT ST_Extent(g) AS e FROM (
             SELECT footprint AS g FROM building UNION ALL SELECT location FROM enterprise
             UNION ALL SELECT footprint FROM project UNION ALL SELECT geom FROM pipeline) AS parts) AS s"""
    )[0]
    store = shapely.box(extent["x0"] - 300, extent["y0"] - 300, extent["x0"] - 100, extent["y0"] - 100)
    stats = client.post(f"{API}/query/within", json=mapping(to_lonlat(store))).json()
    assert stats["buildings"]["count"] == stats["buildings"]["house_units"] == stats["buildings"]["residents"] == 0
    assert stats["buildings"]["dangerous"] == [] and stats["enterprises_by_credit_grade"] == {}
    assert stats["contractors_by_credit_grade"] == {} and stats["pipe_length_m_by_utility"] == {}


def _compartment_slices(rows) -> dict[str, dict]:
    """Each tunnel compartment's slice of the tunnel (shapely: the axis offset to the compartment's middle,
    grown by half its width) with the tunnel's cover depth and owner."""
    found = rows(
        """SELECT c.id, c.offset_m, c.width_m AS cw, u.width_m AS tw, u.cover_depth_m, u.owner,
                  ST_AsBinary(ST_Force2D(u.axis)) AS wkb_axis
             FROM tunnel_compartment c JOIN utility_tunnel u ON u.id = c.tunnel_id"""
    )
    assert found, "the sample city has a utility tunnel with compartments"
    return {
        c["id"]: {
            "slice": c["wkb_axis"]
            .offset_curve(c["tw"] / 2 - c["offset_m"] - c["cw"] / 2)
            .buffer(c["cw"] / 2, cap_style="flat"),
            "depth_m": c["cover_depth_m"],
            "owner": c["owner"],
        }
        for c in found
    }


def test_identify_lists_tunnel_compartments_beneath(client, sample_city, rows):
    slices = _compartment_slices(rows)
    near = rows(
        """SELECT b.code, ST_AsBinary(b.footprint) AS wkb_g FROM building b, utility_tunnel u
            ORDER BY ST_Distance(b.footprint, ST_Force2D(u.axis)), b.code LIMIT 1"""
    )[0]
    distances = {k: s["slice"].distance(near["wkb_g"]) for k, s in slices.items()}
    # Half-way between the nearest and the farthest compartment, so the answer is a strict subset.
    lo, hi = min(distances.values()), max(distances.values())
    assert hi - lo > 1.0, "the compartments lie at different distances from the building"
    distance = round((lo + hi) / 2, 2)
    answer = client.get(
        f"{API}/query/identify", params={"layer": "buildings", "id": near["code"], "distance_m": distance}
    )
    assert answer.status_code == 200, answer.text
    got = {c["id"]: c for c in answer.json()["beneath"]["tunnel_compartments"]}
    expected = {k for k, d in distances.items() if d <= distance}
    assert set(got) == expected and 0 < len(expected) < len(slices)
    for key, compartment in got.items():
        assert compartment["distance_m"] == pytest.approx(distances[key], abs=0.05)
        assert (compartment["depth_m"], compartment["owner"]) == (slices[key]["depth_m"], slices[key]["owner"])

    # A pipe that crosses the tunnel lies over every compartment: all of them at distance 0.
    crossing = rows(
        """SELECT p.id, ST_AsBinary(ST_Force2D(p.geom)) AS wkb_g FROM pipeline p, utility_tunnel u
            WHERE ST_Crosses(ST_Force2D(p.geom), ST_Force2D(u.axis)) ORDER BY p.id LIMIT 1"""
    )[0]
    over = {k for k, s in slices.items() if s["slice"].intersects(crossing["wkb_g"])}
    answer = client.get(f"{API}/query/identify", params={"layer": "pipelines", "id": crossing["id"], "distance_m": 0})
    got = {c["id"]: c["distance_m"] for c in answer.json()["beneath"]["tunnel_compartments"]}
    assert set(got) == over == set(slices) and set(got.values()) == {0.0}


@pytest.fixture(scope="module")
def filed_building(rows, sample_city) -> dict:
    """A building whose project has a completion filing, a designer, a supervisor, a project manager and a
    chief supervisor with phone numbers (raw SQL)."""
    found = rows(
        """SELECT b.code, b.project_code FROM building b JOIN project p ON p.code = b.project_code
            WHERE p.designer_uscc IS NOT NULL AND p.supervisor_uscc IS NOT NULL
              AND EXISTS (SELECT 1 FROM completion_filing f WHERE f.project_code = p.code)
              AND (SELECT count(DISTINCT pp.role) FROM project_person pp JOIN person s ON s.id = pp.person_id
                    WHERE pp.project_code = p.code AND s.phone_enc IS NOT NULL
                      AND pp.role IN ('project_manager', 'chief_supervisor')) = 2
            ORDER BY b.code LIMIT 1"""
    )
    assert found
    return found[0]


def test_identify_gives_the_filing_and_the_designer_and_supervisor_with_credit(client, filed_building, rows):
    code = filed_building["project_code"]
    answer = client.get(f"{API}/query/identify", params={"layer": "buildings", "id": filed_building["code"]}).json()
    project = answer["project"]
    filings = rows(
        "SELECT filing_no, accepted_on, filed_on, archive_accepted FROM completion_filing WHERE project_code = :c",
        c=code,
    )
    assert sorted(project["completion_filings"], key=lambda f: f["filing_no"]) == [
        {k: v.isoformat() if isinstance(v, date) else v for k, v in f.items()}
        for f in sorted(filings, key=lambda f: f["filing_no"])
    ]
    for role in ("designer", "supervisor"):
        firm = rows(
            f"""SELECT e.uscc, e.name, e.credit_grade, e.credit_score FROM project p
                  JOIN enterprise e ON e.uscc = p.{role}_uscc WHERE p.code = :c""",
            c=code,
        )[0]
        party = project["parties"][role]
        assert (party["uscc"], party["name"], party["credit_grade"]) == (
            firm["uscc"],
            firm["name"],
            firm["credit_grade"],
        )
        assert party["credit_score"] == pytest.approx(firm["credit_score"])
        latest = rows(
            """SELECT decided_on FROM credit_record WHERE subject_kind = 'enterprise' AND subject_id = :u AND disclosed
                ORDER BY decided_on DESC, id DESC LIMIT 3""",
            u=firm["uscc"],
        )
        assert [r["decided_on"] for r in party["latest_credit"]] == [r["decided_on"].isoformat() for r in latest]


def _key_people(rows, project_code: str) -> dict[tuple[str, str], dict]:
    found = rows(
        """SELECT pp.role, s.id, s.phone_enc, s.id_card_masked
             FROM project_person pp JOIN person s ON s.id = pp.person_id
            WHERE pp.project_code = :c AND pp.role IN ('project_manager', 'chief_supervisor')""",
        c=project_code,
    )
    return {(p["role"], p["id"]): p | {"phone": open_field(p["phone_enc"])} for p in found}


def _shown_people(answer: dict) -> dict[tuple[str, str], dict]:
    return {(role, p["id"]): p for role, group in answer["project"]["people"].items() for p in group}


def _masked_phone(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


@pytest.mark.parametrize(
    ("role", "plain"), [("public", False), ("planner", False), ("emergency", True), ("admin", True)]
)
def test_identify_masks_the_project_manager_and_chief_supervisor_per_role(
    client, role_headers, filed_building, rows, role, plain
):
    """Phones are plain only for the roles that may see personal data (emergency, admin), and each such read is
    in the audit log; ID numbers are only ever shown masked (the plain number is never stored)."""
    audit = "SELECT count(*) AS n FROM audit_log WHERE action = 'read_personal' AND username IS NOT DISTINCT FROM :u"
    user = None if role == "public" else role
    before = rows(audit, u=user)[0]["n"]
    params = {"layer": "buildings", "id": filed_building["code"]}
    answer = client.get(f"{API}/query/identify", params=params, headers=role_headers[role])
    assert answer.status_code == 200, answer.text
    expected = _key_people(rows, filed_building["project_code"])
    shown = _shown_people(answer.json())
    assert {k[0] for k in expected} == {"project_manager", "chief_supervisor"}
    for key, person in expected.items():
        assert shown[key]["phone"] == (person["phone"] if plain else _masked_phone(person["phone"]))
        assert shown[key]["id_card"] == person["id_card_masked"]
        assert re.fullmatch(r"\d{6}\*{8}[\dX]{4}", shown[key]["id_card"])
    if not plain:
        assert not any(p["phone"] in answer.text for p in expected.values())
        assert rows(audit, u=user)[0]["n"] == before
    else:
        logged = rows(
            """SELECT object, result FROM audit_log WHERE action = 'read_personal' AND username = :u
                ORDER BY id DESC LIMIT 1""",
            u=role,
        )
        assert rows(audit, u=user)[0]["n"] == before + 1
        assert logged[0]["result"] == "ok" and filed_building["code"] in logged[0]["object"]


def test_identify_audits_a_personal_read_exactly_when_the_answer_names_people(client, role_headers, sample_city, rows):
    """A caller who sees personal data leaves one ``read_personal`` row per answer that names people (already
    committed when the answer arrives) and none for answers that name nobody: a building without a project,
    a pipe; the building's and the project's answers are checked against the project's people in raw SQL."""
    with_people = rows(
        """SELECT b.code, b.project_code FROM building b
            WHERE EXISTS (SELECT 1 FROM project_person pp WHERE pp.project_code = b.project_code)
            ORDER BY b.code DESC LIMIT 1"""
    )[0]
    without_project = rows("SELECT code FROM building WHERE project_code IS NULL ORDER BY code LIMIT 1")[0]["code"]
    pipe = rows("SELECT id FROM pipeline ORDER BY id LIMIT 1")[0]["id"]
    audit = "SELECT object FROM audit_log WHERE action = 'read_personal' AND username = 'emergency' AND object = :o"
    cases = [
        ("buildings", with_people["code"], True),
        ("projects", with_people["project_code"], True),
        ("buildings", without_project, False),
        ("pipelines", pipe, False),
    ]
    for layer, fid, names_people in cases:
        obj = f"identify {layer}/{fid}"
        before = len(rows(audit, o=obj))
        params = {"layer": layer, "id": fid}
        answer = client.get(f"{API}/query/identify", params=params, headers=role_headers["emergency"])
        assert answer.status_code == 200, answer.text
        people = [p for group in ((answer.json().get("project") or {}).get("people") or {}).values() for p in group]
        assert bool(people) == names_people, (layer, fid)
        assert len(rows(audit, o=obj)) == before + names_people, (layer, fid)
