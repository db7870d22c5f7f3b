"""`/reviews`: digital drawing review (数字化审图)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from spatial_api.schemas.common import Answer, QueuedJob, Row

ReviewStatus = Literal["received", "in_review", "returned", "approved"]
ReviewAction = Literal["comment", "resolve", "approve", "return"]


class Decision(BaseModel):
    action: Literal["approve", "return"]
    comment: str | None = Field(None, max_length=4000)


class IssueNote(BaseModel):
    comment: str | None = Field(None, max_length=4000)
    resolved: bool | None = None


class ReviewQueued(QueuedJob):
    job: str = Field(description="the job's URL")


class ReviewIssue(Answer):
    id: int
    rule: str
    severity: str = Field(description="error or warning")
    global_id: str | None
    ifc_class: str | None
    name: str | None
    measured: float | None
    limit: float | None
    unit: str | None
    message: str
    comment: str | None
    resolved: bool
    comments: list[Row] = Field(description="reviewers' notes: by, at, text, resolved")
    details: Row


class ReviewSummary(Answer):
    id: int
    project_code: str
    model_version_id: int | None
    round: int
    status: ReviewStatus
    status_label: str = Field(description="受理, 审查中, 退回修改, 通过")
    passed: bool | None
    counts: Row | None


class Review(Answer):
    id: int
    project_code: str
    model_version_id: int | None
    model_id: int | None
    model_status: str | None
    file_name: str | None
    schema_: str | None = Field(alias="schema")
    round: int
    status: ReviewStatus
    status_label: str
    created_at: str | None
    decided_at: str | None
    report: Row | None = Field(description="IDS, planning, clashes, diff, georef, counts, passed, seconds, decision")
    issues: list[ReviewIssue]
    tiles: Row | None = Field(None, description="an approval: the rebuilt BIM layer's tiles")
    actions: list[ReviewAction] = Field(
        default_factory=list, description="what the caller's role may do to this review in its present state"
    )
