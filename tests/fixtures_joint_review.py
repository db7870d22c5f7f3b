"""Test fixtures for the joint drawing review (loaded by tests/conftest.py): four review agencies
of the test's own, a reviewer in each, every drawing type of a building project routed to one,
and a clock the API reads (its dependency overridden)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
DRAWING_TYPES = json.loads((ROOT / "bim_ingest" / "review" / "data" / "drawing_types.json").read_text("utf-8"))


@dataclass
class Agencies:
    by_type: dict[str, str]  # drawing type -> agency USCC
    headers: dict[str, dict[str, str]]  # drawing type -> its reviewer's bearer header
    submitter: dict[str, str]


@pytest.fixture(scope="session")
def joint_agencies(client, database, sample_city) -> Agencies:
    from bim_ingest.review import submissions
    from core.db import session_scope
    from core.users import upsert_user

    by_type, headers = {}, {}
    for i, drawing_type in enumerate(DRAWING_TYPES["project_types"]["building"]):
        uscc = f"91320400TESTRV{i:03d}X"
        with database.begin() as conn:
            conn.execute(
                text(
                    """INSERT INTO enterprise (uscc, name, type, status) VALUES (:u, :n, 'review_agency', 'active')
                       ON CONFLICT (uscc) DO NOTHING"""
                ),
                {"u": uscc, "n": f"测试{DRAWING_TYPES['drawing_types'][drawing_type]['zh']}审查中心"},
            )
        username = f"jr-{drawing_type}"
        with session_scope() as session:
            upsert_user(session, username, f"{username}-pw", "engineer")
        submissions.add_member(uscc, username)
        submissions.set_route(drawing_type, uscc)
        by_type[drawing_type] = uscc
        headers[drawing_type] = login(client, username, f"{username}-pw")
    with session_scope() as session:
        upsert_user(session, "jr-applicant", "jr-applicant-pw", "planner")
    return Agencies(by_type, headers, login(client, "jr-applicant", "jr-applicant-pw"))


def login(client, username: str, password: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


class Clock:
    """The API's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def api_clock(client):
    from spatial_api.routers.review_submissions import clock

    fixed = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    client.app.dependency_overrides[clock] = fixed
    yield fixed
    client.app.dependency_overrides.pop(clock, None)


def finished_job(client, headers: dict[str, str], job_url: str, timeout_s: float = 240.0) -> dict:
    """Poll a job until it ends (the queue worker runs it); its record."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(job_url, headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_url} did not finish in {timeout_s} s")


MINIMAL_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
