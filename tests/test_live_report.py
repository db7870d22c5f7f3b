"""The event report as a PDF (headless Chromium) read back with pypdf: it names the valves the sheet
lists and draws the map; the event list filtered by type, status, time and district, exported as XLSX."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import openpyxl
import pypdf
import pytest
import shapely

pytestmark = pytest.mark.usefixtures("sample_city")
API = "/api/v1/events"


@pytest.fixture(scope="module")
def two_events(client, role_headers, rows, to_lonlat) -> list[dict]:
    """A gas leak on a gas pipe (district 甲区) and a fire at a building (district 乙区)."""
    pipe = rows(
        """SELECT p.id, ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(p.geom), 0.5)) AS wkb_mid FROM pipeline p
            WHERE p.utility = 'gas' ORDER BY ST_Length(p.geom) DESC, p.id LIMIT 1"""
    )[0]
    building = rows("SELECT ST_AsBinary(ST_Centroid(footprint)) AS wkb_c FROM building ORDER BY code LIMIT 1")[0]
    bodies = [
        {"type": "gas_leak", "pipe_id": pipe["id"], "location": pipe["wkb_mid"], "district": "甲区"},
        {"type": "fire", "location": building["wkb_c"], "district": "乙区"},
    ]
    made = []
    for body in bodies:
        body = {**body, "location": shapely.geometry.mapping(to_lonlat(body["location"])), "source": "市应急指挥中心"}
        answer = client.post(API, json=body, headers=role_headers["emergency"])
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    return made


def test_the_pdf_report_names_the_valves_and_draws_the_map(client, role_headers, two_events):
    leak = two_events[0]
    valves = [v["id"] for v in leak["event"]["action_sheet"]["valves"]["to_close"]]
    assert valves
    answer = client.get(f"{API}/{leak['id']}/report", params={"format": "pdf"}, headers=role_headers["engineer"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf" and answer.content.startswith(b"%PDF")
    reader = pypdf.PdfReader(io.BytesIO(answer.content))
    words = "".join(page.extract_text() for page in reader.pages)
    assert all(v in words for v in valves), (valves, words[:2000])
    assert "关阀顺序" in words and f"#{leak['id']}" in words
    # The map: the valves are drawn in the SVG's valve blue (#1565c0), filled, as Chromium writes colours.
    drawn = b"".join(page.get_contents().get_data() for page in reader.pages)
    blue = rb"0?\.0824 0?\.3961 0?\.7529 rg"
    assert len(re.findall(blue, drawn)) >= 1
    assert client.get(f"{API}/{leak['id']}/report", params={"format": "doc"}).status_code in (401, 422)


def test_the_event_list_filters_and_exports_xlsx(client, role_headers, two_events, rows):
    headers = role_headers["engineer"]
    ids = {e["id"] for e in two_events}

    def listed(**params) -> list[int]:
        answer = client.get(API, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [e["id"] for e in answer.json()]

    expect = rows(
        "SELECT id FROM emergency_event WHERE params->>'district' = '甲区' ORDER BY reported_at DESC, id DESC"
    )
    assert listed(district="甲区") == [r["id"] for r in expect] and two_events[0]["id"] in listed(district="甲区")
    assert two_events[1]["id"] not in listed(district="甲区")
    assert set(listed(type="fire", district="乙区")) == {two_events[1]["id"]} | {
        r["id"] for r in rows("SELECT id FROM emergency_event WHERE type = 'fire' AND params->>'district' = '乙区'")
    }
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    assert not ids & set(listed(since=later)) and ids <= set(listed(until=later, status="open"))
    assert not ids & set(listed(status="closed"))

    answer = client.get(API, params={"format": "xlsx", "district": "乙区"}, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    table = list(book.active.iter_rows(values_only=True))
    assert table[0][:3] == ("编号 ID", "类型 Type", "等级 Severity")
    assert [r[0] for r in table[1:]] == listed(district="乙区")
    assert all(r[4] == "乙区" for r in table[1:])
