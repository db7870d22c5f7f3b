"""Search: Chinese fuzzy matching, codes, ID numbers, ranking, paging, districts, masking and audit,
checked against plain-Python matching over the rows read with independent SQL."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

import pytest
import shapely

from core.settings import get_settings

SEARCH = "/api/v1/search"


def norm(value: str) -> str:
    """The test's own normalisation: NFKC, lower case, no administrative suffixes or punctuation."""
    return re.sub(r"街道|[省市区县镇]|[\s\W_]", "", unicodedata.normalize("NFKC", value).lower())


def masked(name: str) -> str:
    """A name as a role without personal-data rights sees it: 张*, 张*明, 欧**明."""
    return name[0] + "*" if len(name) <= 2 else name[0] + "*" * (len(name) - 2) + name[-1]


def ids(answer: dict, kind: str | None = None) -> list[str]:
    return [h["id"] for h in answer["hits"] if kind is None or h["kind"] == kind]


@pytest.fixture(scope="module")
def addresses(rows, sample_city) -> dict[str, str]:
    return {r["code"]: r["address"] for r in rows("SELECT code, address FROM building WHERE address IS NOT NULL")}


def get(client, headers=None, **params) -> dict:
    response = client.get(SEARCH, params=params, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def test_partial_enterprise_name(client, rows, sample_city) -> None:
    names = {r["uscc"]: r["name"] for r in rows("SELECT uscc, name FROM enterprise")}
    fragment = next(iter(names.values()))[2:4]  # the trade name in 常州XX建设工程有限公司
    expected = {u for u, n in names.items() if norm(fragment) in norm(n)}
    answer = get(client, q=fragment, kind="enterprise", limit=100)
    assert set(ids(answer)) == expected and expected
    assert all(h["kind_label"] == "企业" for h in answer["hits"])


def test_uscc_exact_and_former_name(client, rows, database, sample_city) -> None:
    uscc, name = rows("SELECT uscc, name FROM enterprise ORDER BY uscc LIMIT 1")[0].values()
    answer = get(client, q=uscc.lower())
    assert answer["hits"][0]["id"] == uscc and answer["hits"][0]["match"] == "code"
    assert answer["hits"][0]["label"] == name
    with database.begin() as conn:
        conn.exec_driver_sql("UPDATE enterprise SET former_names = ARRAY['武进旧名营造厂'] WHERE uscc = %s", (uscc,))
    try:
        assert ids(get(client, q="旧名营造", kind="enterprise")) == [uscc]
    finally:
        with database.begin() as conn:
            conn.exec_driver_sql("UPDATE enterprise SET former_names = NULL WHERE uscc = %s", (uscc,))
    assert ids(get(client, q="旧名营造", kind="enterprise")) == []


def test_id_number_exact(client, rows, role_headers, sample_city_generated) -> None:
    numbers = sample_city_generated.id_cards.tolist()
    key = get_settings().pii_key.encode()
    by_hash = {r["id_card_hash"]: r["id"] for r in rows("SELECT id, id_card_hash FROM person")}
    number = numbers[5]
    expected = by_hash[hmac.new(key, number.encode(), hashlib.sha256).hexdigest()]
    spaced = unicodedata.normalize("NFKC", number)[:6] + " " + "".join(chr(ord(c) + 0xFEE0) for c in number[6:])
    for q in (number, spaced.lower()):
        answer = get(client, role_headers["admin"], q=q, kind="person")
        assert ids(answer) == [expected] and answer["hits"][0]["match"] == "code"
    wrong = next(n for n in (number[:-2] + str((int(number[-2]) + d) % 10) + number[-1] for d in range(1, 10))
                 if n not in numbers)  # fmt: skip
    assert ids(get(client, role_headers["admin"], q=wrong, kind="person")) == []
    assert ids(get(client, q=number, kind="person")) == []  # not for a role without personal-data rights


def test_address_fragment(client, addresses) -> None:
    fragment = re.search(r"区(.+?\d+号)", next(iter(addresses.values()))).group(1)
    expected = {c for c, a in addresses.items() if norm(fragment) in norm(a)}
    answer = get(client, q=fragment, kind="building", limit=100)
    assert set(ids(answer)) == expected and 0 < len(expected) < 100 and not answer["has_more"]
    assert all(fragment in h["label"] for h in answer["hits"])


def test_city_suffix_and_full_width(client, addresses) -> None:
    address = next(iter(addresses.values()))
    with_suffix = address[: address.index("区") + 1] + re.search(r"区(.+?)\d", address).group(1)
    without = with_suffix.replace("市", "").replace("区", "")
    assert with_suffix != without
    full_width = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in address)
    expected = {c for c, a in addresses.items() if norm(without) in norm(a)}
    first = get(client, q=with_suffix, kind="building", limit=100)
    assert set(ids(first)) == expected or (first["has_more"] and set(ids(first)) < expected)
    assert ids(get(client, q=without, kind="building", limit=100)) == ids(first)
    exact = get(client, q=full_width, kind="building", limit=5)
    assert exact["hits"][0]["label"] == address and exact["hits"][0]["match"] == "exact"


def test_ranking_and_paging(client, rows, sample_city) -> None:
    code = rows("SELECT code FROM building ORDER BY code LIMIT 1")[0]["code"]
    answer = get(client, q=code[:-2], limit=20)
    assert answer["hits"][0]["match"] == "code" or answer["hits"][0]["id"].startswith(code[:-2])
    order = ["code", "exact", "prefix", "contains"]
    q = "路"
    whole = get(client, q=q, limit=30)
    ranks = [order.index(h["match"]) for h in whole["hits"]]
    assert ranks == sorted(ranks)
    pages = get(client, q=q, limit=10)["hits"] + get(client, q=q, limit=10, offset=10)["hits"]
    pages += get(client, q=q, limit=10, offset=20)["hits"]
    assert [h["id"] for h in pages] == ids(whole)


def test_district_filter(client, addresses) -> None:
    expected = {c for c, a in addresses.items() if "武进区" in a and norm("路") in norm(a)}
    answer = get(client, q="路", kind="building", district="武进", limit=100)
    got = set(ids(answer))
    assert got <= expected and (got == expected or answer["has_more"]) and got
    assert {h["district"] for h in answer["hits"]} == {"武进区"}


def test_location_for_flying(client, rows, to_lonlat, sample_city) -> None:
    row = rows("SELECT code, address, ST_AsBinary(footprint) AS wkb_f FROM building ORDER BY code LIMIT 1")[0]
    hit = next(h for h in get(client, q=row["code"])["hits"] if h["id"] == row["code"])
    west, south, east, north = shapely.bounds(to_lonlat(row["wkb_f"]))
    assert hit["location"]["bbox"] == pytest.approx([west, south, east, north], abs=1e-9)
    assert west <= hit["location"]["lon"] <= east and south <= hit["location"]["lat"] <= north


def test_people_masked_for_public_and_audited(client, rows, role_headers, sample_city) -> None:
    people = {r["id"]: r["name"] for r in rows("SELECT id, name FROM person")}
    fragment = next(iter(people.values()))
    expected = {i for i, n in people.items() if fragment in n}
    before = rows("SELECT count(*) AS n FROM audit_log WHERE action = 'search_people'")[0]["n"]
    public = get(client, q=fragment, kind="person", limit=100)
    admin = get(client, role_headers["admin"], q=fragment, kind="person", limit=100)
    assert set(ids(public)) == set(ids(admin)) == expected
    for hit in public["hits"]:
        name = people[hit["id"]]
        assert hit["label"] == masked(name) != name
    assert {h["label"] for h in admin["hits"]} == {people[i] for i in expected}
    audits = rows("SELECT username FROM audit_log WHERE action = 'search_people' ORDER BY id")[before:]
    assert [a["username"] for a in audits] == [None, "admin"]


def test_audit_row_names_the_page_of_people(client, rows, sample_city) -> None:
    """The search's own statement writes its audit row: one per search whose page holds people, naming
    exactly the page's people in its order (not the one read ahead to tell whether more follow)."""
    people = rows("SELECT id, name FROM person ORDER BY id")
    surname = max({p["name"][0] for p in people}, key=lambda c: sum(p["name"][0] == c for p in people))
    assert sum(p["name"][0] == surname for p in people) > 2
    audit = "SELECT username, object, address, result FROM audit_log WHERE action = 'search_people' ORDER BY id"
    before = len(rows(audit))
    first, second = (
        get(client, q=surname, kind="person", limit=2),
        get(client, q=surname, kind="person", limit=2, offset=2),
    )
    get(client, q=rows("SELECT code FROM road ORDER BY code LIMIT 1")[0]["code"], kind="road")  # no people: no row
    written = rows(audit)[before:]
    assert first["has_more"] and len(ids(first)) == 2 and ids(second)
    assert [(w["username"], w["object"], w["result"]) for w in written] == [
        (None, f"search returned people {', '.join(ids(page))}", "ok") for page in (first, second)
    ]
    assert all(w["address"] for w in written)


def test_search_statement_prepared(database, sample_city) -> None:
    """The ~10 kB search statement is converted once by psycopg (its cache raised for long statements in
    core.db) and, used again on a connection, prepared there, on one generic plan (no planning per query);
    the connection's other statements are planned as before."""
    from psycopg import _queries
    from sqlalchemy import create_engine

    from search import query

    assert len(query.search_sql(tuple(query.KINDS))) > 4096
    engine = create_engine(database.url, isolation_level="AUTOCOMMIT")  # a connection of its own
    with engine.connect() as conn:
        hits = _queries._query2pg.cache_info().hits
        for _ in range(7):
            query.run(conn, query.Query("路", ()), id_lookup=False)
        # from its cache after the first time: the normalising statement and the search statement
        assert _queries._query2pg.cache_info().hits - hits >= 2 * 6
        plans = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"
        prepared = [p[1:] for p in conn.exec_driver_sql(plans).all() if "WITH hits AS" in p[0]]
        assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto"
    engine.dispose()
    assert prepared == [(2, 0)]  # planned once for the 6th and 7th


def test_broad_and_narrow_plans_answer_alike(monkeypatch, sample_city) -> None:
    """Reading a part in length order (broad) or through its index (narrow) changes the time, never the
    answer: every part forced each way, for broad, narrow, code, empty and paged queries."""
    from core.db import read_engine
    from search import query
    from search.kinds import KINDS

    every = frozenset((k, part) for k in KINDS for part in ("starts", "contains"))
    asked = [query.Query(q, ()) for q in ("路", "常州", "武进", "CZB00", "、", "1号", "有限公司")]
    asked += [query.Query("路", ("building", "road"), None, 7, 5), query.Query("常州", (), "武进", 20)]
    answers = {}
    with read_engine().connect() as conn:
        for name, forced in (("estimated", None), ("narrow", frozenset()), ("broad", every)):
            if forced is not None:
                monkeypatch.setattr(
                    query, "broad_parts", lambda conn, kinds, norm, n, f=forced: f | query.unranged(kinds, norm)
                )
            answers[name] = [query.run(conn, a, id_lookup=False) for a in asked]
    assert answers["estimated"] == answers["narrow"] == answers["broad"]
    assert any(hits for hits, _ in answers["estimated"])


def test_prefix_range_ends() -> None:
    """The end of a prefix's range: the next code point (over the surrogates), none for nothing to raise."""
    from search.query import after

    assert after("常州") == "常巟" and after("CZB1") == "CZB2"
    assert after("a\ud7ff") == "a\ue000" and after("a\U0010ffff") == "b"
    assert after("") is None and after("\U0010ffff") is None


@pytest.mark.parametrize(
    ("params", "status"), [({"q": " "}, 400), ({"q": "路", "kind": "planet"}, 400), ({"q": "路", "limit": 0}, 400)]
)
def test_bad_input(client, params, status) -> None:
    response = client.get(SEARCH, params=params)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"
