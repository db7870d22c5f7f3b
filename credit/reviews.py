"""Manual review: a reviewer proposes a grade other than the engine's, with a reason; a second
person approves (the grade becomes the enterprise's, noted in its grade history) or rejects."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core.errors import NotFound, UserError
from core.models import CreditReview, Enterprise
from core.models.records import CREDIT_GRADES


class SamePerson(UserError):
    """The two-person rule: who proposed may not decide."""

    status_code = 403


def propose(session: Session, uscc: str, grade: str, reason: str, username: str) -> CreditReview:
    enterprise = session.get(Enterprise, uscc)
    if enterprise is None:
        raise NotFound(f"no enterprise {uscc}")
    if grade not in CREDIT_GRADES:
        raise UserError(f"grade must be one of {', '.join(CREDIT_GRADES)}, not {grade!r}")
    if not reason.strip():
        raise UserError("a manual grade needs a reason")
    if enterprise.credit_grade == grade:
        raise UserError(f"{uscc} already holds grade {grade}: nothing to review")
    pending = session.scalar(
        select(CreditReview.id).where(CreditReview.enterprise_uscc == uscc, CreditReview.status == "proposed")
    )
    if pending is not None:
        raise UserError(f"review {pending} of {uscc} is still waiting for a decision")
    review = CreditReview(
        enterprise_uscc=uscc,
        engine_grade=enterprise.credit_grade,
        proposed_grade=grade,
        reason=reason.strip(),
        proposed_by=username,
        status="proposed",
    )
    session.add(review)
    session.flush()
    return review


def decide(session: Session, review_id: int, approve: bool, username: str, note: str | None = None) -> CreditReview:
    review = session.get(CreditReview, review_id, with_for_update=True)
    if review is None:
        raise NotFound(f"no review {review_id}")
    if review.status != "proposed":
        raise UserError(f"review {review_id} is already {review.status}")
    if review.proposed_by == username:
        raise SamePerson(f"{username} proposed review {review_id} and cannot decide it: a second person must")
    review.status = "approved" if approve else "rejected"
    review.decided_by, review.decided_at, review.decision_note = username, datetime.now(UTC), note
    if approve:
        params = {
            "g": review.proposed_grade,
            "d": date.today(),
            "u": review.enterprise_uscc,
            "why": f"人工复核 manual review {review.id}: {review.reason} ({review.proposed_by} → {username})",
        }
        session.execute(text("UPDATE enterprise SET credit_grade = :g, grade_date = :d WHERE uscc = :u"), params)
        session.execute(
            text(
                "INSERT INTO credit_grade_history (enterprise_uscc, grade, score, graded_on, rules_version,"
                " explanation) SELECT uscc, :g, coalesce(credit_score, 0), :d, 'manual', :why"
                " FROM enterprise WHERE uscc = :u"
            ),
            params,
        )
    session.flush()
    return review
