"""The search query: one statement over every asked-for kind, ranked and paged inside PostgreSQL.

Ranking: an exact code (USCC, building or project code, ID number) first, then an exact name, then a
name that starts with the query, then one that contains it, closer lengths first. Each kind returns
at most ``offset + limit + 1`` candidates, so a page is exact without counting every match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Connection, TextClause, text

from core import districts, divisions
from core.errors import Forbidden, UserError
from core.privacy import hash_id_number
from search.kinds import KINDS, Kind

MAX_LIMIT = 100
EXPORT_MAX = 1_000_000
ID_NUMBER = re.compile(r"\d{17}[\dX]")


@dataclass(frozen=True)
class Query:
    text: str
    kinds: tuple[str, ...]
    district: str | None = None
    limit: int = 10
    offset: int = 0
    # The caller's districts (division codes) when their data scope is limited (core.districts).
    scope: tuple[str, ...] | None = None
    # An administrative division's code prefix (core.divisions.prefix): only what lies in it.
    division: str | None = None


def id_number(q: str) -> str | None:
    """The resident ID number the query is, if it is one (full-width digits and spaces allowed)."""
    candidate = re.sub(r"\s", "", unicodedata.normalize("NFKC", q)).upper()
    return candidate if ID_NUMBER.fullmatch(candidate) else None


def check(query: Query) -> Query:
    """The query with its kinds checked, or a UserError saying what is wrong."""
    if not query.text.strip():
        raise UserError("give something to search for in q (a name, an address, a code or a USCC)")
    unknown = [k for k in query.kinds if k not in KINDS]
    if unknown:
        raise UserError(f"unknown kind {', '.join(unknown)}: use {', '.join(KINDS)}")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise UserError(f"limit must be between 1 and {MAX_LIMIT}")
    if query.offset < 0:
        raise UserError("offset must be 0 or more")
    return query


def _kind_sql(kind: Kind, district_filter: bool, scoped: bool, division: bool) -> str:
    """A kind's best ``:n`` candidates by (rank, closeness, id). The rows a query matches broadly (names
    that start with it, names that contain it: ``常州`` is in every address) are read apart, closest
    (shortest) first through an index and at most ``:n`` of each, instead of ranking every match; the
    few exact ones (codes, exact names) are ranked as they are. The union, each row at its best rank,
    is then ranked. It holds the true best ``:n``: in each part, a row is preceded only by rows that
    rank before it or equal (an exact name is the shortest that starts with the query).
    The parts read only ids and sort keys; labels, districts and geometries are made for the best
    ``:n`` alone (a road's name is in a thousand addresses: making each one's label cost ten times the
    search, EXPLAIN ANALYZE on the 100k-building city). The district and scope conditions are written
    only when asked for: planning them away cost as much as the search itself."""
    codes = " OR ".join(f"{c} = :code OR (length(:code) >= 4 AND {c} LIKE :code_prefix)" for c in kind.codes)
    exact_code = " OR ".join(f"{c} = :code" for c in kind.codes)
    if kind.name == "person":
        codes += " OR t.id_card_hash = :id_hash"
        exact_code += " OR t.id_card_hash = :id_hash"
    conditions = [f"search_norm({kind.district}) = :district"] if district_filter else []
    conditions += [districts.condition(kind.geometry, kind.district)] if scoped else []
    conditions += [f"{kind.division} LIKE :division_like"] if division else []
    district = " AND ".join(["TRUE", *conditions])
    ranked = "rank, closeness DESC, id"
    if kind.searches_text:
        named = "('|' || t.search_text || '|')"
        rank = (
            f"CASE WHEN {exact_code} THEN 0 WHEN {named} LIKE :exact THEN 1 WHEN {named} LIKE :prefix THEN 2 ELSE 3 END"
        )
        closeness = "length(:norm)::float / greatest(length(t.search_text), 1)"
        closest = f"length(t.search_text), {kind.id}"
        grams = "t.search_grams @> CAST(:grams AS text[])"
        contains = (f"{grams} AND t.search_text LIKE :contains", closest)
        if kind.names_list:  # several names in one text (a small table): ranked as they are
            parts = [(f"{codes} OR ({grams} AND {named} LIKE :prefix)", ranked), contains]
        else:
            parts = [(f"{codes} OR t.search_text = :norm", ranked), ("t.search_text LIKE :starts", closest), contains]
    else:
        rank, closeness, parts = f"CASE WHEN {exact_code} THEN 0 ELSE 2 END", "0.0", [(codes, ranked)]
    keys = f"SELECT {kind.id} AS id, {rank} AS rank, {closeness} AS closeness FROM {kind.table} t {kind.joins}"
    union = "\n  UNION ALL ".join(f"({keys} WHERE ({w}) AND {district} ORDER BY {o} LIMIT :n)" for w, o in parts)
    best = union if len(parts) == 1 else f"SELECT DISTINCT ON (id) * FROM ({union}) AS w ORDER BY id, rank"
    return f"""(SELECT '{kind.name}' AS kind, b.id, {kind.label} AS label, {kind.subtitle} AS subtitle,
        {kind.district} AS district, b.rank, b.closeness, {kind.geometry} AS geom
   FROM (SELECT * FROM ({best}) AS p ORDER BY {ranked} LIMIT :n) AS b
   JOIN {kind.table} t ON {kind.id} = b.id {kind.joins})"""


def search_sql(
    kinds: tuple[str, ...],
    export: bool = False,
    district: bool = False,
    scoped: bool = False,
    division: bool = False,
    write: str | None = None,
) -> str:
    """The statement for the given kinds (bound parameters: those of :func:`_params`), with the
    district filter, the caller's scope and the division when asked for; for an export, each hit's CRS84 geometry
    as WKB instead of its location. ``write``: an ``INSERT … SELECT {object} … {source}`` (e.g. the read's
    audit row) the same statement runs when the page (``:page`` hits) holds people, its object the
    parameter ``:audit_o`` followed by their ids in the page's order."""
    union = "\nUNION ALL ".join(_kind_sql(KINDS[k], district, scoped, division) for k in kinds)
    written = ""
    if write is not None:
        people = """FROM (SELECT kind, id, rank, closeness FROM hits
                           ORDER BY rank, closeness DESC, kind, id LIMIT :page) h
                     WHERE h.kind = 'person' HAVING count(*) > 0"""
        obj = ":audit_o || string_agg(h.id, ', ' ORDER BY h.rank, h.closeness DESC, h.id)"
        written = f",\nwritten AS ({write.format(object=obj, source=people)})"
    return f"""
WITH hits AS (SELECT * FROM ({union}) u
  ORDER BY rank, closeness DESC, kind, id LIMIT :limit OFFSET :offset){written}
SELECT kind, id, label, subtitle, district, {
        "ST_AsBinary(ST_Transform(geom, 4326)) AS _wkb" if export else "rank, feature_location(geom) AS location"
    } FROM hits
 ORDER BY rank, closeness DESC, kind, id"""


# The query as the tables hold their text (the one normalisation, in SQL), its code form and its grams;
# computed first, so that the search statement gets plain values the planner can match to the indexes.
NORMALISE = text("""SELECT search_norm(:q) AS norm, search_query_grams(search_norm(:q)) AS grams,
                      regexp_replace(upper(normalize(:q, NFKC)), '[^0-9A-Z]', '', 'g') AS code,
                      search_norm(CAST(:district AS text)) AS district""")


@lru_cache(maxsize=256)
def _statement(kinds: tuple[str, ...], district: bool, scoped: bool, division: bool, write: str | None) -> TextClause:
    """The search statement, made once per form (its text is ~10 kB: reading its parameters anew
    each time cost a millisecond of the request)."""
    return text(search_sql(kinds, district=district, scoped=scoped, division=division, write=write))


def run(
    conn: Connection, query: Query, id_lookup: bool, write_if_people: tuple[str, dict] | None = None
) -> tuple[list[dict], bool]:
    """The page of hits (dicts with kind, id, label, subtitle, district, rank, location) and
    whether more follow. ``id_lookup``: whether an ID-number query may look people up by it (only
    for roles that see personal data; for others it is just text, e.g. an all-digit USCC).
    ``write_if_people``: SQL and parameters the statement runs when the page holds people (see
    :func:`search_sql`'s ``write``), committed with it on an autocommit connection."""
    query = check(query)
    kinds = query.kinds or tuple(KINDS)
    params = _params(conn, query, id_lookup, query.offset + query.limit + 1, query.limit + 1)
    write, extra = write_if_people or (None, {})
    statement = _statement(kinds, *_forms(params), write)
    rows = [dict(r) for r in conn.execute(statement, params | extra | {"page": query.limit}).mappings()]
    return rows[: query.limit], len(rows) > query.limit


def _params(conn: Connection, query: Query, id_lookup: bool, per_kind: int, limit: int) -> dict[str, object]:
    number = id_number(query.text) if id_lookup else None
    q = conn.execute(NORMALISE, {"q": query.text, "district": query.district or None}).mappings().one()
    return {
        "norm": q["norm"],
        "grams": q["grams"],
        "contains": f"%{q['norm']}%",
        "exact": f"%|{q['norm']}|%",
        "prefix": f"%|{q['norm']}%",
        "starts": f"{q['norm']}%",
        "code": q["code"],
        "code_prefix": f"{q['code']}%",
        "id_hash": hash_id_number(number) if number else None,
        "district": q["district"],
        "scope": districts.param(query.scope),
        "division_like": divisions.condition("", query.division)[1].get("division_like"),
        "n": per_kind,
        "limit": limit,
        "offset": query.offset,
    }


def _forms(params: dict[str, object]) -> tuple[bool, bool, bool]:
    """Which optional conditions the statement needs: district, scope, division."""
    return params["district"] is not None, params["scope"] is not None, params["division_like"] is not None


def export_statement(conn: Connection, query: Query, personal: bool) -> tuple[str, dict[str, object], bool]:
    """Every hit of a search (up to EXPORT_MAX), as SQL, parameters and whether it lists people.
    People are left out for a role without personal-data rights unless asked for, then refused."""
    query = check(Query(query.text, query.kinds, query.district, 1, 0, query.scope, query.division))
    if "person" in query.kinds and not personal:
        raise Forbidden("exporting people needs a role that may see personal data")
    kinds = query.kinds or tuple(k for k in KINDS if personal or k != "person")
    params = _params(conn, query, personal, EXPORT_MAX, EXPORT_MAX)
    district, scoped, division = _forms(params)
    sql = search_sql(kinds, export=True, district=district, scoped=scoped, division=division)
    return sql, params, "person" in kinds
