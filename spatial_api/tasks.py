"""Task wiring: importing this module registers every package's queue tasks with ``core.jobs``, and
the export sources that live in other packages (search, profiles) with ``exports``. The server and
``cim worker`` import it before they open the queue."""

from typing import Any

from sqlalchemy import Connection

from credit import jobs as credit_jobs
from exports import jobs as exports_jobs
from exports import sources as export_sources
from profiles import read as profiles
from records import jobs as records_jobs
from search import query as search
from spatial_api import pipelines
from tiles import jobs as tiles_jobs

__all__ = ["credit_jobs", "exports_jobs", "pipelines", "records_jobs", "tiles_jobs"]


@export_sources.statement_source("search")
def _search(conn: Connection, query: dict[str, Any], personal: bool) -> export_sources.Statement:
    """``{"q": ..., "kind": [...], "district": ...}``: every hit of a search."""
    asked = search.Query(str(query.get("q") or ""), tuple(query.get("kind") or ()), query.get("district"))
    sql, params, people = search.export_statement(conn, asked, personal)
    return export_sources.Statement(sql, params, people)


def _profile(conn: Connection, query: dict[str, Any], personal: bool) -> tuple[dict[str, Any], bool]:
    """``{"kind": "enterprise", "id": USCC}``: a profile as the requester's role sees it."""
    answer = profiles.profile(conn, str(query.get("kind")), str(query.get("id")), personal)
    return answer, personal and profiles.names_people(answer)


export_sources.DOCUMENTS["profile"] = _profile
