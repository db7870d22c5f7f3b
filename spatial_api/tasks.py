"""Task wiring: importing this module registers every package's queue tasks with ``core.jobs``, and
the export sources that live in other packages (search, profiles) with ``exports``. The server and
``cim worker`` import it before they open the queue."""

from typing import Any

from sqlalchemy import Connection

from core import audit_partitions
from core.vocab import Label
from credit import jobs as credit_jobs
from exports import jobs as exports_jobs
from exports import labels as export_labels
from exports import sources as export_sources
from profiles import read as profiles
from profiles.labels import labels as profile_labels
from records import jobs as records_jobs
from search import kinds as search_kinds
from search import query as search
from spatial_api import pipelines
from tiles import jobs as tiles_jobs

__all__ = ["audit_partitions", "credit_jobs", "exports_jobs", "pipelines", "records_jobs", "tiles_jobs"]


@export_sources.statement_source("search")
def _search(
    conn: Connection, query: dict[str, Any], personal: bool, scope: export_sources.Scope
) -> export_sources.Statement:
    """``{"q": ..., "kind": [...], "district": ...}``: every hit of a search in the requester's districts."""
    kinds, within = tuple(query.get("kind") or ()), tuple(scope) if scope is not None else None
    asked = search.Query(
        str(query.get("q") or ""), kinds, query.get("district"), scope=within, division=query.get("division")
    )
    sql, params, people = search.export_statement(conn, asked, personal)
    labels = export_labels.Labels(search_kinds.COLUMNS, {"kind": search_kinds.kind_labels()})
    return export_sources.Statement(sql, params, people, labels)


def _profile(
    conn: Connection, query: dict[str, Any], personal: bool, scope: export_sources.Scope
) -> export_sources.Document:
    """``{"kind": "enterprise", "id": USCC}``: a profile as the requester's role sees it (a 404 outside
    their districts)."""
    kind, id_ = str(query.get("kind")), str(query.get("id"))
    answer = profiles.profile(conn, kind, id_, personal)
    search_kinds.check_scope(conn, kind, id_, scope)
    found = profile_labels()
    fields = {name: Label(zh=f["zh"], en=f["en"]) for name, f in found["fields"].items()}
    values = {name: {code: Label(zh=zh, en=en) for code, (zh, en) in v.items()} for name, v in found["values"].items()}
    labels = export_labels.Labels(fields, values)
    return export_sources.Document(answer, personal and profiles.names_people(answer), labels)


export_sources.DOCUMENTS["profile"] = _profile
