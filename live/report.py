"""An event's action sheet and timeline as one printable HTML page, with an SVG map of the zone
(buildings, valves to close, hydrants, the fire engines' route) drawn from the store's geometries,
and as a PDF (the page printed by Debian's headless Chromium); the event list as an XLSX sheet.
Labels in Chinese first."""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import openpyxl
import shapely
from sqlalchemy import Connection, text

from core.errors import UserError
from gis.analysis.inputs import srid
from gis.crs import crs84_to_store

MAP_W, MAP_H = 640, 420
STEP_LABELS = {
    "intake": "接报 Intake",
    "overlay": "分析 Overlay",
    "dispatch": "派单 Dispatch",
    "feedback": "反馈 Feedback",
    "close": "结案 Close",
}


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The event list's columns in the XLSX export: (key, Chinese heading with English).
EVENT_COLUMNS = (
    ("id", "编号 ID"),
    ("type", "类型 Type"),
    ("severity", "等级 Severity"),
    ("status", "状态 Status"),
    ("district", "行政区 District"),
    ("source", "来源 Source"),
    ("reporter", "报告人 Reporter"),
    ("reported_at", "接报时间 Reported"),
    ("closed_at", "结案时间 Closed"),
    ("lon", "经度 Lon"),
    ("lat", "纬度 Lat"),
    ("tasks", "任务数 Tasks"),
    ("open_tasks", "未完成 Open tasks"),
)
PDF_TIMEOUT_S = 120


class ReportUnavailable(UserError):
    """The PDF printer (Chromium) is not installed or failed."""

    status_code = 503


def _svg(conn: Connection, zone: shapely.Geometry, valve_ids: list[str], sheet: dict) -> str:
    minx, miny, maxx, maxy = zone.bounds
    scale = min(MAP_W / max(maxx - minx, 1.0), MAP_H / max(maxy - miny, 1.0))

    def path(geom: shapely.Geometry) -> str:
        parts = []
        for poly in getattr(geom, "geoms", [geom]):
            ring = poly.exterior.coords if hasattr(poly, "exterior") else poly.coords
            parts.append(
                "M" + " L".join(f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}" for x, y, *_ in ring) + "Z"
            )
        return " ".join(parts)

    params = {"wkb": shapely.to_wkb(zone), "srid": srid()}
    footprints = conn.execute(
        text("SELECT ST_AsBinary(footprint) FROM building WHERE ST_Intersects(footprint, ST_GeomFromWKB(:wkb, :srid))"),
        params,
    ).scalars()
    valves = conn.execute(text("SELECT ST_X(geom), ST_Y(geom) FROM pipe_node WHERE id = ANY(:ids)"), {"ids": valve_ids})
    shapes = [f'<path d="{path(zone)}" fill="#fde8e8" stroke="#c62828" stroke-width="2"/>']
    shapes += [f'<path d="{path(shapely.from_wkb(bytes(f)))}" fill="#90a4ae" stroke="#455a64"/>' for f in footprints]
    shapes += [
        f'<circle cx="{(x - minx) * scale:.1f}" cy="{(maxy - y) * scale:.1f}" r="5" fill="#1565c0"/>' for x, y in valves
    ]
    to_store = crs84_to_store()
    for h in sheet.get("hydrants", []):
        x, y = to_store.transform(h["lon"], h["lat"])
        left, top = (x - minx) * scale - 4, (maxy - y) * scale - 4
        shapes.append(f'<rect x="{left:.1f}" y="{top:.1f}" width="8" height="8" fill="#d32f2f"/>')
    route = (sheet.get("fire_access") or {}).get("route") or []
    if route:
        points = " ".join(
            f"{(x - minx) * scale:.1f},{(maxy - y) * scale:.1f}"
            for x, y in (to_store.transform(lon, lat) for lon, lat in route)
        )
        shapes.append(f'<polyline points="{points}" fill="none" stroke="#ef6c00" stroke-width="3"/>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{MAP_W}" height="{MAP_H}">{"".join(shapes)}</svg>'


def _table(headers: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c if c is not None else ''))}</td>" for c in r) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def html(conn: Connection, event: dict) -> str:
    """The report page of an event (as returned by ``live.events.get``)."""
    sheet = event["action_sheet"]
    valves = sheet.get("valves", {})
    sections = [
        f"<h1>应急事件报告 Emergency event report #{event['id']}</h1>",
        f"<p>{escape(sheet.get('label', {}).get('zh', event['type']))} / {escape(event['type'])} · "
        f"等级 Severity: {escape(str(event['severity']))} · 来源 Source: {escape(str(event['source']))} · "
        f"报告人 Reporter: {escape(str(event['reporter']))} · 状态 Status: {escape(event['status'])}</p>",
        _svg(conn, event["zone"], [v["id"] for v in valves.get("to_close", [])], sheet)
        if event["zone"] is not None
        else "",
        "<h2>处置单 Action sheet</h2>",
        f"<p>影响建筑 Buildings: {len(sheet.get('buildings', []))} · 居民 Residents: {sheet.get('residents', '')} · "
        f"在建工地 Construction sites: {len(sheet.get('construction_sites', []))}</p>",
    ]
    if valves:
        sections.append("<h3>关阀顺序 Valves to close</h3>")
        sections.append(
            _table(
                ["序 Order", "阀门 Valve", "管网距离 Network distance (m)"],
                [[v["order"], v["id"], v["network_distance_m"]] for v in valves["to_close"]],
            )
        )
        if valves.get("note"):
            sections.append(f"<p class='note'>{escape(valves['note'])}</p>")
    if access := sheet.get("fire_access"):
        sections.append("<h3>消防车通道 Fire-engine access</h3>")
        if access.get("roads"):
            sections.append(
                f"<p>路线长度 Route: {access['route_m']} m · 道路宽度不小于 Roads at least "
                f"{access['min_road_width_m']} m wide · 停靠点距火点 Reach to fire: {access['reach_to_fire_m']} m</p>"
            )
            sections.append(
                _table(
                    ["道路 Road", "名称 Name", "宽度 Width (m)"],
                    [[r["code"], r["name"], r["width_m"]] for r in access["roads"]],
                )
            )
        else:
            sections.append(f"<p class='note'>{escape(access.get('note', ''))}</p>")
    if "hydrants" in sheet:
        sections.append(f"<h3>消火栓（{sheet['hydrant_reach_m']:.0f} 米内）Hydrants within reach</h3>")
        sections.append(
            _table(["消火栓 Hydrant", "距离 Distance (m)"], [[h["id"], h["distance_m"]] for h in sheet["hydrants"]])
        )
    if sheet.get("compartments"):
        sections.append("<h3>管廊舱室 Tunnel compartments</h3>")
        sections.append(
            _table(
                ["舱室 Compartment", "名称 Name", "措施 Action"],
                [[c["id"], c["name"], c["action"]] for c in sheet["compartments"]],
            )
        )
    if "earthquake" in sheet:
        sections.append("<h3>易损性排序 Buildings by vulnerability</h3>")
        sections.append(
            _table(
                [
                    "排名 Rank",
                    "建筑 Building",
                    "结构 Structure",
                    "年代 Year",
                    "安全等级 Grade",
                    "得分 Score",
                    "人数 People",
                ],
                [
                    [
                        b["rank"],
                        b["code"],
                        b["structure"],
                        b["year_built"],
                        b["safety_grade"],
                        b["score"],
                        b["residents"],
                    ]
                    for b in sheet["earthquake"]["buildings_ranked"]
                ],
            )
        )
    sections.append("<h2>任务 Tasks</h2>")
    sections.append(
        _table(
            ["任务 Task", "对象 Target", "角色 Role", "时限 Due", "状态 Status", "反馈 Feedback"],
            [[t["action"], t["target"], t["role"], t["due_at"], t["status"], t["feedback"]] for t in event["tasks"]],
        )
    )
    sections.append("<h2>时间线 Timeline</h2>")
    sections.append(
        _table(
            ["时间 Time", "环节 Step", "用户 User"],
            [[s["at"], STEP_LABELS.get(s["step"], s["step"]), s["username"]] for s in event["timeline"]],
        )
    )
    if event.get("summary"):
        sections.append(f"<h2>总结 Summary</h2><p>{escape(event['summary'])}</p>")
    style = (
        "body{font-family:'WenQuanYi Micro Hei',sans-serif;margin:24px}table{border-collapse:collapse;margin:8px 0}"
        "td,th{border:1px solid #999;padding:3px 8px;font-size:13px}.note{color:#b71c1c}"
        "@media print{svg{max-width:100%}}"
    )
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>事件 {event['id']}</title>"
        f"<style>{style}</style></head><body>{''.join(sections)}</body></html>"
    )


def pdf(page: str) -> bytes:
    """The report page printed to PDF by headless Chromium (``scripts/install_system.sh`` installs it)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise ReportUnavailable("the PDF report needs Chromium: run `bash scripts/install_system.sh`")
    with tempfile.TemporaryDirectory(prefix="cim-report-") as tmp:
        source, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        source.write_text(page, encoding="utf-8")
        args = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp}/profile",
            "--no-pdf-header-footer",
            f"--print-to-pdf={out}",
            source.as_uri(),
        ]
        done = subprocess.run(args, capture_output=True, timeout=PDF_TIMEOUT_S, check=False)
        if not out.exists() or out.stat().st_size == 0:
            raise ReportUnavailable(f"Chromium did not print the report: {done.stderr.decode(errors='replace')[-500:]}")
        return out.read_bytes()


def events_xlsx(rows: list[dict]) -> bytes:
    """The event list as one XLSX sheet, Chinese headings first."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "应急事件"
    sheet.append([heading for _, heading in EVENT_COLUMNS])
    for row in rows:
        sheet.append([_cell(row.get(key)) for key, _ in EVENT_COLUMNS])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: object) -> object:
    """Times in UTC without their zone (XLSX has none)."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
