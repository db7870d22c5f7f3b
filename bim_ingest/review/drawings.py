"""PDF drawings beside the model (2D 图纸): the PDFs a submission carries, read once at the window
(a file that is no readable PDF is refused), listed with their page counts, and review issues that
point at a drawing's page and a region of it (fractions of the page, from its top left), with or
without an element."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select

from bim_ingest.review import rules, service
from bim_ingest.review.submissions import agencies_of
from core.db import get_row, session_scope
from core.errors import Forbidden, NotFound, UserError
from core.models import BimElement, DrawingReview, ReviewIssue, ReviewSubmission

RULE = "drawing.markup"


def page_count(path: Path) -> int:
    """The PDF's number of pages; a file that is no readable PDF is refused with its name."""
    data = path.read_bytes()
    if not data.startswith(b"%PDF-"):
        raise UserError(f"{path.name} is not a PDF drawing (no %PDF- header)")
    try:
        count = int(PdfFileReader(io.BytesIO(data), strict=False).root["/Pages"]["/Count"])
    except (PdfError, KeyError, ValueError, TypeError) as exc:
        raise UserError(
            f"{path.name} is not a readable PDF drawing ({exc}): export it again from the drawing tool"
        ) from exc
    if count < 1:
        raise UserError(f"{path.name} has no pages")
    return count


def _paths(submission_id: int) -> list[Path]:
    with session_scope() as session:
        submission = get_row(session, ReviewSubmission, submission_id, f"submission {submission_id} does not exist")
        return [Path(p) for p in (submission.files or {}).get("pdf", [])]


def drawings(submission_id: int) -> list[dict[str, Any]]:
    """The submission's PDF drawings, every round's, in the order received (``index`` names one)."""
    return [
        {
            "index": index,
            "name": path.name,
            "pages": page_count(path),
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
        for index, path in enumerate(_paths(submission_id))
    ]


def drawing_path(submission_id: int, index: int) -> Path:
    paths = _paths(submission_id)
    if not 0 <= index < len(paths):
        raise NotFound(f"submission {submission_id} has no drawing {index}: it has {len(paths)}")
    return paths[index]


def add_drawing_issue(
    submission_id: int,
    review_id: int,
    username: str | None,
    drawing: int,
    page: int,
    region: tuple[float, float, float, float],
    message: str,
    severity: str = rules.ERROR,
    global_id: str | None = None,
) -> dict[str, Any]:
    """An agency reviewer's issue on page ``page`` (from 1) of drawing ``drawing``, in ``region``
    (x0, y0, x1, y1 as fractions of the page width and height from its top left), and at the
    element ``global_id`` of the reviewed model if given."""
    path = drawing_path(submission_id, drawing)
    pages = page_count(path)
    if not 1 <= page <= pages:
        raise UserError(f"{path.name} has pages 1 to {pages}, not {page}")
    x0, y0, x1, y1 = region
    if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
        raise UserError(
            f"region {list(region)} is not x0 < x1 and y0 < y1 within 0..1 (fractions of the page from its top left)"
        )
    if severity not in (rules.ERROR, rules.WARNING):
        raise UserError(f"severity {severity!r} is not one of: {rules.ERROR}, {rules.WARNING}")
    with session_scope() as session:
        review = session.get(DrawingReview, review_id, with_for_update=True)
        if review is None or review.submission_id != submission_id:
            raise NotFound(f"submission {submission_id} has no review {review_id}")
        if review.agency not in agencies_of(session, username):
            raise Forbidden(f"user {username!r} does not review for agency {review.agency}: only its reviewers mark up")
        if review.status != "in_review":
            raise service.Conflict(f"review {review_id} is {review.status}: issues are added only while in review")
        details: dict[str, Any] = {
            "drawing": {"index": drawing, "name": path.name, "page": page, "region": [x0, y0, x1, y1]},
            "comments": [],
        }
        if global_id is not None:
            element = session.execute(
                select(BimElement.ifc_class, BimElement.name).where(
                    BimElement.version_id == review.model_version_id, BimElement.global_id == global_id
                )
            ).first()
            if element is None:
                raise UserError(f"the reviewed model has no element {global_id}")
            details |= {"ifc_class": element.ifc_class, "name": element.name}
        issue = ReviewIssue(
            review_id=review_id,
            global_id=global_id,
            rule=RULE,
            severity=severity,
            message=message,
            comment=message,
            resolved=False,
            details=details,
        )
        session.add(issue)
        session.flush()
        return service.issue_json(issue)
