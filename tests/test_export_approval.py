"""Second-person approval of personal data going out: a personal (or too large) export is held until
another approver decides, the requester can never approve it, a rejection ends it unrun; seeing more
people unmasked than the threshold needs an approved view grant. Every step leaves an audit row."""

from __future__ import annotations

import csv
import io
import time

import pytest

from core.settings import get_settings
from tests.fixtures_bim import _token_of

EXPORTS = "/api/v1/exports"
APPROVALS = "/api/v1/approvals"


def audit_rows(rows, username: str, action: str, since: int) -> list[dict]:
    sql = "SELECT action, object, result, detail FROM audit_log WHERE id > :s AND username = :u AND action = :a"
    return rows(f"{sql} ORDER BY id", s=since, u=username, a=action)


def last_audit_id(rows) -> int:
    return rows("SELECT coalesce(max(id), 0) AS n FROM audit_log")[0]["n"]


def wait_done(client, headers, export_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    job = client.get(f"{EXPORTS}/{export_id}", headers=headers).json()
    while job["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.get(f"{EXPORTS}/{export_id}", headers=headers).json()
    return job


@pytest.fixture(scope="module")
def people(database, rows, sample_city) -> list[dict]:
    return rows("SELECT id, name FROM person ORDER BY id LIMIT 3")


@pytest.fixture(scope="module")
def second_admin(database) -> dict[str, str]:
    return _token_of("approver-two", "admin")


def test_personal_export_waits_for_a_second_person(client, rows, role_headers, second_admin, people) -> None:
    requester = role_headers["admin"]
    since = last_audit_id(rows)
    name = people[0]["name"]
    query = {"source": "search", "q": name, "kind": ["person"]}
    response = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=requester)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "pending_approval" and job["requires_approval"] and job["personal"]
    assert job["approval_status"] == "pending"
    stored = rows("SELECT status, queue_job_id FROM job WHERE id = CAST(:i AS uuid)", i=job["id"])[0]
    assert stored == {"status": "pending_approval", "queue_job_id": None}  # not on the queue
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=requester).json()["status"] == "pending_approval"
    assert client.get(f"{EXPORTS}/{job['id']}/file", headers=requester).status_code == 400

    # The requester cannot approve; nor can a role that does not approve.
    own = client.post(f"{APPROVALS}/{job['approval']}/approve", headers=requester)
    assert own.status_code == 403 and "second person" in own.json()["detail"]
    not_approver = client.post(f"{APPROVALS}/{job['approval']}/approve", headers=role_headers["emergency"])
    assert not_approver.status_code == 403
    assert client.get(f"{EXPORTS}/{job['id']}", headers=requester).json()["status"] == "pending_approval"
    # The approver sees it among the pending requests.
    pending = client.get(APPROVALS, params={"status": "pending"}, headers=second_admin).json()
    assert job["approval"] in {a["id"] for a in pending}

    decided = client.post(f"{APPROVALS}/{job['approval']}/approve", json={"note": "case 17"}, headers=second_admin)
    assert decided.status_code == 200, decided.text
    assert decided.json()["decided_by"] == "approver-two" and decided.json()["status"] == "approved"
    again = client.post(f"{APPROVALS}/{job['approval']}/approve", headers=second_admin)
    assert again.status_code == 400  # decided once

    done = wait_done(client, requester, job["id"])
    assert done["status"] == "succeeded" and done["approval_status"] == "approved"
    content = client.get(done["file"], headers=requester).content
    table = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    expected = {r["id"] for r in rows("SELECT id FROM person WHERE name = :n", n=name)}
    assert {r["编号"] for r in table} >= expected and {r["类别"] for r in table} == {"人员"}  # Chinese headers

    assert len(audit_rows(rows, "admin", "export_personal", since)) == 1
    assert len(audit_rows(rows, "admin", "approval_request", since)) == 1
    refused = audit_rows(rows, "admin", "approval_approve", since)
    assert [r["result"] for r in refused] == ["refused"]
    approved = audit_rows(rows, "approver-two", "approval_approve", since)
    assert [r["result"] for r in approved] == ["ok", "refused"] and job["approval"] in approved[0]["object"]


def test_rejected_export_never_runs(client, rows, role_headers, second_admin, people) -> None:
    requester = role_headers["admin"]
    since = last_audit_id(rows)
    query = {"source": "search", "q": people[1]["name"], "kind": ["person"]}
    job = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=requester).json()
    rejected = client.post(f"{APPROVALS}/{job['approval']}/reject", json={"note": "no case"}, headers=second_admin)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    answer = client.get(f"{EXPORTS}/{job['id']}", headers=requester).json()
    assert answer["status"] == "rejected" and "no case" in answer["error"] and answer["file"] is None
    stored = rows("SELECT status, queue_job_id, result FROM job WHERE id = CAST(:i AS uuid)", i=job["id"])[0]
    assert stored == {"status": "rejected", "queue_job_id": None, "result": None}
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=requester).json()["status"] == "rejected"
    assert client.post(f"{APPROVALS}/{job['approval']}/approve", headers=second_admin).status_code == 400
    assert [r["result"] for r in audit_rows(rows, "approver-two", "approval_reject", since)] == ["ok"]


def test_large_export_is_held(client, rows, role_headers, monkeypatch, sample_city) -> None:
    total = rows("SELECT count(*) AS n FROM building")[0]["n"]
    query = {"source": "collection", "collection": "buildings", "properties": ["address"]}
    monkeypatch.setattr(get_settings(), "export_approval_rows", total - 1)
    held = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=role_headers["planner"]).json()
    assert held["status"] == "pending_approval" and not held["personal"] and held["requires_approval"]
    assert str(total) in rows("SELECT what FROM approval WHERE id = CAST(:i AS uuid)", i=held["approval"])[0]["what"]
    monkeypatch.setattr(get_settings(), "export_approval_rows", total)
    free = client.post(EXPORTS, json={"query": query, "format": "csv"}, headers=role_headers["planner"]).json()
    assert free["status"] != "pending_approval" and not free["requires_approval"] and free["approval"] is None


def test_views_past_the_threshold_need_a_grant(client, rows, second_admin, people, monkeypatch) -> None:
    viewer = _token_of("view-counter", "emergency")
    monkeypatch.setattr(get_settings(), "personal_view_threshold", 2)
    since = last_audit_id(rows)
    seen = 0
    for person in people[:2]:
        response = client.get(f"/api/v1/profiles/person/{person['id']}", headers=viewer)
        assert response.status_code == 200, response.text
        seen += 1
    assert seen == 2
    refused = client.get(f"/api/v1/profiles/person/{people[2]['id']}", headers=viewer)
    assert refused.status_code == 403 and "approval" in refused.json()["detail"]
    reads = audit_rows(rows, "view-counter", "read_profile", since)
    assert [(r["result"], r["detail"]["personal_records"]) for r in reads] == [("ok", 1), ("ok", 1), ("refused", 1)]

    asked = client.post(APPROVALS, json={"kind": "view", "reason": "flood evacuation list"}, headers=viewer)
    assert asked.status_code == 201, asked.text
    grant = asked.json()
    assert client.post(f"{APPROVALS}/{grant['id']}/approve", headers=viewer).status_code == 403
    assert client.get(f"/api/v1/profiles/person/{people[2]['id']}", headers=viewer).status_code == 403
    approved = client.post(f"{APPROVALS}/{grant['id']}/approve", headers=second_admin).json()
    assert approved["status"] == "approved" and approved["valid_until"] is not None
    assert client.get(f"/api/v1/profiles/person/{people[2]['id']}", headers=viewer).status_code == 200
    # A role that sees people masked is never counted nor held.
    masked = _token_of("view-masked", "planner")
    for person in people:
        assert client.get(f"/api/v1/profiles/person/{person['id']}", headers=masked).status_code == 200
