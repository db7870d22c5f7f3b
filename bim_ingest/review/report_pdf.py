"""An agency's review decision as a PDF (审查意见书), Chinese first, set in WenQuanYi Micro Hei
(Debian fonts-wqy-microhei); the seal module signs it."""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.errors import UserError

FONT_FILE = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT = "WenQuanYiMicroHei"
MAX_ISSUES = 200


@lru_cache(maxsize=1)
def _font() -> str:
    if not FONT_FILE.exists():
        raise UserError(f"the Chinese font {FONT_FILE} is missing: run scripts/install_system.sh (fonts-wqy-microhei)")
    pdfmetrics.registerFont(TTFont(FONT, str(FONT_FILE), subfontIndex=0))
    return FONT


def _styles() -> dict[str, ParagraphStyle]:
    font = _font()
    return {
        "title": ParagraphStyle("title", fontName=font, fontSize=16, leading=22, spaceAfter=8),
        "body": ParagraphStyle("body", fontName=font, fontSize=9.5, leading=13),
        "small": ParagraphStyle("small", fontName=font, fontSize=8, leading=10.5),
    }


def decision_pdf(part: dict[str, Any], review: dict[str, Any], html_sha256: str) -> bytes:
    """The decision of one agency on its part of a submission (``part`` from
    :func:`submissions.submission_document`, ``review`` from :func:`service.review_document`)."""
    s = _styles()
    decision = part.get("decision") or {}
    action = {"approve": "审查通过 Passed", "return": "退回修改 Returned for correction"}.get(
        decision.get("action", ""), ""
    )
    report = review.get("report") or {}
    counts = report.get("counts") or {}
    facts = [
        ("项目 Project", review["project_code"]),
        ("审查机构 Agency", f"{part.get('agency_name') or ''} ({part['agency']})"),
        ("图纸类别 Drawing type", f"{part['drawing_type_label']['zh']} {part['drawing_type_label']['en']}"),
        ("轮次 Round", str(part["round"])),
        (
            "模型 Model",
            f"{review.get('file_name')} · {review.get('schema')} · version {review.get('model_version_id')}",
        ),
        ("结论 Decision", action),
        ("审查人 Reviewer", str(decision.get("by") or "")),
        ("时间 Decided at", str(decision.get("at") or "")),
        ("意见 Comment", str(decision.get("comment") or "")),
        ("自动检查 Checks", f"{counts.get('errors', 0)} errors, {counts.get('warnings', 0)} warnings"),
        ("HTML 报告 SHA-256", html_sha256),
    ]
    story = [
        Paragraph(f"审查意见书 Review decision · 审查 {review['id']}", s["title"]),
        Table(
            [[Paragraph(k, s["body"]), Paragraph(v, s["body"])] for k, v in facts],
            colWidths=[38 * mm, 132 * mm],
            style=TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]),
        ),
        Spacer(1, 6 * mm),
    ]
    issues = review.get("issues") or []
    if issues:
        rows = [[Paragraph(h, s["small"]) for h in ("#", "规则 Rule", "构件 Element", "说明 Message", "处理 Resolved")]]
        for issue in issues[:MAX_ISSUES]:
            rows.append(
                [
                    Paragraph(str(issue["id"]), s["small"]),
                    Paragraph(issue["rule"], s["small"]),
                    Paragraph(f"{issue.get('ifc_class') or ''} {issue.get('global_id') or ''}", s["small"]),
                    Paragraph(issue["message"][:600], s["small"]),
                    Paragraph("✔" if issue.get("resolved") else "", s["small"]),
                ]
            )
        story.append(
            Table(
                rows,
                colWidths=[10 * mm, 35 * mm, 40 * mm, 75 * mm, 12 * mm],
                repeatRows=1,
                style=TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]),
            )
        )
        if len(issues) > MAX_ISSUES:
            story.append(Paragraph(f"… {len(issues) - MAX_ISSUES} more issues in the HTML report", s["small"]))
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer, pagesize=A4, title=f"审查意见书 review {review['id']}", author=part.get("agency_name") or ""
    ).build(story)
    return buffer.getvalue()
