"""Oversight of the joint review (issue 18 item 4): every submission with its agencies, rounds,
days in each state (on the API's controllable clock) and overdue agencies; the pass rate of each
rule against the issues; CSV and XLSX exports; the submissions on the map by state, in the API's
GeoJSON and on the oversight page (Debian's Chromium)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import openpyxl
import pyproj
import shapely
from sqlalchemy import text

from sample_models.review_models import author_review_model
from tests.fixtures_joint_review import DRAWING_TYPES, ROOT, finished_job
from tests.fixtures_review import spot_placement

BASE = "/api/v1/reviews/submissions"
STATES = json.loads((ROOT / "bim_ingest" / "review" / "data" / "submission_states.json").read_text("utf-8"))


def _submit(client, headers, url, path, data=None) -> dict:
    with open(path, "rb") as fh:
        answer = client.post(url, headers=headers, data=data or {}, files=[("file", (path.name, fh))])
    assert answer.status_code == 202, answer.text
    job = finished_job(client, headers, answer.json()["job"])
    assert job["status"] == "succeeded", job
    return job["result"]


def _decide(client, agencies, submission_id, part, action):
    answer = client.post(
        f"{BASE}/{submission_id}/reviews/{part['review_id']}/decision",
        headers=agencies.headers[part["drawing_type"]],
        json={"action": action},
    )
    assert answer.status_code == 200, answer.text


def _mine(client, headers, submission_id) -> dict:
    answer = client.get(f"{BASE}/oversight", headers=headers)
    assert answer.status_code == 200, answer.text
    return next(s for s in answer.json()["submissions"] if s["id"] == submission_id)


def test_oversight_follows_a_submission_through_its_rounds(
    client, database, review_site, joint_agencies, api_clock, tmp_path, run_page, review_pages_server
):
    watcher = joint_agencies.submitter
    start = api_clock.now
    placement = spot_placement(review_site, name="Oversight")
    first = author_review_model(
        tmp_path / "v1" / "o.ifc", storeys=1, joint_review=True, missing_fire_rating=True, **placement
    )
    submission_id = _submit(client, watcher, BASE, first["path"], {"project": review_site.project})["submission_id"]
    parts = {p["drawing_type"]: p for p in client.get(f"{BASE}/{submission_id}", headers=watcher).json()["agencies"]}
    assert parts["building"]["passed_checks"] is False  # the wall without its fire rating

    # day 1: the building agency returns it, every agency but lightning passes; lightning is late on day 8
    api_clock.now = start + timedelta(days=1)
    for drawing_type, part in parts.items():
        if drawing_type != "lightning":
            _decide(client, joint_agencies, submission_id, part, "return" if drawing_type == "building" else "approve")
    api_clock.now = start + timedelta(days=8)
    seen = _mine(client, watcher, submission_id)
    late_after = DRAWING_TYPES["drawing_types"]["lightning"]["due_days"]
    assert late_after < 8
    assert seen["status"] == "in_review" and seen["round"] == 1
    assert seen["overdue_agencies"] == [joint_agencies.by_type["lightning"]]
    assert seen["days_in_state"] == {"in_review": 8.0, "returned": 0.0, "approved": 0.0}
    assert {p["drawing_type"]: p["status"] for p in seen["agencies"]} == {
        t: ("returned" if t == "building" else "in_review" if t == "lightning" else "approved") for t in parts
    }

    # day 8 lightning passes (the submission is returned); day 10 the corrected model; day 13 building passes
    _decide(client, joint_agencies, submission_id, parts["lightning"], "approve")
    api_clock.now = start + timedelta(days=10)
    assert _mine(client, watcher, submission_id)["days_in_state"] == {
        "in_review": 8.0,
        "returned": 2.0,
        "approved": 0.0,
    }
    second = author_review_model(tmp_path / "v2" / "o.ifc", storeys=1, joint_review=True, **placement)["path"]
    _submit(client, watcher, f"{BASE}/{submission_id}/resubmit", second)
    again = {p["drawing_type"]: p for p in client.get(f"{BASE}/{submission_id}", headers=watcher).json()["agencies"]}
    api_clock.now = start + timedelta(days=13)
    _decide(client, joint_agencies, submission_id, again["building"], "approve")
    api_clock.now = start + timedelta(days=15, hours=12)
    seen = _mine(client, watcher, submission_id)
    assert seen["status"] == "approved" and seen["round"] == 2 and seen["overdue_agencies"] == []
    assert seen["days_in_state"] == {"in_review": 11.0, "returned": 2.0, "approved": 2.5}
    assert {p["drawing_type"]: (p["round"], p["status"]) for p in seen["agencies"]} == {
        t: (2 if t == "building" else 1, "approved") for t in parts
    }

    # pass rates: per rule, the finished review runs of submissions that checked it, less those with an
    # error issue of it (the session's other tests make review runs too: count only the same runs)
    document = client.get(f"{BASE}/oversight", headers=watcher).json()
    rates = {r["rule"]: r for r in document["rules"]}
    finished_runs = "submission_id IS NOT NULL AND status <> 'received' AND report IS NOT NULL"
    with database.connect() as conn:
        runs = conn.execute(text(f"SELECT id, drawing_type FROM drawing_review WHERE {finished_runs}")).all()
        failing = conn.execute(
            text(
                "SELECT rule, count(DISTINCT review_id) FROM review_issue WHERE severity = 'error'"
                f" AND review_id IN (SELECT id FROM drawing_review WHERE {finished_runs}) GROUP BY rule"
            )
        ).all()
    failed = dict(failing)
    cim03 = next(rule for rule in rates if rule.startswith("ids:CIM-03"))
    building_runs = [i for i, t in runs if t == "building"]
    assert rates[cim03]["checked"] == len(building_runs) and rates[cim03]["drawing_types"] == ["building"]
    assert rates[cim03]["passed"] == len(building_runs) - failed[cim03] and failed[cim03] >= 1
    assert rates[cim03]["pass_rate"] == round(rates[cim03]["passed"] / rates[cim03]["checked"], 4) < 1
    model_clash_types = {t for t, v in DRAWING_TYPES["drawing_types"].items() if v["model_clashes"]}
    clash_runs = [i for i, t in runs if t in model_clash_types]
    assert rates["clash.internal"]["checked"] == len(clash_runs)
    assert rates["clash.internal"]["passed"] == len(clash_runs) - failed.get("clash.internal", 0)
    assert [r["pass_rate"] for r in document["rules"]] == sorted(r["pass_rate"] for r in document["rules"])

    # exports: a row per agency part, and the rules sheet
    expected_rows = sum(len(s["agencies"]) for s in document["submissions"])
    exported = client.get(f"{BASE}/oversight", params={"f": "csv"}, headers=watcher)
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + expected_rows and rows[0][0] == "报审编号 submission"
    mine = [r for r in rows[1:] if r[0] == str(submission_id)]
    assert sorted(r[9] for r in mine) == sorted(joint_agencies.by_type[t] for t in parts)
    assert {r[3] for r in mine} == {STATES["approved"]["zh"]} and {r[15] for r in mine} == {"否"}
    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"{BASE}/oversight", params={"f": "xlsx"}, headers=watcher).content)
    )
    progress, rules_sheet = book.worksheets
    assert progress.max_row == 1 + expected_rows
    assert [row[0] for row in rules_sheet.iter_rows(min_row=2, values_only=True)] == [
        r["rule"] for r in document["rules"]
    ]

    # the map: the submission at its project's parcel, coloured as approved
    geojson = client.get(f"{BASE}/oversight.geojson", headers=watcher).json()
    feature = next(f for f in geojson["features"] if f["id"] == submission_id)
    assert feature["properties"]["colour"] == STATES["approved"]["colour"]
    with database.connect() as conn:
        srid = conn.execute(text("SELECT ST_SRID(geom) FROM parcel LIMIT 1")).scalar_one()
    to_lonlat = pyproj.Transformer.from_crs(srid, 4326, always_xy=True)
    assert shapely.geometry.shape(feature["geometry"]).contains(shapely.Point(to_lonlat.transform(*review_site.spot)))

    # the page shows the same: a row per submission, the map filled by state, the rules
    probe = """(() => ({
      rows: [...document.querySelectorAll('#submissions tbody tr')]
        .map((r) => [Number(r.dataset.submission), r.dataset.status]),
      fills: [...document.querySelectorAll('#map path')]
        .map((p) => [Number(p.dataset.submission), p.getAttribute('fill')]),
      rules: [...document.querySelectorAll('#rules tbody tr')].map((r) => r.dataset.rule),
    }))()"""
    token = watcher["Authorization"].removeprefix("Bearer ")
    report = run_page(
        f"{review_pages_server}oversight.html",
        token,
        "jr-applicant",
        "window.cimOversight && window.cimOversight.ready",
        probe,
        "oversight",
    )
    assert report["outside"] == [] and report["console_errors"] == [] and report["banner"] == ""
    shown = report["probe"]
    assert shown["rows"] == [[s["id"], s["status"]] for s in document["submissions"]]
    assert [submission_id, STATES["approved"]["colour"]] in shown["fills"]
    assert {s: c for s, c in shown["fills"]} == {
        f["id"]: STATES[f["properties"]["status"]]["colour"] for f in geojson["features"] if f["geometry"]
    }
    assert shown["rules"] == [r["rule"] for r in document["rules"]]
