"""The audit log partitioned by UTC month (migration 0021): converted in place on a populated database
(every row, its id and hash kept, the chain still verifying and going on, and back again on downgrade); the API's
audit search over a time window plans only that window's months (EXPLAIN (FORMAT JSON)); a month
without a partition waits in the default one and moves there as written; the application role still
only reads and appends (it may read a month's partition, never change it)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from shapely import Point
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from core import audit_chain, audit_partitions, migrate
from spatial_api.routers.admin import audit_search_sql
from tests.conftest import create_owned_database, drop_database, settings_for

# Times that no other test writes, in four different months, one before the chain's first month.
SEEDED = ["2001-01-05T10:00:00Z", "2001-01-31T23:59:59Z", "2001-02-01T00:00:00Z", "2001-04-17T08:30:00Z"]


def _scanned(plan: dict) -> set[str]:
    """The relations a plan reads (every node's ``Relation Name``, at any depth)."""
    found = {plan["Relation Name"]} if "Relation Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _scanned(child)
    return found


def _explain(conn, sql: str, params: dict) -> set[str]:
    plan = conn.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"), params).scalar_one()
    return _scanned(plan[0]["Plan"])


def _partitions(conn) -> set[str]:
    return set(
        conn.execute(
            text("""SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'audit_log'::regclass""")
        ).scalars()
    )


def _log(conn, at: str, action: str) -> None:
    conn.execute(
        text("INSERT INTO audit_log (at, username, action, result) VALUES (:at, 'partition-test', :a, 'ok')"),
        {"at": at, "a": action},
    )


def _snapshot(conn) -> list[tuple]:
    return conn.execute(text("SELECT id, at, action, prev_hash, hash FROM audit_log ORDER BY id")).all()


def test_conversion_in_place_keeps_every_row_and_the_chain(server_url: str) -> None:
    name = f"cim_part_{uuid.uuid4().hex[:8]}"
    url, owner_url = create_owned_database(server_url, name)
    app, owner = create_engine(url), create_engine(owner_url)
    try:
        with settings_for(url, None, owner_url if owner_url != url else None):
            migrate.upgrade(owner, "0020")
            with app.begin() as conn:
                for k, at in enumerate(SEEDED):
                    _log(conn, at, f"seed.{k}")
                conn.execute(text("INSERT INTO audit_log (username, action, result) VALUES ('u', 'seed.now', 'ok')"))
            with app.connect() as conn:
                before = _snapshot(conn)
            migrate.upgrade(owner)
            with app.connect() as conn:
                after = _snapshot(conn)
                verdict = audit_chain.verify(conn)
                homes = dict(conn.execute(text("SELECT action, tableoid::regclass::text FROM audit_log")).all())
            assert after == before and len(after) == 5
            assert verdict.ok and verdict.rows == 5
            # Each row in its own month's partition, none left waiting in the default one.
            assert homes["seed.0"] == homes["seed.1"] == "audit_partitions.audit_log_200101"
            assert homes["seed.2"] == "audit_partitions.audit_log_200102"
            assert homes["seed.3"] == "audit_partitions.audit_log_200104"
            assert homes["seed.now"] == f"audit_partitions.audit_log_{datetime.now(UTC):%Y%m}"
            # The chain goes on across the conversion.
            with app.begin() as conn:
                conn.execute(text("INSERT INTO audit_log (username, action, result) VALUES ('u', 'next', 'ok')"))
            with app.connect() as conn:
                assert audit_chain.verify(conn).rows == 6 and audit_chain.verify(conn).ok
                before_down = _snapshot(conn)
            migrate.downgrade(owner, "0020")
            with app.connect() as conn:
                assert _snapshot(conn) == before_down
                assert audit_chain.verify(conn).ok
                kind = conn.execute(text("SELECT relkind FROM pg_class WHERE relname = 'audit_log'")).scalar_one()
            assert kind == "r"  # a plain table again
    finally:
        app.dispose()
        owner.dispose()
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def months(database: Engine, owner_database: Engine) -> list[str]:
    """Partitions of 2001-01 to 2001-06 in the session's database, each with a row."""
    audit_partitions.maintain(datetime(2001, 1, 1, tzinfo=UTC), ahead=5)
    with database.begin() as conn:
        for k, at in enumerate(SEEDED):
            _log(conn, at, f"partition-test.{k}")
    return [f"audit_log_2001{m:02d}" for m in range(1, 7)]


def test_audit_search_in_a_time_window_reads_only_its_months(database: Engine, months: list[str]) -> None:
    with database.connect() as conn:
        every = _partitions(conn)
        assert set(months) <= every and "audit_log_default" in every
        window = audit_search_sql(
            None, None, datetime(2001, 2, 1, tzinfo=UTC), datetime(2001, 3, 1, tzinfo=UTC), 100, 0
        )
        assert _explain(conn, *window) == {"audit_log_200102"}
        two = audit_search_sql(
            "partition-test", None, datetime(2001, 1, 20, tzinfo=UTC), datetime(2001, 3, 1, tzinfo=UTC), 100, 0
        )
        assert _explain(conn, *two) == {"audit_log_200101", "audit_log_200102"}
        # And it answers what the rows say.
        found = conn.execute(text(two[0]), two[1]).mappings().all()
        assert [r["action"] for r in found] == ["partition-test.2", "partition-test.1"]
        # Without a window every partition is read (the plan is not pruned by accident).
        assert _explain(conn, *audit_search_sql(None, None, None, None, 100, 0)) == every


def test_a_month_without_partition_waits_then_moves_as_written(database: Engine, months: list[str]) -> None:
    at = "1999-07-04T12:00:00Z"
    with database.begin() as conn:
        _log(conn, at, "partition-test.waiting")
    with database.connect() as conn:
        home = conn.execute(
            text("SELECT tableoid::regclass::text FROM audit_log WHERE action = 'partition-test.waiting'")
        )
        assert home.scalar_one() == "audit_partitions.audit_log_default"
        row = conn.execute(text("SELECT id, hash FROM audit_log WHERE action = 'partition-test.waiting'")).one()
    made = audit_partitions.maintain()  # the daily job: it finds the waiting month
    assert "audit_log_199907" in made
    with database.connect() as conn:
        moved = conn.execute(
            text(
                "SELECT id, hash, tableoid::regclass::text AS home FROM audit_log"
                " WHERE action = 'partition-test.waiting'"
            )
        ).one()
        assert (moved.id, moved.hash) == (row.id, row.hash)
        assert moved.home == "audit_partitions.audit_log_199907"
        assert audit_chain.verify(conn).ok


def test_two_makers_of_the_same_month_both_succeed(owner_database: Engine) -> None:
    month = datetime(1998, 3, 1, tzinfo=UTC)
    names: list[object] = []
    first = owner_database.connect()
    trans = first.begin()
    first.execute(text("SELECT audit_log_partition(:m)"), {"m": month})  # holds its lock until commit

    def second() -> None:
        with owner_database.begin() as conn:
            names.append(conn.execute(text("SELECT audit_log_partition(:m)"), {"m": month}).scalar_one())

    thread = threading.Thread(target=second)
    thread.start()
    thread.join(timeout=1)
    assert thread.is_alive()  # waiting for the first's lock
    trans.commit()
    first.close()
    thread.join(timeout=30)
    assert names == ["audit_log_199803"]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET result = 'x' WHERE at < '2001-02-01'",
        "DELETE FROM audit_log WHERE at < '2001-02-01'",
        "TRUNCATE audit_log",
        "DELETE FROM audit_partitions.audit_log_200101",
        "UPDATE audit_log_head SET hash = repeat('0', 64)",  # the chain's last hash: the owner's trigger only
    ],
)
def test_the_application_still_only_reads_and_appends(database: Engine, months: list[str], statement: str) -> None:
    with pytest.raises(DBAPIError, match="permission denied"), database.begin() as conn:
        conn.execute(text(statement))


def test_the_owner_cannot_truncate_a_month_either(owner_database: Engine, months: list[str]) -> None:
    with pytest.raises(DBAPIError, match="append-only"), owner_database.begin() as conn:
        conn.execute(text("TRUNCATE audit_partitions.audit_log_200101"))
    with owner_database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_partitions.audit_log_200101")).scalar_one() == 2


def test_a_temporary_table_of_the_application_cannot_stand_in_for_the_chain(database: Engine) -> None:
    """The chain trigger runs as the owner; its tables are named with their schema, so the application's own
    temporary ``audit_log`` or ``audit_log_head`` (searched first for unqualified names) is not used."""
    with database.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE audit_log (id bigserial, hash text) ON COMMIT DROP"))
        conn.execute(text("CREATE TEMP TABLE audit_log_head (one boolean, id bigint, hash text) ON COMMIT DROP"))
        conn.execute(text("INSERT INTO audit_log_head VALUES (true, 1, repeat('0', 64))"))
        conn.execute(
            text("INSERT INTO public.audit_log (username, action, result) VALUES ('partition-test', 'temp', 'ok')")
        )
    with database.connect() as conn:
        newest = conn.execute(text("SELECT max(id) FROM audit_log")).scalar_one()
        mine = conn.execute(text("SELECT id FROM audit_log WHERE username = 'partition-test' AND action = 'temp'"))
        assert mine.scalar_one() == newest
        assert audit_chain.verify(conn).ok


# Buildings, house units, pipes and nodes by city (migration 0022), on databases of their own: two cities
# (4201, 4202) side by side in the store CRS, and rows outside both (no city: the default partition).
CITIES = {"4201": (500000, 3400000), "4202": (501000, 3400000)}
OUTSIDE = (600000, 3400000)
TABLES = ("building", "house_unit", "pipe_node", "pipeline")


def _square(x: float, y: float, side: float) -> str:
    from core.settings import store_srid

    ring = f"{x} {y},{x + side} {y},{x + side} {y + side},{x} {y + side},{x} {y}"
    return f"ST_GeomFromText('POLYGON(({ring}))', {store_srid()})"


def _point(x: float, y: float) -> str:
    from core.settings import store_srid

    return f"ST_SetSRID(ST_MakePoint({x}, {y}, 0), {store_srid()})"


def _building(conn, code: str, x: float, y: float, **columns: str) -> None:
    names = ", ".join(["code", "floors_below", "footprint", *columns])
    values = ", ".join([f"'{code}'", "0", _square(x, y, 10), *(f"'{v}'" for v in columns.values())])
    conn.execute(text(f"INSERT INTO building ({names}) VALUES ({values})"))


def _unit(conn, unit: str, building: str) -> None:
    conn.execute(
        text(
            "INSERT INTO house_unit (id, building_code, unit_no, floor, area_m2, residents)"
            " VALUES (:u, :b, '101', 1, 80, 2)"
        ),
        {"u": unit, "b": building},
    )


def _populate(conn) -> None:
    """The province, its two cities, and in each city and outside them a building with a unit, two nodes
    and a pipe between them."""
    conn.execute(
        text(
            "INSERT INTO division (code, level, name, geom) "
            f"VALUES ('420000000000', 1, 'P', ST_Multi({_square(500000, 3400000, 2000)}))"
        )
    )
    for city, (x, y) in CITIES.items():
        conn.execute(
            text(
                "INSERT INTO division (code, parent_code, level, name, geom) VALUES "
                f"('{city}00000000', '420000000000', 2, 'C{city}', ST_Multi({_square(x, y, 1000)}))"
            )
        )
    for tag, (x, y) in {**CITIES, "none": OUTSIDE}.items():
        _building(conn, f"B{tag}", x + 10, y + 10)
        _unit(conn, f"U{tag}", f"B{tag}")
        for node, dx in (("a", 100), ("b", 200)):
            conn.execute(
                text(
                    "INSERT INTO pipe_node (id, utility, kind, is_open, geom)"
                    f" VALUES ('N{tag}{node}', 'water', 'valve', true, {_point(x + dx, y + 50)})"
                )
            )
        conn.execute(
            text(
                "INSERT INTO pipeline (id, utility, depth_ref, status, from_node, to_node, geom) VALUES "
                f"('P{tag}', 'water', 'top', 'in_service', 'N{tag}a', 'N{tag}b', "
                f"ST_MakeLine({_point(x + 100, y + 50)}, {_point(x + 200, y + 50)}))"
            )
        )


def _rows(conn) -> dict[str, list[tuple]]:
    """Every row of the four tables (without the city), in key order."""
    keys = {"building": "code", "house_unit": "id", "pipe_node": "id", "pipeline": "id"}
    return {
        table: [
            tuple(v for k, v in row._mapping.items() if k != "city_code")
            for row in conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
        ]
        for table, key in keys.items()
    }


@contextmanager
def _populated_at_0021(server_url: str) -> Iterator[tuple[Engine, dict[str, list[tuple]]]]:
    """A database of its own at 0021 holding :func:`_populate`'s rows (the settings pointing at it while it
    lasts); the owner's engine and the rows as written (:func:`_rows`). Dropped after."""
    name = f"cim_city_{uuid.uuid4().hex[:8]}"
    _, owner_url = create_owned_database(server_url, name)
    engine = create_engine(owner_url)
    try:
        with settings_for(owner_url):
            migrate.upgrade(engine, "0021")
            with engine.begin() as conn:
                _populate(conn)
                before = _rows(conn)
            yield engine, before
    finally:
        engine.dispose()
        drop_database(server_url, name)


@pytest.fixture(scope="module")
def cities(server_url: str) -> Iterator[Engine]:
    """A database at 0021 with :func:`_populate`'s rows, converted in place to 0022; the owner's engine."""
    with _populated_at_0021(server_url) as (engine, _):
        migrate.upgrade(engine)
        yield engine


def _where(conn, table: str, key: str, value: str) -> str:
    """The partition holding the row."""
    sql = f"SELECT tableoid::regclass::text FROM {table} WHERE {key} = :v"
    return conn.execute(text(sql), {"v": value}).scalar_one().removeprefix("city_partitions.")


def _of(table: str, relations: set[str]) -> set[str]:
    """The partitions of ``table`` among the relations a plan reads."""
    return {r for r in relations if r.startswith(f"{table}_")}


def test_conversion_puts_each_row_in_its_city(cities: Engine) -> None:
    with cities.connect() as conn:
        for tag in CITIES:
            assert _where(conn, "building", "code", f"B{tag}") == f"building_{tag}"
            assert _where(conn, "house_unit", "id", f"U{tag}") == f"house_unit_{tag}"
            assert _where(conn, "pipe_node", "id", f"N{tag}a") == f"pipe_node_{tag}"
            assert _where(conn, "pipeline", "id", f"P{tag}") == f"pipeline_{tag}"
        assert _where(conn, "building", "code", "Bnone") == "building_default"
        assert _where(conn, "house_unit", "id", "Unone") == "house_unit_default"


def test_identify_and_statistics_on_a_city_plan_only_its_partitions(cities: Engine) -> None:
    from core import divisions
    from core.settings import store_srid
    from gis.analysis import divisions as statistics
    from gis.analysis import identify

    with cities.connect() as conn:
        conn.execute(text("ANALYZE"))
        # identify at a point: the point's city first, then the pick in that city's partitions
        at = {"x": 500020.0, "y": 3400020.0, "srid": store_srid()}
        city = conn.execute(identify._CITY_AT, at).scalar_one()
        assert city == "4201"
        picked = _explain(conn, identify._PICK_IN_CITY.text, at | {"city": city})
        for table in ("building", "pipeline", "pipe_node"):
            assert _of(table, picked) == {f"{table}_4201"}
        assert identify.pick(conn, Point(at["x"], at["y"])) == ("buildings", "B4201")
        # identify by id: the building and its units in the building's city only
        answer = _explain(conn, identify._answer_sql("buildings"), {"id": "B4202", "d": 10.0, "city": "4202"})
        assert _of("building", answer) == {"building_4202"}
        assert _of("house_unit", answer) == {"house_unit_4202"}
        assert identify.identify(conn, "buildings", "B4202", False)["house_units"]["units"] == 1
        # statistics by a city or a division below it
        for division in ("4201", "420101", "420100000000"):
            where = f"t.division_code LIKE :division_like AND {divisions.city_condition('building', division)}"
            stats = _explain(conn, f"SELECT count(*) FROM building t WHERE {where}", {"division_like": "4201%"})
            assert stats == {"building_4201"}
        total = statistics.statistics(conn, "4201", None)["total"]
        assert (total["buildings"], total["pipelines"]) == (1, 1)
        # a point outside every city (a single city's store): the default partition only
        outside = {"x": OUTSIDE[0] + 20.0, "y": OUTSIDE[1] + 20.0, "srid": store_srid(), "city": ""}
        assert _of("building", _explain(conn, identify._PICK_IN_CITY.text, outside)) == {"building_default"}
        assert identify.pick(conn, Point(outside["x"], outside["y"])) == ("buildings", "Bnone")


def test_a_row_whose_city_changes_moves_with_its_units(cities: Engine) -> None:
    x, y = CITIES["4202"]
    with cities.begin() as conn:
        _building(conn, "Bmove", 500500, 3400500)
        _unit(conn, "Umove", "Bmove")
        assert (_where(conn, "building", "code", "Bmove"), _where(conn, "house_unit", "id", "Umove")) == (
            "building_4201",
            "house_unit_4201",
        )
        conn.execute(text(f"UPDATE building SET footprint = {_square(x + 500, y + 500, 10)} WHERE code = 'Bmove'"))
        assert (_where(conn, "building", "code", "Bmove"), _where(conn, "house_unit", "id", "Umove")) == (
            "building_4202",
            "house_unit_4202",
        )
        row = conn.execute(text("SELECT city_code, division_code FROM building WHERE code = 'Bmove'")).one()
        assert tuple(row) == ("4202", "420200000000")
        conn.execute(text("DELETE FROM building WHERE code = 'Bmove'"))


def test_a_writer_giving_no_or_the_wrong_city_is_put_right(cities: Engine) -> None:
    with cities.begin() as conn:
        _building(conn, "Bwrong", 500600, 3400600, city_code="4202")
        _building(conn, "Bnocity", 500650, 3400650)
        _unit(conn, "Unocity", "Bwrong")
        assert _where(conn, "building", "code", "Bwrong") == "building_4201"
        assert _where(conn, "building", "code", "Bnocity") == "building_4201"
        assert _where(conn, "house_unit", "id", "Unocity") == "house_unit_4201"
        conn.execute(text("DELETE FROM building WHERE code IN ('Bwrong', 'Bnocity')"))


def test_code_is_unique_across_cities(cities: Engine) -> None:
    x, y = CITIES["4202"]
    with pytest.raises(DBAPIError, match="already in another city"), cities.begin() as conn:
        _building(conn, "B4201", x + 300, y + 300)


def test_references_are_checked_and_deletes_cascade(cities: Engine) -> None:
    with pytest.raises(DBAPIError, match="is not a building"), cities.begin() as conn:
        _unit(conn, "Ux", "nope")
    with pytest.raises(DBAPIError, match="still referenced"), cities.begin() as conn:
        conn.execute(text("DELETE FROM pipe_node WHERE id = 'N4201a'"))
    with cities.begin() as conn:
        _building(conn, "Bgone", 500700, 3400700)
        _unit(conn, "Ugone", "Bgone")
        conn.execute(
            text(
                "INSERT INTO safety_appraisal (appraisal_no, building_code, appraised_on, grade) "
                "VALUES ('Agone', 'Bgone', '2024-01-01', 'B')"
            )
        )
        conn.execute(text("DELETE FROM building WHERE code = 'Bgone'"))
        for table in ("house_unit", "safety_appraisal"):
            sql = f"SELECT count(*) FROM {table} WHERE building_code = 'Bgone'"
            assert conn.execute(text(sql)).scalar_one() == 0


def test_upsert_reimport_is_a_no_op(cities: Engine) -> None:
    from shapely import Polygon
    from sqlalchemy.orm import Session

    from gis.importers.write import upsert

    x, y = CITIES["4202"]
    square = Polygon([(x + 800, y + 800), (x + 810, y + 800), (x + 810, y + 810)])
    rows = [{"code": "Bimport", "floors_below": 0, "height_m": 9.0, "footprint": square}]
    answers = []
    with cities.connect() as conn:
        for _ in range(2):
            with Session(bind=conn) as session:
                upsert(session, "building", "code", rows, ("footprint",))
                session.commit()
            answers.append(
                conn.execute(
                    text(
                        "SELECT tableoid::regclass::text, city_code, division_code, height_m, count(*) OVER ()"
                        " FROM building WHERE code = 'Bimport'"
                    )
                ).one()
            )
    assert answers[0] == answers[1] == ("city_partitions.building_4202", "4202", "420200000000", 9.0, 1)


def test_a_city_division_written_makes_its_partitions(cities: Engine) -> None:
    with cities.begin() as conn:
        _building(conn, "Bnew", 700000, 3400000, division_code="420300000001")
        assert _where(conn, "building", "code", "Bnew") == "building_default"
        conn.execute(
            text(
                "INSERT INTO division (code, parent_code, level, name)"
                " VALUES ('420300000000', '420000000000', 2, 'C4203')"
            )
        )
        assert _where(conn, "building", "code", "Bnew") == "building_4203"
        partitions = conn.execute(
            text("SELECT count(*) FROM pg_class WHERE relname LIKE '%\\_4203' AND relkind = 'r'")
        ).scalar_one()
        assert partitions == len(TABLES)


# Areas (store CRS) for within: in one city, across both, outside every city, in 4202's land reaching rows
# that belong to 4201 (a pipe crossing the border, a building its writer gave 4201's division), and nowhere.
AREAS = {
    "one city": (500000, 3400000, 500300, 3400100),
    "two cities": (500000, 3400000, 501300, 3400100),
    "outside the cities": (600000, 3400000, 600300, 3400100),
    "4201's rows in 4202": (501100, 3400250, 501600, 3400600),
    "nowhere": (800000, 3400000, 800100, 3400100),
}


def _expected_within(conn, area) -> dict:
    """Buildings (centroid inside), their units and residents, and pipe length by utility (the part inside)
    of an area, computed by shapely from every row of the parent tables (no city named)."""
    from shapely import from_wkb

    buildings = {
        code: from_wkb(wkb) for code, wkb in conn.execute(text("SELECT code, ST_AsBinary(footprint) FROM building"))
    }
    inside = {code for code, footprint in buildings.items() if area.intersects(footprint.centroid)}
    units = [r for r in conn.execute(text("SELECT building_code, residents FROM house_unit")) if r[0] in inside]
    lengths: dict[str, float] = {}
    for utility, wkb in conn.execute(text("SELECT utility, ST_AsBinary(ST_Force2D(geom)) FROM pipeline")):
        part = from_wkb(wkb).intersection(area)
        if not part.is_empty:
            lengths[utility] = lengths.get(utility, 0.0) + part.length
    return {
        "count": len(inside),
        "units": len(units),
        "residents": sum(r[1] for r in units),
        "pipes": {k: round(v, 2) for k, v in sorted(lengths.items())},
    }


def test_within_names_the_cities_its_area_can_hold_and_answers_as_over_every_row(cities: Engine) -> None:
    """Within reads only the partitions whose rows' box (city_extent, migration 0025) meets the area, and
    answers as shapely over every row does: rows of a city lying outside its land (a pipe crossing the
    border, a building given another city's division) and rows of no city included."""
    from shapely import box

    from core import city_extents
    from core.settings import store_srid
    from gis.analysis import within

    with cities.begin() as conn:
        for node, x in (("a", 500700), ("b", 501300)):
            conn.execute(
                text(
                    "INSERT INTO pipe_node (id, utility, kind, is_open, geom)"
                    f" VALUES ('Ncross{node}', 'water', 'valve', true, {_point(x, 3400300)})"
                )
            )
        line = f"ST_MakeLine(ARRAY[{_point(500700, 3400300)}, {_point(500800, 3400300)}, {_point(501300, 3400300)}])"
        conn.execute(
            text(
                "INSERT INTO pipeline (id, utility, depth_ref, status, from_node, to_node, geom) VALUES "
                f"('Pcross', 'gas', 'top', 'in_service', 'Ncrossa', 'Ncrossb', {line})"
            )
        )
        _building(conn, "Bgiven", 501500, 3400500, division_code="420100000001")
        _unit(conn, "Ugiven", "Bgiven")
        assert _where(conn, "pipeline", "id", "Pcross") == "pipeline_4201"  # the city of its middle vertex
        assert _where(conn, "building", "code", "Bgiven") == "building_4201"
        conn.execute(text("ANALYZE"))
        for name, bounds in AREAS.items():
            area = box(*bounds)
            answer = within.within(conn, area, store_srid(), 2026)
            got = answer["buildings"]
            expected = _expected_within(conn, area)
            assert (got["count"], got["house_units"], got["residents"]) == (
                expected["count"],
                expected["units"],
                expected["residents"],
            ), name
            assert answer["pipe_length_m_by_utility"] == pytest.approx(expected["pipes"], abs=0.01), name
            assert expected["count"] or expected["pipes"] or name == "nowhere", name  # each area has rows to count
        # what each area's statements plan: the partitions of the cities its box can hold, alone
        planned = {}
        for name, bounds in AREAS.items():
            area = box(*bounds)
            named = city_extents.meeting(conn, area.bounds)
            params = {"wkb": area.wkb, "srid": store_srid()}
            relations = set()
            for statement in (within._BUILDINGS, within._RESIDENTS, within._DANGEROUS, within._PIPES):
                relations |= _explain(conn, city_extents.statement(statement, within._CITY_COLUMNS, named).text, params)
            planned[name] = {r.removeprefix("city_partitions.") for r in relations}
        assert planned["one city"] == {"building_4201", "house_unit_4201", "pipeline_4201"}
        assert planned["two cities"] == {f"{t}_{c}" for t in ("building", "house_unit", "pipeline") for c in CITIES}
        assert planned["outside the cities"] == {"building_default", "house_unit_default", "pipeline_default"}
        # in 4202's land (whose partitions hold rows there only if an earlier test left them), 4201's rows
        assert {"building_4201", "house_unit_4201", "pipeline_4201"} <= planned["4201's rows in 4202"]
        assert planned["4201's rows in 4202"] <= planned["two cities"]
        assert planned["nowhere"] == set()
        conn.rollback()


def _tile(x: float, y: float, z: int) -> tuple[int, int]:
    """The XYZ tile at zoom ``z`` holding the store-CRS point (x, y)."""
    import math

    from pyproj import Transformer

    from core.settings import store_srid

    lon, lat = Transformer.from_crs(store_srid(), 4326, always_xy=True).transform(x, y)
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_spatial_reads_plan_the_cities_of_their_area_and_answer_as_over_every_city(cities: Engine) -> None:
    """Incident, excavation, clearance, vector tiles and OGC items with a bbox name the cities whose rows'
    box meets their area: on an area in one city their plans read its partitions alone, outside every city
    the default ones; their answers are those of the same statements over every partition."""
    from shapely import box

    from core import city_extents
    from core.ogc import query as ogc
    from core.registry import registry
    from core.settings import store_srid
    from gis.analysis import clearance, excavation, incident
    from spatial_api.routers import mvt

    everywhere = {"building": "TRUE", "house_unit": "TRUE", "pipeline": "TRUE"}
    statements = (
        (incident._BUILDINGS, incident._CITY_COLUMNS),
        (incident._PIPES, incident._CITY_COLUMNS),
        (excavation._PIPES, excavation._CITY_COLUMNS),
        (clearance._PAIRS, clearance._CITY_COLUMNS),
    )
    with cities.connect() as conn:
        conn.execute(text("ANALYZE"))
        for name, bounds in AREAS.items():
            area = box(*bounds)
            named = city_extents.meeting(conn, area.bounds)
            params = {"wkb": area.wkb, "srid": store_srid(), "origin": area.centroid.wkb, "depth": 5.0, "search": 3.0}
            planned: set[str] = set()
            for template, columns in statements:
                pruned = city_extents.statement(template, columns, named)
                planned |= {r.removeprefix("city_partitions.") for r in _explain(conn, pruned.text, params)}
                every = conn.execute(text(template.format(**everywhere)), params).all()
                assert conn.execute(pruned, params).all() == every, name
            if name == "one city":
                assert planned == {"building_4201", "house_unit_4201", "pipeline_4201"}
            if name == "outside the cities":
                assert planned == {"building_default", "house_unit_default", "pipeline_default"}
        # vector tiles in 4201 and outside every city (zoom 17: ~250 m a side)
        for (x, y), partition in (((500000, 3400000), "4201"), ((OUTSIDE[0], OUTSIDE[1]), "default")):
            for layer, table, (dx, dy) in (("buildings", "building", (15, 15)), ("pipelines", "pipeline", (150, 50))):
                tx, ty = _tile(x + dx, y + dy, 17)  # the tile of the building's or the pipe's middle
                collection = registry().layer(layer)
                params = {"z": 17, "x": tx, "y": ty, "layer": layer, "tolerance": 0.0, "min_area": 0.0}
                pruned = mvt._statement(conn, collection, params)
                planned = {r.removeprefix("city_partitions.") for r in _explain(conn, pruned.text, params)}
                assert planned == {f"{table}_{partition}"}, layer
                every = conn.execute(text(mvt.tile_sql(collection).format(**everywhere)), params).scalar()
                assert conn.execute(pruned, params).scalar() == every
        # OGC items with a bbox (CRS84) around 4201's building
        from pyproj import Transformer

        to_lonlat = Transformer.from_crs(store_srid(), 4326, always_xy=True).transform
        corners = (*to_lonlat(500000, 3400000), *to_lonlat(500100, 3400100))
        request = ogc.Items(layer=registry().layer("buildings"), bbox=corners)
        named_cities = dict(city_extents.meeting_box(conn, *ogc._box(request)))["building"]
        assert named_cities == ("4201",)
        where, params = ogc.where_sql(request, named_cities)
        assert _explain(conn, f"SELECT count(*) FROM building AS t{where}", params) == {"building_4201"}
        assert ogc.items(conn, request)[1] == 1 and "B4201" in ogc.items(conn, request)[0][0]


def _written(conn, table: str, before: dict[str, tuple[int, ...]] | None = None) -> dict[str, tuple[int, ...]]:
    """Rows inserted, updated and deleted in each partition of ``table`` by the session (PostgreSQL 15 counts
    in these views what it has not yet reported of earlier transactions too), less ``before``'s counts."""
    sql = """SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_xact_user_tables
              WHERE schemaname = 'city_partitions' AND relname LIKE :like"""
    counts = {r[0]: tuple(r[1:]) for r in conn.execute(text(sql), {"like": f"{table}\\_%"})}
    if before is None:
        return counts
    changed = {
        name: tuple(a - b for a, b in zip(n, before.get(name, (0, 0, 0)), strict=True)) for name, n in counts.items()
    }
    return {name: n for name, n in changed.items() if any(n)}


def test_a_records_import_writes_a_house_unit_once_into_its_city(cities: Engine) -> None:
    """A house unit written through the records API (the import's path) is inserted into its building's
    city's partition, not into the default one and then moved (the statement's plain insert did that)."""
    from records import spec
    from records import write as record_write

    with cities.begin() as conn:
        before = _written(conn, "house_unit")
        _unit(conn, "Uplain", "B4201")  # a plain insert, without the city
        assert _written(conn, "house_unit", before) == {"house_unit_default": (1, 0, 1), "house_unit_4201": (1, 0, 0)}
        conn.rollback()
    with cities.begin() as conn:
        body = {"id": "Urecord", "building_code": "B4201", "unit_no": "202", "floor": 2, "area_m2": 90, "residents": 3}
        before = _written(conn, "house_unit")
        record_write.create(conn, spec.get("house_units"), body, "partition-test")
        assert _written(conn, "house_unit", before) == {"house_unit_4201": (1, 0, 0)}
        assert _where(conn, "house_unit", "id", "Urecord") == "house_unit_4201"
        conn.rollback()


def test_search_in_a_city_division_plans_its_partitions(cities: Engine) -> None:
    """Search with a division in a city reads that city's building partition alone, and finds what the
    same search without the city condition finds."""
    from search import query as search

    with cities.connect() as conn:
        for division in ("4201", "420100000000"):
            asked = search.Query("B4201", ("building",), division=division)
            params = search._params(conn, asked, False, 11, 11)
            city = search.city_of(division)
            assert city == "4201"
            sql = search.search_sql(("building",), division=True, city=city)
            planned = {r.removeprefix("city_partitions.") for r in _explain(conn, sql, params)}
            assert _of("building", planned) == {"building_4201"}
            every = conn.execute(text(search.search_sql(("building",), division=True)), params).all()
            assert every and conn.execute(text(sql), params).all() == every
            assert [hit["id"] for hit in search.run(conn, asked, False)[0]] == ["B4201"]
        assert search.city_of("42") is None and search.city_of(None) is None


def test_city_extents_hold_every_row_and_refresh_makes_them_tight(cities: Engine) -> None:
    """Each city's box holds all its rows (grown by the triggers, a moved row in its new city's), and
    ``city_extent_refresh()`` gives the boxes of the rows as they are."""
    boxes = """SELECT 'building', city_code, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                 FROM (SELECT city_code, ST_Extent(footprint) AS e FROM building GROUP BY 1) AS b
               UNION ALL SELECT 'pipeline', city_code, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                 FROM (SELECT city_code, ST_Extent(geom) AS e FROM pipeline GROUP BY 1) AS p"""
    kept = "SELECT table_name, city_code, x_min, y_min, x_max, y_max FROM city_extent"
    with cities.begin() as conn:
        x, y = CITIES["4202"]
        _building(conn, "Bfar", x + 900, y + 900)
        conn.execute(text(f"UPDATE building SET footprint = {_square(x + 950, y + 950, 10)} WHERE code = 'Bfar'"))
        extents = {(r[0], r[1]): r[2:] for r in conn.execute(text(kept))}
        for table, city, *box_ in conn.execute(text(boxes)):
            x_min, y_min, x_max, y_max = extents[(table, city)]
            assert x_min <= box_[0] and y_min <= box_[1] and x_max >= box_[2] and y_max >= box_[3], (table, city)
        assert extents[("building", "4202")][2:] == (x + 960, y + 960)
        conn.execute(text("DELETE FROM building WHERE code = 'Bfar'"))
        assert {(r[0], r[1]): r[2:] for r in conn.execute(text(kept))} == extents  # a delete leaves the box
        conn.execute(text("SELECT city_extent_refresh()"))
        refreshed = {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(text(kept)) if r[0] != "pipe_node"}
        assert refreshed == {(r[0], r[1]): tuple(r[2:]) for r in conn.execute(text(boxes))}
        conn.rollback()


def test_downgrade_returns_plain_tables_with_their_rows(server_url: str) -> None:
    with _populated_at_0021(server_url) as (engine, before):
        migrate.upgrade(engine)
        migrate.downgrade(engine, "0021")
        with engine.connect() as conn:
            assert _rows(conn) == before
            kinds = conn.execute(
                text("SELECT DISTINCT relkind FROM pg_class WHERE relname = ANY(:t)"), {"t": list(TABLES)}
            ).scalars()
            assert set(kinds) == {"r"}
            references = (
                "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid::regclass::text = ANY(:t)"
            )
            foreign = conn.execute(text(references), {"t": list(TABLES)}).scalar_one()
            assert foreign == 5  # units, appraisals and sensors to buildings, pipes' two ends to nodes
        migrate.upgrade(engine)
