"""Profiles: ``GET /profiles/{kind}/{id}`` (enterprise by USCC, person, project, building) as JSON, as
the viewer's record card (``?f=card``) or as a printable page (``?f=html`` or ``.html``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, RootModel

from core.db import read_engine
from profiles import html
from profiles.labels import labels
from profiles.read import names_people, profile
from records import history
from search.kinds import check_scope
from spatial_api import audit
from spatial_api.personal_reads import audited_in_read, personal_read
from spatial_api.schemas.common import Answer
from spatial_api.schemas.location import Location
from spatial_api.security import Principal, current_principal

router = APIRouter(prefix="/profiles", tags=["profiles"])

Validity = Literal["valid", "expiring", "expired"]


class CreditRecord(BaseModel):
    kind: str = Field(description="good or bad")
    source: str
    description: str
    score_impact: float
    decided_on: date
    valid_to: date | None


class Penalty(BaseModel):
    decision_no: str
    reason: str
    amount_cny: float | None
    decided_on: date
    authority: str | None


class Complaint(BaseModel):
    id: int
    channel: str
    type: str
    received_at: datetime
    status: str
    result: str | None


class Base(BaseModel):
    id: str
    title: str = Field(description="the name or address to show (masked per role)")
    location: Location | None = Field(None, description="where to fly to")
    as_of: datetime | None = Field(None, description="the moment asked for: the record and histories as known then")


class EnterpriseRecord(BaseModel):
    uscc: str
    name: str
    former_names: list[str] | None
    type: str
    legal_representative: str | None
    address: str | None
    district: str | None
    status: str
    registered_on: date | None
    credit_grade: str | None
    credit_score: float | None
    grade_date: date | None


class Qualification(BaseModel):
    certificate_no: str
    category: str
    grade: str
    issued_on: date | None
    expires_on: date | None
    issuer: str | None
    validity: Validity = Field(description="expiring: within 90 days")


class EnterpriseProject(BaseModel):
    code: str
    name: str
    stage: str
    role: str = Field(description="build_unit, contractor, supervisor, designer or surveyor")
    investment_cny: float | None


class RegisteredPerson(BaseModel):
    id: str
    name: str
    kind: str
    certificate_no: str | None
    specialty: str | None
    valid_to: date | None


class GradeHistory(BaseModel):
    grade: str
    score: float
    graded_on: date
    rules_version: str
    explanation: str | None


class EnterpriseProfile(Base):
    kind: Literal["enterprise"]
    record: EnterpriseRecord
    qualifications: list[Qualification]
    projects: list[EnterpriseProject]
    people: list[RegisteredPerson]
    credit_records: list[CreditRecord]
    penalties: list[Penalty]
    complaints: list[Complaint]
    grade_history: list[GradeHistory]


class PersonRecord(BaseModel):
    id: str
    name: str
    id_card_masked: str
    phone: str | None
    kind: str
    certificate_no: str | None
    specialty: str | None
    employer_uscc: str | None
    employer_name: str | None
    valid_to: date | None
    real_name_verified: bool


class Employer(BaseModel):
    """One employment as the record's versions tell it (no dates: a record from before versioning)."""

    uscc: str
    name: str | None = Field(description="the enterprise's present name (None: not on file)")
    since: datetime | None
    until: datetime | None = Field(description="None: still (or, with as_of, then) employed there")
    current: bool


class StageSpell(BaseModel):
    """A stage the project was in, from its versions (no dates: a record from before versioning)."""

    stage: str
    since: datetime | None
    until: datetime | None = Field(description="None: still (or, with as_of, then) in this stage")
    current: bool


class Certificate(BaseModel):
    certificate_no: str
    specialty: str | None
    kind: str
    valid_to: date | None
    validity: Validity


class PersonProject(BaseModel):
    code: str
    name: str
    role: str
    stage: str


class PersonProfile(Base):
    kind: Literal["person"]
    record: PersonRecord
    employers: list[Employer]
    certificates: list[Certificate]
    projects: list[PersonProject]
    credit_records: list[CreditRecord]
    penalties: list[Penalty]


class ProjectRecord(BaseModel):
    code: str
    name: str
    type: str
    stage: str
    address: str | None
    investment_cny: float | None
    floor_area_m2: float | None
    planned_start: date | None
    planned_end: date | None
    progress_pct: float
    hazardous_works: bool
    parcel_code: str | None


class Party(BaseModel):
    role: str
    uscc: str
    name: str
    credit_grade: str | None


class ProjectPerson(BaseModel):
    id: str
    name: str
    role: str
    certificate_no: str | None


class Permit(BaseModel):
    permit_no: str
    issued_on: date
    contract_price_cny: float | None
    area_m2: float | None
    issuer: str | None
    status: str


class Filing(BaseModel):
    filing_no: str
    accepted_on: date | None
    filed_on: date | None
    archive_accepted: bool


class ProjectBuilding(BaseModel):
    code: str
    address: str | None
    use: str | None
    floors_above: int | None
    height_m: float | None
    safety_grade: str | None


class BimModel(BaseModel):
    id: int
    name: str
    versions: int
    latest_version: int | None
    latest_status: str | None


class ProjectReview(BaseModel):
    id: int
    agency: str | None
    drawing_type: str
    round: int
    status: str
    decided_at: datetime | None
    issues: int
    open_issues: int


class ProjectProfile(Base):
    kind: Literal["project"]
    record: ProjectRecord
    parties: list[Party]
    people: list[ProjectPerson]
    permits: list[Permit]
    filings: list[Filing]
    buildings: list[ProjectBuilding]
    bim_models: list[BimModel]
    reviews: list[ProjectReview]
    stage_history: list[StageSpell]
    complaints: list[Complaint]


class BuildingRecord(BaseModel):
    code: str
    address: str | None
    use: str | None
    structure: str | None
    height_m: float | None
    floors_above: int | None
    floors_below: int
    year_built: int | None
    safety_grade: str | None
    last_inspection: date | None
    project_code: str | None
    parcel_code: str | None


class Unit(BaseModel):
    unit_no: str
    floor: int
    area_m2: float
    ownership_cert: str | None
    owner_masked: str | None
    residents: int
    contract_filing_no: str | None


class Appraisal(BaseModel):
    safety_grade: str | None
    last_inspection: date | None


class BuildingProject(BaseModel):
    code: str
    name: str
    stage: str
    planned_start: date | None
    planned_end: date | None
    relation: Literal["built_by", "on_parcel"]


class BuildingProfile(Base):
    kind: Literal["building"]
    record: BuildingRecord
    units: list[Unit]
    appraisals: list[Appraisal]
    projects: list[BuildingProject]
    complaints: list[Complaint]


Profile = Annotated[EnterpriseProfile | PersonProfile | ProjectProfile | BuildingProfile, Field(discriminator="kind")]


class ProfileAnswer(RootModel[Profile]):
    """A profile of one of the four kinds (``kind`` says which)."""


class ProfileLabels(Answer):
    kinds: dict[str, Any] = Field(description="title, record label and section order of each kind")
    sections: dict[str, Any]
    fields: dict[str, Any] = Field(description="Chinese, English and format of each field")
    values: dict[str, Any] = Field(description="Chinese and English of coded values")


ProfileKind = Literal["enterprise", "person", "project", "building"]


AsOf = Query(
    None,
    description="what was known then (a date: by the end of that day, China time): a person's and a project's"
    " record, employers and stages from their versions",
)


def _read(request: Request, kind: str, id_: str, principal: Principal, as_of: datetime | date | None) -> dict[str, Any]:
    moment = history.moment(as_of) if as_of is not None else None
    obj = f"profile {kind}/{id_}"
    # The audit row in the read's own statement when nothing after the read can still refuse it (a
    # district-scoped caller's check, a record not on file at ``as_of``, the personal-view threshold).
    in_read = moment is None and principal.districts is None and audited_in_read(principal)
    row = audit.row_when("read_profile", obj, principal, request) if in_read else None
    with read_engine().connect() as conn:
        answer = profile(conn, kind, id_, principal.sees_personal_data, as_of=moment, write_if_people=row)
        check_scope(conn, kind, id_, principal.districts)
    if names_people(answer) and row is None:
        personal_read("read_profile", obj, principal, request, 1)
    return answer


@router.get("/labels", response_model=ProfileLabels)
def profile_labels() -> dict[str, Any]:
    """The profiles' labels: kinds, sections, fields (Chinese, English, format) and value vocabularies."""
    return labels()


@router.get("/{kind}/{record_id}.html", response_class=HTMLResponse)
async def profile_page(
    request: Request,
    kind: ProfileKind,
    record_id: str,
    as_of: datetime | date | None = AsOf,
    principal: Principal = Depends(current_principal),
) -> HTMLResponse:
    """The printable page of a profile."""
    return HTMLResponse(html.page(await run_in_threadpool(_read, request, kind, record_id, principal, as_of)))


@router.get("/{kind}/{record_id}", response_model=ProfileAnswer, responses={200: {"content": {"text/html": {}}}})
async def get_profile(
    request: Request,
    kind: ProfileKind,
    record_id: str,
    f: Literal["json", "html", "card"] = Query("json", description="json, html (printable page) or card (fragment)"),
    as_of: datetime | date | None = AsOf,
    principal: Principal = Depends(current_principal),
) -> Any:
    """One file per enterprise (by USCC), person, project or building, with everything linked to it;
    people masked for roles without personal-data rights, and every read that shows people audited."""
    # The reads in the thread pool; the answer checked and written on the event loop (one hand-over).
    answer = await run_in_threadpool(_read, request, kind, record_id, principal, as_of)
    if f == "html":
        return HTMLResponse(html.page(answer))
    if f == "card":
        return HTMLResponse(html.card(answer))
    return answer
