"""Test fixtures for the joint drawing review (loaded by tests/conftest.py): four review agencies
of the test's own, a reviewer in each, every drawing type of a building project routed to one,
and a clock the API reads (its dependency overridden)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import ifcopenshell
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


def drawing_pdf(pages: int, marks: dict[int, tuple[float, float, float, float]] | None = None) -> bytes:
    """A PDF drawing of ``pages`` A3 landscape pages, each titled with its number; ``marks`` fills a
    red box on a page (from 1) at a region given as fractions of the page from its top left."""
    from reportlab.lib.pagesizes import A3, landscape
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    width, height = landscape(A3)
    drawing = canvas.Canvas(out, pagesize=(width, height))
    for page in range(1, pages + 1):
        drawing.setFont("Helvetica", 28)
        drawing.drawString(40, height - 60, f"A-10{page} sheet {page} of {pages}")
        drawing.rect(20, 20, width - 40, height - 40)
        if page in (marks or {}):
            x0, y0, x1, y1 = marks[page]  # type: ignore[index]
            drawing.setFillColorRGB(1, 0, 0)
            drawing.rect(x0 * width, (1 - y1) * height, (x1 - x0) * width, (y1 - y0) * height, stroke=0, fill=1)
            drawing.setFillColorRGB(0, 0, 0)
        drawing.showPage()
    drawing.save()
    return out.getvalue()


MINIMAL_PDF = drawing_pdf(1)


# The drawing test's PDF: sheet 2 of 3 carries a red box where the reviewer's issue points.
DRAWING_REGION = (0.55, 0.30, 0.75, 0.45)


@dataclass
class DrawingSubmission:
    id: int
    pdfs: dict[str, bytes]  # file name -> bytes, in upload order
    document: dict
    wall_global_id: str  # an element of the submitted model


@pytest.fixture(scope="session")
def drawing_submission(client, review_site, joint_agencies, tmp_path_factory) -> DrawingSubmission:
    """A building submission received with two PDF drawings (3 sheets, the second marked; 1 sheet)."""
    from sample_models.review_models import author_review_model
    from tests.fixtures_review import spot_placement

    folder = tmp_path_factory.mktemp("drawings")
    model = author_review_model(
        folder / "drawings.ifc", storeys=1, joint_review=True, **spot_placement(review_site, name="Drawings")
    )["path"]
    pdfs = {"A-101 平面图.pdf": drawing_pdf(3, {2: DRAWING_REGION}), "S-201 结构.pdf": drawing_pdf(1)}
    with open(model, "rb") as fh:
        answer = client.post(
            "/api/v1/reviews/submissions",
            headers=joint_agencies.submitter,
            data={"project": review_site.project},
            files=[("file", (model.name, fh))] + [("pdfs", (n, b, "application/pdf")) for n, b in pdfs.items()],
        )
    assert answer.status_code == 202, answer.text
    job = finished_job(client, joint_agencies.submitter, answer.json()["job"])
    assert job["status"] == "succeeded", job
    submission_id = job["result"]["submission_id"]
    document = client.get(f"/api/v1/reviews/submissions/{submission_id}", headers=joint_agencies.submitter).json()
    wall = ifcopenshell.open(str(model)).by_type("IfcWall")[0].GlobalId
    return DrawingSubmission(submission_id, pdfs, document, wall)


@pytest.fixture(scope="session")
def run_page(run_e2e: Callable[..., dict]) -> Callable[..., dict]:
    """Open a review page in Chromium as a signed-in user (tests/e2e/review_page.mjs); its report."""

    def run(url: str, token: str, username: str, ready: str, probe: str, shot: str) -> dict:
        user = {"username": username, "role": "engineer"}
        return run_e2e(
            url, script="review_page.mjs", timeout_s=180, token=token, user=user, ready=ready, probe=probe, shot=shot
        )

    return run


@pytest.fixture(scope="session")
def review_pages_server(e2e_tools, database, tmp_path_factory) -> Iterator[str]:
    """`cim serve` for the review pages (drawing.html needs pdf.js from npm)."""
    from spatial_api.local_server import free_port, stop
    from tests.fixtures_viewer import start_server

    if not (ROOT / "node_modules" / "pdfjs-dist" / "build" / "pdf.min.mjs").exists():
        pytest.skip("pdfjs-dist is not installed: run `make npm`")
    port = free_port()
    # its start-up warms a connection pool and the terrain: minutes when the machine is loaded
    process = start_server(port, tmp_path_factory.mktemp("review-pages") / "serve.log", timeout_s=300)
    yield f"http://127.0.0.1:{port}/"
    stop(process)
