"""PDF drawings beside the model (issue 18 item 2): a submission's PDFs are listed with their page
counts and served as received; an agency reviewer's issue points at a page and a region (and an
element); the drawing page (pdf.js in Debian's Chromium) opens the issue's drawing at its page with
the region outlined over the red box the PDF carries there."""

from __future__ import annotations

import base64
import hashlib
import io
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from tests.fixtures_joint_review import DRAWING_REGION

BASE = "/api/v1/reviews/submissions"
HEADER_ONLY_IFC = (
    b"ISO-10303-21;\nHEADER;FILE_DESCRIPTION(('ViewDefinition'),'2;1');FILE_NAME('m.ifc','',(''),(''),'','','');"
    b"FILE_SCHEMA(('IFC4'));ENDSEC;\nDATA;\nENDSEC;\nEND-ISO-10303-21;\n"
)


def _fire_part(drawing_submission) -> dict:
    return next(p for p in drawing_submission.document["agencies"] if p["drawing_type"] == "fire")


def test_drawings_are_listed_with_their_pages_and_served_as_received(client, drawing_submission, joint_agencies):
    headers = joint_agencies.headers["fire"]
    listed = client.get(f"{BASE}/{drawing_submission.id}/drawings", headers=headers).json()
    expected_pages = {"A-101 平面图.pdf": 3, "S-201 结构.pdf": 1}
    assert [(d["index"], d["name"], d["pages"]) for d in listed] == [
        (i, name, expected_pages[name]) for i, name in enumerate(drawing_submission.pdfs)
    ]
    for entry, data in zip(listed, drawing_submission.pdfs.values(), strict=True):
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
        served = client.get(f"{BASE}/{drawing_submission.id}/drawings/{entry['index']}", headers=headers)
        assert served.status_code == 200 and served.headers["content-type"] == "application/pdf"
        assert served.content == data
    assert client.get(f"{BASE}/{drawing_submission.id}/drawings/2", headers=headers).status_code == 404
    assert client.get(f"{BASE}/{drawing_submission.id}/drawings/0").status_code == 401


def test_an_unreadable_pdf_is_refused_at_the_window(client, review_site, joint_agencies, tmp_path):
    answer = client.post(
        BASE,
        headers=joint_agencies.submitter,
        data={"project": review_site.project},
        files=[
            ("file", ("m.ifc", HEADER_ONLY_IFC)),
            ("pdfs", ("broken.pdf", b"%PDF-1.4\nnot really a pdf", "application/pdf")),
        ],
    )
    assert answer.status_code in (400, 422), answer.text
    assert "broken.pdf" in answer.json()["detail"]


def test_a_reviewer_points_an_issue_at_a_page_region_and_an_element(client, drawing_submission, joint_agencies):
    part = _fire_part(drawing_submission)
    url = f"{BASE}/{drawing_submission.id}/reviews/{part['review_id']}/issues"
    headers = joint_agencies.headers["fire"]
    wall = drawing_submission.wall_global_id
    body = {
        "drawing": 0,
        "page": 2,
        "region": list(DRAWING_REGION),
        "message": "防火门位置与模型不符",
        "global_id": wall,
    }
    posted = client.post(url, headers=headers, json=body)
    assert posted.status_code == 201, posted.text
    issue = posted.json()
    assert issue["details"]["drawing"] == {
        "index": 0,
        "name": "A-101 平面图.pdf",
        "page": 2,
        "region": list(DRAWING_REGION),
    }
    assert issue["severity"] == "error" and issue["resolved"] is False
    assert (issue["global_id"], issue["ifc_class"]) == (wall, "IfcWall")
    shown = client.get(f"/api/v1/reviews/{part['review_id']}", headers=headers).json()["issues"]
    assert [i["details"].get("drawing") for i in shown if i["id"] == issue["id"]] == [issue["details"]["drawing"]]

    # refused: a page the drawing lacks, a region outside the page, an element the model lacks,
    # another agency's reviewer, a drawing the submission lacks
    for bad, status in (
        ({"page": 4}, 400),
        ({"region": [0.5, 0.5, 1.2, 0.6]}, 400),
        ({"region": [0.6, 0.5, 0.5, 0.6]}, 400),
        ({"global_id": "0000000000000000000000"}, 400),
        ({"drawing": 5}, 404),
    ):
        answer = client.post(url, headers=headers, json=body | bad)
        assert answer.status_code == status, (bad, answer.text)
    assert client.post(url, headers=joint_agencies.headers["civil_defence"], json=body).status_code == 403
    kept = client.get(f"/api/v1/reviews/{part['review_id']}", headers=headers).json()["issues"]
    assert len([i for i in kept if i["rule"] == "drawing.markup"]) == 1


def test_the_drawing_page_opens_the_issues_page_with_its_region_outlined(
    client, drawing_submission, joint_agencies, review_pages_server, run_page
):
    part = _fire_part(drawing_submission)
    headers = joint_agencies.headers["fire"]
    issue = client.post(
        f"{BASE}/{drawing_submission.id}/reviews/{part['review_id']}/issues",
        headers=headers,
        json={
            "drawing": 0,
            "page": 2,
            "region": list(DRAWING_REGION),
            "message": "楼梯间疏散宽度不足",
            "severity": "warning",
        },
    ).json()
    token = headers["Authorization"].removeprefix("Bearer ")
    query = f"submission={drawing_submission.id}&review={part['review_id']}&issue={issue['id']}"
    url = f"{review_pages_server}drawing.html?{query}"
    probe = """(() => {
      const canvas = document.getElementById('pdf-canvas');
      const c = canvas.getBoundingClientRect();
      const wanted = new URLSearchParams(location.search).get('issue');
      const marker = document.querySelector(`.marker[data-issue="${wanted}"]`);
      const m = marker.getBoundingClientRect();
      return {page: window.cimDrawing.page, pages: window.cimDrawing.pages, drawing: window.cimDrawing.drawing,
              label: document.getElementById('page-label').textContent, current: marker.classList.contains('current'),
              canvas: [c.left, c.top, c.width, c.height], marker: [m.left, m.top, m.width, m.height],
              png: canvas.toDataURL('image/png')};
    })()"""
    report = run_page(url, token, "jr-fire", "window.cimDrawing && window.cimDrawing.ready", probe, "drawing-issue")
    assert report["outside"] == [] and report["console_errors"] == [] and report["failed"] == []
    probe = report["probe"]
    assert (probe["page"], probe["pages"], probe["drawing"]) == (2, 3, 0)
    assert probe["label"] == "第 2 / 3 页" and probe["current"] is True
    assert any(urlsplit(r).path.startswith("/vendor/pdfjs/build/pdf.worker") for r in report["requests"])
    # the marker sits on the region, in page fractions of the drawn canvas
    left, top, width, height = probe["canvas"]
    x0, y0, x1, y1 = DRAWING_REGION
    expected = [left + x0 * width, top + y0 * height, (x1 - x0) * width, (y1 - y0) * height]
    assert np.allclose(probe["marker"], expected, atol=1.5), (probe["marker"], expected)
    # and pdf.js drew page 2: the red box the PDF carries on that page fills the region's inside
    pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(probe["png"].split(",", 1)[1]))).convert("RGB"))
    h, w, _ = pixels.shape
    inside = pixels[int((y0 + 0.02) * h) : int((y1 - 0.02) * h), int((x0 + 0.02) * w) : int((x1 - 0.02) * w)]
    red = (inside[..., 0] > 200) & (inside[..., 1] < 60) & (inside[..., 2] < 60)
    assert red.mean() > 0.95
    outside = pixels[int(0.6 * h) : int(0.8 * h), int(0.1 * w) : int(0.3 * w)]
    assert ((outside[..., 0] > 200) & (outside[..., 1] < 60)).mean() == 0
