"""Joint drawing review (多图联审): a building project's submission fans out to its agencies, each
sees only its own queue and decides on its own clock; a return sends the resubmission back only to
the agency that returned it, and the submission passes when every agency passes."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import text

from bim_ingest.review.submissions import sealed_paths
from sample_models.review_models import author_review_model
from tests.fixtures_joint_review import DRAWING_TYPES, MINIMAL_PDF, finished_job
from tests.fixtures_review import spot_placement
from tests.test_review_seal import tampered

BASE = "/api/v1/reviews/submissions"


def _upload(client, headers, url: str, path, data: dict | None = None) -> dict:
    with open(path, "rb") as fh:
        answer = client.post(
            url,
            headers=headers,
            data=data or {},
            files=[("file", (path.name, fh)), ("pdfs", ("A-101 平面图.pdf", MINIMAL_PDF, "application/pdf"))],
        )
    assert answer.status_code == 202, answer.text
    job = finished_job(client, headers, answer.json()["job"])
    assert job["status"] == "succeeded", job
    return job["result"]


def _parts(document: dict) -> dict[str, dict]:
    return {p["drawing_type"]: p for p in document["agencies"]}


def _decide(client, headers, submission_id: int, review_id: int, action: str, comment: str | None = None):
    return client.post(
        f"{BASE}/{submission_id}/reviews/{review_id}/decision",
        headers=headers,
        json={"action": action, "comment": comment},
    )


def test_submission_fans_out_returns_resubmits_and_passes(
    client, database, review_site, joint_agencies, api_clock, tmp_path
):
    expected_types = DRAWING_TYPES["project_types"]["building"]
    placement = spot_placement(review_site, name="Joint")
    first = author_review_model(tmp_path / "v1" / "joint.ifc", storeys=2, joint_review=True, **placement)["path"]
    received = api_clock.now
    result = _upload(client, joint_agencies.submitter, BASE, first, {"project": review_site.project})
    submission_id = result["submission_id"]
    url = f"{BASE}/{submission_id}"
    document = client.get(url, headers=joint_agencies.submitter).json()

    # fanned out: one part per drawing type of a building project, each at its agency, due on its own clock
    parts = _parts(document)
    assert sorted(parts) == sorted(expected_types)
    assert document["status"] == "in_review" and document["round"] == 1
    assert document["files"] == {"ifc": ["joint.ifc"], "pdf": ["A-101 平面图.pdf"]}
    for drawing_type, part in parts.items():
        days = DRAWING_TYPES["drawing_types"][drawing_type]["due_days"]
        assert part["agency"] == joint_agencies.by_type[drawing_type]
        assert part["status"] == "in_review" and part["round"] == 1 and part["overdue"] is False
        assert datetime.fromisoformat(part["due_at"]) == received + timedelta(days=days)
        assert part["passed_checks"] is True, (drawing_type, part["counts"])
        assert part["drawing_type_label"]["zh"] == DRAWING_TYPES["drawing_types"][drawing_type]["zh"]
    assert len({p["review_id"] for p in parts.values()}) == len(expected_types)

    # each agency sees only its own queue
    for drawing_type, headers in joint_agencies.headers.items():
        queue = client.get(f"{BASE}/queue", headers=headers).json()
        mine = [q for q in queue if q["submission_id"] == submission_id]
        assert [q["review_id"] for q in mine] == [parts[drawing_type]["review_id"]]
        assert {q["agency"] for q in queue} == {joint_agencies.by_type[drawing_type]}

    # overdue only past each agency's own due time
    shortest = min(DRAWING_TYPES["drawing_types"][t]["due_days"] for t in expected_types)
    api_clock.now = received + timedelta(days=shortest, hours=1)
    late = client.get(url, headers=joint_agencies.submitter).json()
    expected_late = sorted(
        joint_agencies.by_type[t] for t in expected_types if DRAWING_TYPES["drawing_types"][t]["due_days"] <= shortest
    )
    assert sorted(late["overdue_agencies"]) == expected_late and expected_late
    assert {p["drawing_type"] for p in late["agencies"] if p["overdue"]} == {
        t for t in expected_types if joint_agencies.by_type[t] in expected_late
    }
    api_clock.now = received + timedelta(days=1)

    # an agency decides only its own part
    fire = parts["fire"]["review_id"]
    assert _decide(client, joint_agencies.headers["building"], submission_id, fire, "approve").status_code == 403
    assert _decide(client, joint_agencies.submitter, submission_id, fire, "approve").status_code == 403
    returned = _decide(client, joint_agencies.headers["fire"], submission_id, fire, "return", "疏散门防火等级不足")
    assert returned.status_code == 200, returned.text
    assert returned.json()["status"] == "in_review"  # the other agencies have not decided yet
    for drawing_type in expected_types:
        if drawing_type != "fire":
            done = _decide(
                client, joint_agencies.headers[drawing_type], submission_id, parts[drawing_type]["review_id"], "approve"
            )
            assert done.status_code == 200, done.text
    document = client.get(url, headers=joint_agencies.submitter).json()
    assert document["status"] == "returned"
    assert {t: p["status"] for t, p in _parts(document).items()} == {
        t: ("returned" if t == "fire" else "approved") for t in expected_types
    }
    assert _parts(document)["fire"]["decision"]["comment"] == "疏散门防火等级不足"

    # the fire agency's decision is sealed with its certificate: it verifies, names the signer, is audited
    sealed = returned.json()["seal"]
    part_url = f"{url}/reviews/{fire}"
    pdf = client.get(f"{part_url}/report.pdf", headers=joint_agencies.submitter)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert hashlib.sha256(pdf.content).hexdigest() == sealed["pdf_sha256"]
    html = client.get(f"{part_url}/report.html", headers=joint_agencies.submitter)
    assert hashlib.sha256(html.content).hexdigest() == sealed["html_sha256"]
    verified = client.get(f"{part_url}/verify", headers=joint_agencies.submitter).json()
    assert (
        verified["valid"] is True
        and verified["signatures"][0]["signer_serial_number"] == joint_agencies.by_type["fire"]
    )
    assert verified["signatures"][0]["signer"] == sealed["signer"]
    with database.connect() as conn:
        audited = conn.execute(
            text("SELECT username, object FROM audit_log WHERE action = 'review.seal' AND object LIKE :o"),
            {"o": f"submission:{submission_id}/review:{fire}/%"},
        ).all()
    assert [(u, sealed["pdf_sha256"] in o and sealed["signer"] in o) for u, o in audited] == [("jr-fire", True)]
    stored, _ = sealed_paths(fire)
    stored.write_bytes(tampered(stored.read_bytes()))
    broken = client.get(f"{part_url}/verify", headers=joint_agencies.submitter).json()
    assert broken["valid"] is False and "tampered" in broken["reason"]

    # the resubmission goes back only to the agency that returned it
    second = author_review_model(tmp_path / "v2" / "joint.ifc", storeys=2, joint_review=True, **placement)["path"]
    _upload(client, joint_agencies.submitter, f"{url}/resubmit", second)
    document = client.get(url, headers=joint_agencies.submitter).json()
    again = _parts(document)
    assert document["round"] == 2 and document["status"] == "in_review"
    assert again["fire"]["round"] == 2 and again["fire"]["status"] == "in_review"
    assert again["fire"]["review_id"] not in {p["review_id"] for p in parts.values()}
    for drawing_type in expected_types:
        if drawing_type != "fire":
            assert again[drawing_type]["review_id"] == parts[drawing_type]["review_id"]
            assert again[drawing_type]["status"] == "approved" and again[drawing_type]["round"] == 1
    assert [(h["drawing_type"], h["review_id"]) for h in document["history"]] == [("fire", fire)]
    with database.connect() as conn:
        rounds = conn.execute(
            text("SELECT drawing_type, count(*) FROM drawing_review WHERE submission_id = :s GROUP BY 1"),
            {"s": submission_id},
        ).all()
    assert dict(rounds) == {t: (2 if t == "fire" else 1) for t in expected_types}
    building_queue = client.get(f"{BASE}/queue", headers=joint_agencies.headers["building"]).json()
    assert submission_id not in {q["submission_id"] for q in building_queue}  # passed: not waiting there

    # every agency has passed: the submission passes and the second model is published
    passed = _decide(client, joint_agencies.headers["fire"], submission_id, again["fire"]["review_id"], "approve")
    assert passed.status_code == 200, passed.text
    assert passed.json()["status"] == "approved"
    with database.connect() as conn:
        statuses = dict(
            conn.execute(
                text(
                    """SELECT r.round, v.status FROM drawing_review r
                       JOIN bim_model_version v ON v.id = r.model_version_id
                       WHERE r.submission_id = :s AND r.drawing_type = 'fire'"""
                ),
                {"s": submission_id},
            ).all()
        )
    assert statuses == {1: "ingested", 2: "published"}


def test_a_reviewer_of_no_agency_has_no_queue(client, joint_agencies, database):
    from core.db import session_scope
    from core.users import upsert_user
    from tests.fixtures_joint_review import login

    with session_scope() as session:
        upsert_user(session, "jr-nobody", "jr-nobody-pw", "engineer")
    answer = client.get(f"{BASE}/queue", headers=login(client, "jr-nobody", "jr-nobody-pw"))
    assert answer.status_code == 403 and "no agency" in answer.json()["detail"]
