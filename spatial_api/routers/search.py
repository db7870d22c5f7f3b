"""Search: ``GET /search?q=`` across buildings, projects, enterprises, people, parcels and roads."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from core.db import read_engine
from core.privacy import mask_name
from search import query as search_query
from search.kinds import KINDS
from spatial_api import audit
from spatial_api.personal_reads import audited_in_read, personal_read
from spatial_api.schemas.location import Location
from spatial_api.security import Principal, current_principal

router = APIRouter(tags=["search"])


class Hit(BaseModel):
    kind: str = Field(description="building, project, enterprise, person, parcel or road")
    kind_label: str = Field(description="the kind in Chinese")
    kind_label_en: str
    id: str = Field(description="the id its profile and the map answer for (code, USCC, person id)")
    label: str = Field(description="what to show: an address, a name (masked per role)")
    subtitle: str | None = None
    district: str | None = None
    match: str = Field(description="code, exact, prefix or contains")
    location: Location | None = Field(None, description="where to fly to; absent for people")


class SearchAnswer(BaseModel):
    q: str
    hits: list[Hit]
    limit: int
    offset: int
    has_more: bool = Field(description="whether another page follows")


MATCH = ("code", "exact", "prefix", "contains")
KIND_HELP = f"only these kinds (repeat or comma-separate): {', '.join(KINDS)}"


def _hit(row: dict, personal: bool) -> Hit:
    kind = KINDS[row["kind"]]
    person = row["kind"] == "person"
    return Hit(
        kind=kind.name,
        kind_label=kind.label_zh,
        kind_label_en=kind.label_en,
        id=row["id"],
        label=row["label"] if personal or not person else mask_name(row["label"]),
        subtitle=row["subtitle"],
        district=row["district"],
        match=MATCH[row["rank"]],
        location=row["location"],
    )


@router.get("/search")
async def search(
    request: Request,
    q: str = Query(..., description="a name, address, code, USCC or ID number; partial Chinese names work"),
    kind: list[str] = Query([], description=KIND_HELP),
    district: str | None = Query(None, description="only this district, e.g. 武进区 or 武进"),
    division: str | None = Query(None, description="only this administrative division: a code prefix, e.g. 42 or 4201"),
    limit: int = Query(10, description=f"hits per page, 1-{search_query.MAX_LIMIT}"),
    offset: int = Query(0, description="hits to skip"),
    principal: Principal = Depends(current_principal),
) -> SearchAnswer:
    """Find features and records by name, address or code; best matches first, each with where it is."""
    kinds = tuple(k for value in kind for k in value.split(",") if k)
    asked = search_query.Query(q, kinds, district, limit, offset, principal.districts, division)
    # The database work in the thread pool; the answer checked and written here, on the event loop (a
    # sync endpoint would hand its response's validation to the pool as well: a second hand-over).
    return await run_in_threadpool(_answer, request, asked, principal)


def _answer(request: Request, asked: search_query.Query, principal: Principal) -> SearchAnswer:
    audit_row = None
    if audited_in_read(principal):  # the audit row in the search's own statement: one round trip
        insert, values = audit.row_of("search_people", principal, request)
        audit_row = (insert, {**values, "audit_o": "search returned people "})
    with read_engine().connect() as conn:
        rows, more = search_query.run(conn, asked, id_lookup=principal.sees_personal_data, write_if_people=audit_row)
    hits = [_hit(row, principal.sees_personal_data) for row in rows]
    people = [h.id for h in hits if h.kind == "person"]
    if people and audit_row is None:
        personal_read("search_people", f"search returned people {', '.join(people)}", principal, request, len(people))
    return SearchAnswer(q=asked.text, hits=hits, limit=asked.limit, offset=asked.offset, has_more=more)
