"""The search query: one statement over every asked-for kind, ranked and paged inside PostgreSQL.

Ranking: an exact code (USCC, building or project code, ID number) first, then an exact name, then a
name that starts with the query, then one that contains it, closer lengths first. Each kind returns
at most ``offset + limit + 1`` candidates, so a page is exact without counting every match.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

from sqlalchemy import Connection, CursorResult, TextClause, text

from core import districts, divisions
from core.db import planner_settings
from core.errors import Forbidden, UserError
from core.privacy import hash_id_number
from search.kinds import KINDS, Kind

MAX_LIMIT = 100
# A kind's part of the search: (kind, "starts") reads the names that start with the query, (kind,
# "contains") those that contain it.
Part = tuple[str, str]
EXPORT_MAX = 1_000_000
ID_NUMBER = re.compile(r"\d{17}[\dX]")
CODE_PREFIX_MIN = 4  # a code query this long also finds the codes it starts


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


def _starts_with(column: str, param: str) -> str:
    """SQL true when ``column`` starts with ``:param``: a range in code-point order (the pattern
    operators compare bytes, and UTF-8's sort as code points) up to ``:{param}_hi`` (:func:`after`),
    which a ``text_pattern_ops`` b-tree reads with the value unknown (LIKE 'x%' it reads only with the
    value known, so only in a plan made for each query)."""
    return f"{column} ~>=~ :{param} AND {column} ~<~ :{param}_hi"


def _kind_sql(
    kind: Kind, district_filter: bool, scoped: bool, division: bool, broad: frozenset[Part], city: str | None = None
) -> str:
    """A kind's best ``:n`` candidates by (rank, closeness, id). The rows a query matches broadly (names
    that start with it, names that contain it: ``常州`` is in every address) are read apart, closest
    (shortest) first and at most ``:n`` of each, instead of ranking every match; the few exact ones
    (codes, exact names) are ranked as they are. The union, each row at its best rank, is then ranked.
    It holds the true best ``:n``: in each part, a row is preceded only by rows that rank before it or
    equal (an exact name is the shortest that starts with the query).
    Every condition can use an index with its value unknown (prefixes as ranges, not LIKE), so one
    generic plan serves every query. The one choice that depends on the values is made before, in
    ``broad``: a part there (many rows match) reads the ``(length, id)`` index in order until ``:n``
    match; any other finds its matches through the prefix range or the gram index and sorts them.
    The parts read only ids and sort keys; labels, districts and geometries are made for the best
    ``:n`` alone (a road's name is in a thousand addresses: making each one's label cost ten times the
    search, EXPLAIN ANALYZE on the 100k-building city). The district and scope conditions are written
    only when asked for: planning them away cost as much as the search itself."""
    codes = " OR ".join(f"{c} = :code OR ({_starts_with(c, 'code')})" for c in kind.codes)
    exact_code = " OR ".join(f"{c} = :code" for c in kind.codes)
    if kind.name == "person":
        codes += " OR t.id_card_hash = :id_hash"
        exact_code += " OR t.id_card_hash = :id_hash"
    conditions = [f"search_norm({kind.district}) = :district"] if district_filter else []
    conditions += [districts.condition(kind.geometry, kind.district)] if scoped else []
    conditions += [f"{kind.division} LIKE :division_like"] if division else []
    # a division in a city: on a table partitioned by city, its partitions alone (the city written in)
    in_city = divisions.city_condition(kind.table, city) if city else "TRUE"
    conditions += [in_city] if in_city != "TRUE" else []
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
        contains = "t.search_text LIKE :contains"
        if kind.names_list:  # several names in one text: one of them equal to, or starting with, the query
            names = "string_to_array(t.search_text, '|') @> CAST(ARRAY[:norm] AS text[])"  # its GIN index
            exact, starts = names, f"{named} LIKE :prefix"
        else:
            exact, starts = "t.search_text = :norm", _starts_with("t.search_text", "norm")
        # broad: neither the gram index nor the range, so the (length, id) index read in order
        if (kind.name, "starts") in broad:
            starts = starts if kind.names_list else "t.search_text LIKE :starts"
        elif kind.names_list:
            starts = f"{grams} AND {starts}"
        if (kind.name, "contains") not in broad:
            contains = f"{grams} AND {contains}"
        parts = [(f"{codes} OR {exact}", ranked), (starts, closest), (contains, closest)]
    else:
        rank, closeness, parts = f"CASE WHEN {exact_code} THEN 0 ELSE 2 END", "0.0", [(codes, ranked)]
    keys = f"SELECT {kind.id} AS id, {rank} AS rank, {closeness} AS closeness FROM {kind.table} t {kind.joins}"
    union = "\n  UNION ALL ".join(f"({keys} WHERE ({w}) AND {district} ORDER BY {o} LIMIT :n)" for w, o in parts)
    best = union if len(parts) == 1 else f"SELECT DISTINCT ON (id) * FROM ({union}) AS w ORDER BY id, rank"
    return f"""(SELECT '{kind.name}' AS kind, b.id, {kind.label} AS label, {kind.subtitle} AS subtitle,
        {kind.district} AS district, b.rank, b.closeness, {kind.geometry} AS geom
   FROM (SELECT * FROM ({best}) AS p ORDER BY {ranked} LIMIT :n) AS b
   JOIN {kind.table} t ON {kind.id} = b.id AND {in_city} {kind.joins})"""


def search_sql(
    kinds: tuple[str, ...],
    export: bool = False,
    district: bool = False,
    scoped: bool = False,
    division: bool = False,
    write: str | None = None,
    broad: frozenset[Part] = frozenset(),
    city: str | None = None,
) -> str:
    """The statement for the given kinds (bound parameters: those of :func:`_params`), with the
    district filter, the caller's scope and the division (in ``city``: :func:`city_of`) when asked for; for
    an export, each hit's CRS84 geometry as WKB instead of its location. ``broad``: the parts that many rows
    match (:func:`broad_parts`), read in length order. ``write``: an ``INSERT … SELECT {object} … {source}``
    (e.g. the read's audit row) the same statement runs when the page (``:page`` hits) holds people, its
    object the parameter ``:audit_o`` followed by their ids in the page's order."""
    union = "\nUNION ALL ".join(_kind_sql(KINDS[k], district, scoped, division, broad, city) for k in kinds)
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
# computed first: the ranges' ends and the estimates of what it matches are made from them here.
NORMALISE = text("""SELECT search_norm(:q) AS norm, search_query_grams(search_norm(:q)) AS grams,
                      regexp_replace(upper(normalize(:q, NFKC)), '[^0-9A-Z]', '', 'g') AS code,
                      search_norm(CAST(:district AS text)) AS district""")


# What tells a broad query from a narrow one, per searchable table: its rows, the histogram of its
# ``search_text`` and its most common grams with their shares of the rows (ANALYZE's statistics), read
# again at most every STATS_TTL_S seconds per process.
STATS = text("""SELECT c.relname AS table, greatest(c.reltuples, 0) AS rows,
                       h.histogram_bounds::text::text[] AS bounds,
                       g.most_common_elems::text::text[] AS grams, g.most_common_elem_freqs AS shares
                  FROM pg_class c
                  LEFT JOIN pg_stats h ON (h.schemaname, h.tablename, h.attname)
                                        = (c.relnamespace::regnamespace::name, c.relname, 'search_text')
                  LEFT JOIN pg_stats g ON (g.schemaname, g.tablename, g.attname)
                                        = (c.relnamespace::regnamespace::name, c.relname, 'search_grams')
                 WHERE c.oid = ANY(CAST(:tables AS regclass[]))""")
STATS_TTL_S = 300.0


@dataclass(frozen=True)
class _Stats:
    rows: float
    bounds: tuple[str, ...]  # neighbours hold equal shares of the rows between them
    grams: dict[str, float]  # a common gram's share of the rows (one not listed: under the least listed)


_stats: tuple[float, dict[str, _Stats]] = (-STATS_TTL_S, {})


def _table_stats(conn: Connection) -> dict[str, _Stats]:
    """The searchable tables' statistics by table, from the process's copy while it is fresh."""
    global _stats
    if time.monotonic() - _stats[0] >= STATS_TTL_S:
        tables = [k.table for k in KINDS.values() if k.searches_text]
        rows = conn.execute(STATS, {"tables": tables}).mappings()
        # the shares go on past the grams (the least, the greatest, the rows with none): not zipped strictly
        read = {
            r["table"]: _Stats(
                r["rows"], tuple(r["bounds"] or ()), dict(zip(r["grams"] or (), r["shares"] or (), strict=False))
            )
            for r in rows
        }
        _stats = (time.monotonic(), read)
    return _stats[1]


def broad_parts(conn: Connection, kinds: tuple[str, ...], norm: str, n: int) -> frozenset[Part]:
    """The parts (:data:`Part`) whose matches are better read in length order, stopping at the ``n``th,
    than found by an index and sorted: those estimated to match more than sqrt(n x rows) rows, where the
    two ways read as many rows. Names starting with ``norm``: its range's share of the histogram; names
    containing it: :func:`_containing`. A wrong estimate costs time, never a different answer."""
    stats = _table_stats(conn)
    hi = after(norm)
    broad = set(unranged(kinds, norm))
    for kind in kinds:
        s = stats.get(KINDS[kind].table)
        if s is None or not KINDS[kind].searches_text:
            continue
        enough = math.sqrt(n / s.rows) if s.rows else math.inf
        starting = sum(norm <= b and (hi is None or b < hi) for b in s.bounds) / max(len(s.bounds) - 1, 1)
        if starting > enough:
            broad.add((kind, "starts"))
        if _containing(s, norm) > enough:
            broad.add((kind, "contains"))
    return frozenset(broad)


def unranged(kinds: tuple[str, ...], norm: str) -> frozenset[Part]:
    """The starting names' parts when ``norm`` has no range (:func:`after`: it is empty, every name starts
    with it): read in length order, whatever the estimates."""
    return frozenset((k, "starts") for k in kinds if KINDS[k].searches_text) if after(norm) is None else frozenset()


def _containing(stats: _Stats, norm: str) -> float:
    """The share of rows whose text contains ``norm``, estimated as a chain of its character pairs: the
    first pair's share, then for each next pair the share of rows with the character it shares with the
    one before that also have the pair (an address's pairs are far from independent: 常州 and 州武 come
    together; the product of their shares, as the planner takes it, is far too low; the least share far
    too high for a long query)."""
    if not norm:
        return 1.0
    rarest = min(stats.grams.values(), default=0.0)

    def share(gram: str) -> float:
        return stats.grams.get(gram, rarest)

    estimate = share(norm[:2])
    for i in range(1, len(norm) - 1):
        estimate *= min(1.0, share(norm[i : i + 2]) / max(share(norm[i]), rarest, 1e-9))
    return estimate


def after(prefix: str) -> str | None:
    """The least text above every text that starts with ``prefix`` in code-point order (UTF-8's bytes
    sort the same), or None when none is (``prefix`` empty or all U+10FFFF)."""
    stripped = prefix.rstrip(chr(0x10FFFF))
    if not stripped:
        return None
    following = ord(stripped[-1]) + 1
    return stripped[:-1] + chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)  # no surrogates


@lru_cache(maxsize=256)
def _statement(
    kinds: tuple[str, ...],
    district: bool,
    scoped: bool,
    division: bool,
    write: str | None,
    broad: frozenset[Part],
    city: str | None = None,
) -> TextClause:
    """The search statement, made once per form (its text is ~10 kB: reading its parameters anew
    each time cost a millisecond of the request)."""
    return text(
        search_sql(kinds, district=district, scoped=scoped, division=division, write=write, broad=broad, city=city)
    )


def city_of(division: str | None) -> str | None:
    """The city a division filter lies in (its code's first 4 digits), None for none or a province."""
    if division is None:
        return None
    code = divisions.prefix(division)
    return code[:4] if len(code) >= 4 else None


# One plan for every query of a form, made once per connection: planning the statement for each
# query's values cost ~1.4 ms of its ~2 ms in the database (pg_stat_statements, 100k-building city).
# Not with a district, scope or division filter: their generic plans ran 5-40x slower than planning
# each query (a filter the planner cannot size), so those are planned for each query, as before.


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
    per_kind = query.offset + query.limit + 1
    params = _params(conn, query, id_lookup, per_kind, query.limit + 1)
    write, extra = write_if_people or (None, {})
    norm, forms = cast(str, params["norm"]), _forms(params)
    generic = not any(forms)
    broad = broad_parts(conn, kinds, norm, per_kind) if generic else unranged(kinds, norm)
    statement = _statement(kinds, *forms, write, broad, city_of(query.division))
    if not generic:
        return _page(conn.execute(statement, params | extra | {"page": query.limit}), query.limit)
    with planner_settings(conn, plan_cache_mode="force_generic_plan"):
        return _page(conn.execute(statement, params | extra | {"page": query.limit}), query.limit)


def _page(result: CursorResult, limit: int) -> tuple[list[dict], bool]:
    """The first ``limit`` rows as dicts, and whether more follow."""
    rows = [dict(r) for r in result.mappings()]
    return rows[:limit], len(rows) > limit


def _params(conn: Connection, query: Query, id_lookup: bool, per_kind: int, limit: int) -> dict[str, object]:
    number = id_number(query.text) if id_lookup else None
    q = conn.execute(NORMALISE, {"q": query.text, "district": query.district or None}).mappings().one()
    code = q["code"]
    return {
        "norm": q["norm"],
        "norm_hi": after(q["norm"]),
        "grams": q["grams"],
        "contains": f"%{q['norm']}%",
        "exact": f"%|{q['norm']}|%",
        "prefix": f"%|{q['norm']}%",
        "starts": f"{q['norm']}%",
        "code": code,
        "code_hi": after(code) if len(code) >= CODE_PREFIX_MIN else code,  # shorter: no prefix range
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
    broad = unranged(kinds, cast(str, params["norm"]))
    city = city_of(query.division)
    sql = search_sql(kinds, export=True, district=district, scoped=scoped, division=division, broad=broad, city=city)
    return sql, params, "person" in kinds
