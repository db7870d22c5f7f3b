"""Profiles: each section checked against independent SQL; validity of qualifications; masking and
audit by role; the printable page and the record card with formatted values and no raw field names."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from tests.pii import open_field
from tests.test_search import masked

PROFILES = "/api/v1/profiles"
PARTY_COLUMNS = ("build_unit", "contractor", "supervisor", "designer", "surveyor")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def visible_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return " ".join(parser.parts)


SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


@pytest.fixture(scope="module")
def busy_enterprise(rows, database, sample_city):
    """The enterprise with the most projects, plus an expiring and an expired qualification added."""
    parties = " UNION ALL ".join(f"SELECT {c}_uscc AS uscc FROM project" for c in PARTY_COLUMNS)
    busiest = f"SELECT uscc, count(*) FROM ({parties}) x WHERE uscc IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1"
    uscc = rows(busiest)[0]["uscc"]
    today = date.today()
    added = {"TESTQ-EXPIRING": today + timedelta(days=30), "TESTQ-EXPIRED": today - timedelta(days=1)}
    with database.begin() as conn:
        for number, expires in added.items():
            conn.exec_driver_sql(
                "INSERT INTO qualification (certificate_no, enterprise_uscc, category, grade, expires_on, status)"
                " VALUES (%s, %s, '建筑工程施工总承包', '二级', %s, 'valid')",
                (number, uscc, expires),
            )
    yield uscc
    with database.begin() as conn:
        conn.exec_driver_sql("DELETE FROM qualification WHERE certificate_no LIKE 'TESTQ-%%'")


def test_enterprise_profile(client, rows, role_headers, busy_enterprise) -> None:
    uscc = busy_enterprise
    answer = client.get(f"{PROFILES}/enterprise/{uscc}", headers=role_headers["admin"]).json()
    record = rows("SELECT name, credit_grade, district FROM enterprise WHERE uscc = :u", u=uscc)[0]
    assert answer["title"] == record["name"] and answer["record"]["credit_grade"] == record["credit_grade"]
    assert answer["location"]["lon"] == pytest.approx(
        rows("SELECT ST_X(ST_Transform(location, 4326)) AS x FROM enterprise WHERE uscc = :u", u=uscc)[0]["x"]
    )
    today = date.today()
    quals = rows("SELECT certificate_no, expires_on FROM qualification WHERE enterprise_uscc = :u", u=uscc)
    expected_validity = {
        q["certificate_no"]: "valid"
        if q["expires_on"] is None or q["expires_on"] > today + timedelta(days=90)
        else ("expiring" if q["expires_on"] >= today else "expired")
        for q in quals
    }
    assert {q["certificate_no"]: q["validity"] for q in answer["qualifications"]} == expected_validity
    assert expected_validity["TESTQ-EXPIRING"] == "expiring" and expected_validity["TESTQ-EXPIRED"] == "expired"
    expected_projects = {
        (r["code"], role)
        for role in PARTY_COLUMNS
        for r in rows(f"SELECT code FROM project WHERE {role}_uscc = :u", u=uscc)
    }
    assert {(p["code"], p["role"]) for p in answer["projects"]} == expected_projects and expected_projects
    people = rows("SELECT id FROM person WHERE employer_uscc = :u", u=uscc)
    assert sorted(p["id"] for p in answer["people"]) == sorted(p["id"] for p in people)
    credit = rows("SELECT disclosed FROM credit_record WHERE subject_kind = 'enterprise' AND subject_id = :u", u=uscc)
    assert len(answer["credit_records"]) == len(credit)
    public = client.get(f"{PROFILES}/enterprise/{uscc}").json()
    assert len(public["credit_records"]) == sum(c["disclosed"] for c in credit)
    penalties = rows("SELECT decision_no FROM penalty WHERE subject_kind = 'enterprise' AND subject_id = :u", u=uscc)
    assert {p["decision_no"] for p in answer["penalties"]} == {p["decision_no"] for p in penalties}
    complaints = rows("SELECT id FROM complaint WHERE target_kind = 'enterprise' AND target_id = :u", u=uscc)
    assert {c["id"] for c in answer["complaints"]} == {c["id"] for c in complaints}
    history = rows(
        "SELECT graded_on FROM credit_grade_history WHERE enterprise_uscc = :u ORDER BY graded_on DESC", u=uscc
    )
    assert [h["graded_on"] for h in answer["grade_history"]] == [h["graded_on"].isoformat() for h in history]


def test_person_profile_masked_and_audited(client, rows, role_headers, sample_city) -> None:
    person = rows(
        """SELECT p.id, p.name, p.phone_enc, p.employer_uscc FROM person p WHERE p.phone_enc IS NOT NULL
             AND EXISTS (SELECT 1 FROM project_person pp WHERE pp.person_id = p.id) ORDER BY p.id LIMIT 1"""
    )[0]
    person["phone"] = open_field(person["phone_enc"])
    roles = rows("SELECT project_code, role FROM project_person WHERE person_id = :p", p=person["id"])
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'read_profile'")[0]["n"]
    admin = client.get(f"{PROFILES}/person/{person['id']}", headers=role_headers["admin"]).json()
    public = client.get(f"{PROFILES}/person/{person['id']}").json()
    assert admin["record"]["name"] == admin["title"] == person["name"]
    assert admin["record"]["phone"] == person["phone"]
    assert public["record"]["name"] == public["title"] == masked(person["name"]) != person["name"]
    assert public["record"]["phone"] != person["phone"] and public["record"]["phone"][-4:] == person["phone"][-4:]
    assert {(p["code"], p["role"]) for p in admin["projects"]} == {(r["project_code"], r["role"]) for r in roles}
    assert [e["uscc"] for e in admin["employers"]] == [person["employer_uscc"]]
    audits = rows("SELECT username, object FROM audit_log WHERE action = 'read_profile' ORDER BY id")[before:]
    assert [(a["username"], a["object"]) for a in audits] == [
        ("admin", f"profile person/{person['id']}"),
        (None, f"profile person/{person['id']}"),
    ]


def test_project_profile(client, rows, role_headers, sample_city) -> None:
    code = rows(
        """SELECT p.code FROM project p WHERE EXISTS (SELECT 1 FROM construction_permit c WHERE c.project_code = p.code)
             AND EXISTS (SELECT 1 FROM building b WHERE b.project_code = p.code)
             AND EXISTS (SELECT 1 FROM project_person pp WHERE pp.project_code = p.code) ORDER BY p.code LIMIT 1"""
    )[0]["code"]
    answer = client.get(f"{PROFILES}/project/{code}").json()
    project = rows("SELECT * FROM project WHERE code = :c", c=code)[0]
    assert answer["record"]["investment_cny"] == pytest.approx(float(project["investment_cny"]))
    expected_parties = {(role, project[f"{role}_uscc"]) for role in PARTY_COLUMNS if project[f"{role}_uscc"]}
    assert [p["role"] for p in answer["parties"]] == [r for r in PARTY_COLUMNS if project[f"{r}_uscc"]]
    assert {(p["role"], p["uscc"]) for p in answer["parties"]} == expected_parties
    people = rows(
        "SELECT pp.person_id, pp.role, p.name FROM project_person pp JOIN person p ON p.id = pp.person_id"
        " WHERE project_code = :c",
        c=code,
    )
    assert {(p["id"], p["role"]) for p in answer["people"]} == {(p["person_id"], p["role"]) for p in people}
    names = {p["person_id"]: p["name"] for p in people}
    assert all(p["name"] == masked(names[p["id"]]) for p in answer["people"])  # public: masked
    permits = rows("SELECT permit_no FROM construction_permit WHERE project_code = :c", c=code)
    assert {p["permit_no"] for p in answer["permits"]} == {p["permit_no"] for p in permits}
    buildings = rows("SELECT code FROM building WHERE project_code = :c ORDER BY code", c=code)
    assert [b["code"] for b in answer["buildings"]] == [b["code"] for b in buildings]
    filings = rows("SELECT filing_no FROM completion_filing WHERE project_code = :c", c=code)
    assert {f["filing_no"] for f in answer["filings"]} == {f["filing_no"] for f in filings}


def test_building_profile(client, rows, sample_city) -> None:
    code = rows("SELECT building_code FROM house_unit GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")[0]["building_code"]
    answer = client.get(f"{PROFILES}/building/{code}").json()
    units = rows("SELECT count(*) AS n, sum(area_m2) AS area FROM house_unit WHERE building_code = :c", c=code)[0]
    assert len(answer["units"]) == units["n"]
    assert sum(u["area_m2"] for u in answer["units"]) == pytest.approx(units["area"])
    building = rows("SELECT project_code, parcel_code, safety_grade FROM building WHERE code = :c", c=code)[0]
    related = rows(
        "SELECT code FROM project WHERE code = :p OR parcel_code = :q",
        p=building["project_code"],
        q=building["parcel_code"],
    )
    assert {p["code"] for p in answer["projects"]} == {r["code"] for r in related}
    assert [p["code"] for p in answer["projects"] if p["relation"] == "built_by"] == [building["project_code"]]
    assert answer["record"]["safety_grade"] == building["safety_grade"]


def test_printable_page_and_card(client, rows, sample_city) -> None:
    project = rows(
        """SELECT p.code, p.name, p.investment_cny, min(c.issued_on) AS issued FROM project p
             JOIN construction_permit c ON c.project_code = p.code GROUP BY p.code ORDER BY p.code LIMIT 1"""
    )[0]
    money = f"{float(project['investment_cny']) / 10_000:,.2f} 万元"
    issued = project["issued"]
    day = f"{issued.year}年{issued.month:02d}月{issued.day:02d}日"
    for url in (f"{PROFILES}/project/{project['code']}?f=html", f"{PROFILES}/project/{project['code']}.html"):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        text = visible_text(response.text)
        assert project["name"] in text and money in text and day in text
        assert "一项目一档" in text and "总投资" in text and "施工许可" in text and "Construction permits" in text
        assert SNAKE.findall(text) == []
    card = client.get(f"{PROFILES}/project/{project['code']}?f=card").text
    assert card.startswith("<article") and 'role="tablist"' in card and "<html" not in card
    assert SNAKE.findall(visible_text(card)) == []


@pytest.mark.parametrize(("path", "status"), [("/building/NO-SUCH", 404), ("/planet/1", 422)])
def test_unknown(client, sample_city, path, status) -> None:
    response = client.get(PROFILES + path)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"


def test_profile_audited_only_when_it_names_people(client, database, rows, sample_city) -> None:
    """A public reader's profile read writes its audit row in its own statement exactly when it shows people."""
    staffed = rows("SELECT employer_uscc AS u FROM person WHERE employer_uscc IS NOT NULL ORDER BY 1 LIMIT 1")[0]["u"]
    alone = "91320400TESTNOPPLX"  # an enterprise nobody works for
    with database.begin() as conn:
        conn.exec_driver_sql(
            """INSERT INTO enterprise (uscc, name, type, status) VALUES (%s, '无人测试公司', 'review_agency', 'active')
               ON CONFLICT (uscc) DO NOTHING""",
            (alone,),
        )
    building = rows("SELECT code FROM building ORDER BY code LIMIT 1")[0]["code"]
    audit = "SELECT username, object, result FROM audit_log WHERE action = 'read_profile' ORDER BY id"
    before = len(rows(audit))
    for path in (f"enterprise/{staffed}", f"enterprise/{alone}", f"building/{building}"):
        assert client.get(f"{PROFILES}/{path}").status_code == 200
    assert client.get(f"{PROFILES}/enterprise/NO-SUCH-USCC").status_code == 404
    assert rows(audit)[before:] == [{"username": None, "object": f"profile enterprise/{staffed}", "result": "ok"}]
