"""city partitions: ``building``, ``house_unit``, ``pipeline`` and ``pipe_node`` partitioned by LIST on
``city_code`` (the first 4 digits of the row's division code, '' for none; a house unit takes its
building's), one partition per city in the schema ``city_partitions`` plus a default partition; keys
``(city_code, code)`` with ``code`` kept unique across cities and the references to these tables kept by
statement triggers; converted in place with their rows, downgrade back to plain tables

Revision ID: 0022
Revises: 0021
"""

from alembic import op
from sqlalchemy import text

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Table: its key, and the SQL (alias ``n``, a written row) of the city a row belongs to.
TABLES = {
    "building": ("code", "coalesce(left(n.division_code, 4), n.city_code)"),
    "house_unit": ("id", "coalesce((SELECT b.city_code FROM building b WHERE b.code = n.building_code), n.city_code)"),
    "pipe_node": ("id", "coalesce(left(n.division_code, 4), n.city_code)"),
    "pipeline": ("id", "coalesce(left(n.division_code, 4), n.city_code)"),
}
GEOMETRY = {"building": "footprint", "pipe_node": "geom", "pipeline": "geom"}
# The references into the partitioned tables (a foreign key needs a unique index on the key alone):
# referencing table, column, referenced table, its key, and what a delete of the referenced row does.
REFERENCES = (
    ("house_unit", "building_code", "building", "code", "cascade"),
    ("safety_appraisal", "building_code", "building", "code", "cascade"),
    ("sensor", "building_code", "building", "code", "cascade"),
    ("pipeline", "from_node", "pipe_node", "id", "restrict"),
    ("pipeline", "to_node", "pipe_node", "id", "restrict"),
)
FOREIGN_KEYS = {(table, column): f"fk_{table}_{column}_{parent}" for table, column, parent, _, _ in REFERENCES}

FUNCTIONS = r"""
CREATE FUNCTION city_of_division(code text) RETURNS varchar(4) LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(left(code, 4), '')::varchar(4)
$$;
-- The city (partition key) of a geometry in the store CRS, for writers to give in the statement itself.
CREATE FUNCTION city_of(g geometry) RETURNS varchar(4) LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT city_of_division(division_at(g))
$$;

-- 0014's, and on the tables partitioned by city (TG_ARGV[1] = 'city') their city. A row is routed to its
-- partition before this runs, and PostgreSQL refuses a BEFORE INSERT trigger that changes the partition
-- key: an insert keeps the city its writer gave ('' for none; one that differs from the division's is put
-- right by city_rows_check after the statement), an update follows the division (the row moves partition).
-- A row without a division (none found, or its code cleared to be assigned again) keeps its city: moving
-- it would insert it into the other partition, whose BEFORE INSERT trigger would assign it at once.
CREATE OR REPLACE FUNCTION division_assign() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _new geometry;
  _old geometry;
BEGIN
  EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) USING NEW INTO _new;
  IF TG_OP = 'INSERT' THEN
    IF NEW.division_code IS NULL THEN
      NEW.division_code := division_at(_new);
    END IF;
    IF TG_NARGS > 1 THEN
      NEW.city_code := coalesce(NEW.city_code, '');
    END IF;
  ELSE
    EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) USING OLD INTO _old;
    IF NEW.division_code IS NOT DISTINCT FROM OLD.division_code AND _new IS DISTINCT FROM _old THEN
      NEW.division_code := division_at(_new);
    END IF;
    IF TG_NARGS > 1 THEN
      NEW.city_code := coalesce(left(NEW.division_code, 4), NEW.city_code);
    END IF;
  END IF;
  RETURN NEW;
END $$;

-- A house unit lies in its building's city.
CREATE FUNCTION city_house_unit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.city_code := coalesce(NEW.city_code, '');
  ELSE
    NEW.city_code := coalesce((SELECT b.city_code FROM building b WHERE b.code = NEW.building_code), NEW.city_code);
  END IF;
  RETURN NEW;
END $$;

-- After a statement's writes: its keys (TG_ARGV[0]) unique across the cities, checked under a lock per
-- bucket of keys (two writers of one key in two cities wait for each other, then the second sees the
-- first's row), and the inserted rows a writer gave another city than theirs (TG_ARGV[1], alias n) moved.
CREATE FUNCTION city_rows_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _duplicate text;
BEGIN
  EXECUTE format('SELECT count(pg_advisory_xact_lock(hashtext(%L), b)) FROM
                    (SELECT DISTINCT abs(hashtext(%I)) %% 64 AS b FROM new_rows ORDER BY 1) AS buckets',
                 TG_TABLE_NAME, TG_ARGV[0]);
  IF TG_OP = 'INSERT' THEN
    EXECUTE format('UPDATE %1$I t SET city_code = %3$s FROM new_rows n
                     WHERE t.%2$I = n.%2$I AND t.city_code = n.city_code AND n.city_code <> %3$s',
                   TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1]);
  END IF;
  EXECUTE format('SELECT t.%2$I FROM %1$I t WHERE t.%2$I IN (SELECT %2$I FROM new_rows)
                   GROUP BY t.%2$I HAVING count(*) > 1 LIMIT 1', TG_TABLE_NAME, TG_ARGV[0]) INTO _duplicate;
  IF _duplicate IS NOT NULL THEN
    RAISE unique_violation USING
      MESSAGE = format('%s %s %s is already in another city', TG_TABLE_NAME, TG_ARGV[0], _duplicate),
      HINT = 'a row that changes city moves by UPDATE of its geometry or division_code, not by inserting it again';
  END IF;
  RETURN NULL;
END $$;

-- A reference (TG_ARGV: column, referenced table, its key) to a row that must exist, which is locked
-- against deletion as a foreign key locks it.
CREATE FUNCTION reference_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _missing text;
BEGIN
  EXECUTE format('SELECT count(*) FROM (SELECT FROM %2$I p WHERE p.%3$I IN (SELECT %1$I FROM new_rows)
                   FOR KEY SHARE OF p) AS locked', TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]);
  EXECUTE format('SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL
                   AND NOT EXISTS (SELECT FROM %2$I p WHERE p.%3$I = n.%1$I) LIMIT 1',
                 TG_ARGV[0], TG_ARGV[1], TG_ARGV[2]) INTO _missing;
  IF _missing IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('%s.%s %s is not a %s %s', TG_TABLE_NAME, TG_ARGV[0], _missing, TG_ARGV[1], TG_ARGV[2]);
  END IF;
  RETURN NULL;
END $$;

-- Keys (TG_ARGV[0]) gone from a referenced table by a statement: the rows referring to them (TG_ARGV[1..],
-- 'table.column.cascade|restrict') deleted, or the statement refused while any refers to them.
CREATE FUNCTION reference_gone() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _gone text := CASE TG_OP WHEN 'DELETE' THEN format('SELECT %I FROM old_rows', TG_ARGV[0])
                ELSE format('SELECT %1$I FROM old_rows EXCEPT SELECT %1$I FROM new_rows', TG_ARGV[0]) END;
  _child text[];
  _left text;
BEGIN
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    _child := string_to_array(TG_ARGV[i], '.');
    IF _child[3] = 'cascade' AND TG_OP = 'DELETE' THEN
      EXECUTE format('DELETE FROM %I WHERE %I IN (%s)', _child[1], _child[2], _gone);
    ELSE
      EXECUTE format('SELECT %2$I FROM %1$I WHERE %2$I IN (%3$s) LIMIT 1', _child[1], _child[2], _gone) INTO _left;
      IF _left IS NOT NULL THEN
        RAISE foreign_key_violation USING
          MESSAGE = format('%s %s is still referenced from %s.%s', TG_TABLE_NAME, _left, _child[1], _child[2]);
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END $$;

-- Buildings that changed city take their house units along.
CREATE FUNCTION city_house_unit_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE house_unit h SET city_code = n.city_code
    FROM new_rows n JOIN old_rows o ON o.code = n.code AND o.city_code <> n.city_code
   WHERE h.building_code = n.code AND h.city_code = o.city_code;
  RETURN NULL;
END $$;

-- A city's partitions of the four tables, made race-free as audit_log_partition() (0021): the rows of the
-- city that waited in a default partition move into it as written. As the schema's owner, so the
-- application role writing a city-level division makes them too.
CREATE FUNCTION city_partition(city text) RETURNS void LANGUAGE plpgsql
  SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  _table text;
  _name text;
  _columns text;
BEGIN
  IF city !~ '^[0-9]{4}$' THEN
    RAISE invalid_parameter_value USING MESSAGE = format('city %L is not a 4-digit city code', city);
  END IF;
  PERFORM pg_advisory_xact_lock(hashtext('city_partition'));
  FOREACH _table IN ARRAY ARRAY['building', 'house_unit', 'pipe_node', 'pipeline'] LOOP
    _name := _table || '_' || city;
    CONTINUE WHEN EXISTS (SELECT FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
                           WHERE s.nspname = 'city_partitions' AND c.relname = _name);
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO _columns FROM pg_attribute
     WHERE attrelid = _table::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('LOCK TABLE city_partitions.%I IN ACCESS EXCLUSIVE MODE', _table || '_default');
    EXECUTE format('CREATE TEMP TABLE _moving (LIKE city_partitions.%I)', _table || '_default');
    EXECUTE format('WITH moved AS (DELETE FROM city_partitions.%I WHERE city_code = %L RETURNING %s)
                    INSERT INTO pg_temp._moving (%3$s) SELECT * FROM moved', _table || '_default', city, _columns);
    EXECUTE format('CREATE TABLE city_partitions.%I PARTITION OF %I FOR VALUES IN (%L)', _name, _table, city);
    EXECUTE format('INSERT INTO city_partitions.%I (%s) SELECT %2$s FROM pg_temp._moving', _name, _columns);
    DROP TABLE pg_temp._moving;
  END LOOP;
END $$;

-- Writing a city-level division makes its city's partitions.
CREATE FUNCTION division_city_partition() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM city_partition(left(NEW.code, 4));
  RETURN NULL;
END $$;
"""


# 0014's: the division from the geometry on insert and when the geometry moves.
DIVISION_ASSIGN_0014 = """
CREATE OR REPLACE FUNCTION division_assign() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _new geometry;
  _old geometry;
BEGIN
  EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) USING NEW INTO _new;
  IF TG_OP = 'INSERT' THEN
    IF NEW.division_code IS NULL THEN
      NEW.division_code := division_at(_new);
    END IF;
  ELSE
    EXECUTE format('SELECT ($1).%I', TG_ARGV[0]) USING OLD INTO _old;
    IF NEW.division_code IS NOT DISTINCT FROM OLD.division_code AND _new IS DISTINCT FROM _old THEN
      NEW.division_code := division_at(_new);
    END IF;
  END IF;
  RETURN NEW;
END $$;
"""
DROP_FUNCTIONS = """
DROP FUNCTION division_city_partition(); DROP FUNCTION city_partition(text); DROP FUNCTION city_house_unit_follow();
DROP FUNCTION reference_gone(); DROP FUNCTION reference_check(); DROP FUNCTION city_rows_check();
DROP FUNCTION city_house_unit(); DROP FUNCTION city_of(geometry); DROP FUNCTION city_of_division(text);
"""


def _set_aside(table: str, partitioned: bool) -> list[str]:
    """The table renamed ``<table>_old`` without its plain indexes and triggers; the SQL that makes its
    indexes (the key's own index only on a partitioned table), outgoing foreign keys (not the references
    this migration replaces) and other triggers again."""
    conn = op.get_bind()
    params = {"table": table, "ours": list(FOREIGN_KEYS.values()), "key": f"ix_{table}_{TABLES[table][0]}"}
    indexes = conn.execute(
        text(
            "SELECT c.relname, replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON ') FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = CAST(:table AS regclass) "
            "AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid)"
        ),
        params,
    ).all()
    foreign = conn.execute(
        text(
            "SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', conrelid::regclass, conname, "
            "pg_get_constraintdef(oid)) FROM pg_constraint WHERE contype = 'f' "
            "AND conrelid = CAST(:table AS regclass) AND conname <> ALL(:ours)"
        ),
        params,
    ).scalars()
    triggers = conn.execute(
        text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = CAST(:table AS regclass) "
            "AND NOT tgisinternal AND tgname <> 'division_assign' AND tgname NOT LIKE 'city%'"
        ),
        params,
    ).scalars()
    remade = [d for n, d in indexes if n != params["key"]] + list(foreign) + list(triggers)
    op.execute(f"ALTER TABLE {table} RENAME TO {table}_old")
    op.execute(f"ALTER TABLE {table}_old RENAME CONSTRAINT pk_{table} TO pk_{table}_old")
    for name, _ in indexes:
        op.execute(f"DROP INDEX {name}")
    if partitioned:
        remade.append(f"CREATE INDEX ix_{table}_{TABLES[table][0]} ON {table} ({TABLES[table][0]})")
    return remade


def _create(table: str, partitioned: bool) -> None:
    """The new table like the old, keyed by ``(city_code, code)`` and partitioned by city, or by ``code``
    without ``city_code``."""
    key = TABLES[table][0]
    like = f"LIKE {table}_old INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS"
    if partitioned:
        op.execute(
            f"CREATE TABLE {table} ({like}, CONSTRAINT pk_{table} PRIMARY KEY (city_code, {key}))"
            " PARTITION BY LIST (city_code)"
        )
        op.execute(f"CREATE TABLE city_partitions.{table}_default PARTITION OF {table} DEFAULT")
    else:
        op.execute(f"CREATE TABLE {table} ({like}, CONSTRAINT pk_{table} PRIMARY KEY ({key}))")
        op.execute(f"ALTER TABLE {table} DROP COLUMN city_code")


def _fill(table: str, remade: list[str]) -> None:
    """The old table's rows copied (the generated columns computed again), the old table dropped, its
    indexes, foreign keys and triggers made again."""
    columns = (
        op.get_bind()
        .execute(
            text(
                "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute WHERE attrelid = "
                "CAST(:table AS regclass) AND attnum > 0 AND NOT attisdropped AND attgenerated = ''"
            ),
            {"table": table},
        )
        .scalar_one()
    )
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_old")
    op.execute(f"DROP TABLE {table}_old")
    for statement in remade:
        op.execute(statement)


def _triggers() -> None:
    """The city, uniqueness and reference triggers of the partitioned tables (after the copy)."""
    for table, geom in GEOMETRY.items():
        op.execute(
            f"CREATE TRIGGER division_assign BEFORE INSERT OR UPDATE OF {geom}, division_code, city_code ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION division_assign('{geom}', 'city')"
        )
    op.execute(
        "CREATE TRIGGER city_house_unit BEFORE INSERT OR UPDATE OF building_code, city_code ON house_unit"
        " FOR EACH ROW EXECUTE FUNCTION city_house_unit()"
    )
    for table, (key, city) in TABLES.items():
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER city_rows_check_{event.lower()} AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION city_rows_check('{key}', $${city}$$)"
            )
    for table, column, parent, key, _ in REFERENCES:
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER city_reference_{column}_{event.lower()} AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION reference_check('{column}', '{parent}', '{key}')"
            )
    for parent in ("building", "pipe_node"):
        key = TABLES[parent][0]
        children = ", ".join(f"'{t}.{c}.{action}'" for t, c, p, _, action in REFERENCES if p == parent)
        op.execute(
            f"CREATE TRIGGER city_reference_gone_delete AFTER DELETE ON {parent} REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION reference_gone('{key}', {children})"
        )
        op.execute(
            f"CREATE TRIGGER city_reference_gone_update AFTER UPDATE ON {parent} "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION reference_gone('{key}', {children})"
        )
    op.execute(
        "CREATE TRIGGER city_house_unit_follow AFTER UPDATE ON building "
        "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION city_house_unit_follow()"
    )
    op.execute(
        "CREATE TRIGGER city_partition AFTER INSERT OR UPDATE OF code, level ON division "
        "FOR EACH ROW WHEN (NEW.level = 2) EXECUTE FUNCTION division_city_partition()"
    )


def upgrade() -> None:
    op.execute("CREATE SCHEMA city_partitions")
    op.execute(FUNCTIONS)
    for (table, _), name in FOREIGN_KEYS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS division_assign ON {table}")
        op.execute(f"ALTER TABLE {table} ADD COLUMN city_code varchar(4) NOT NULL DEFAULT ''")
        op.execute(f"UPDATE {table} n SET city_code = {TABLES[table][1]} WHERE {TABLES[table][1]} <> ''")
    remade = {table: _set_aside(table, partitioned=True) for table in TABLES}
    for table in TABLES:
        _create(table, partitioned=True)
    op.execute("SELECT city_partition(left(code, 4)) FROM division WHERE level = 2 ORDER BY code")
    for table in TABLES:
        _fill(table, remade[table])
    _triggers()


def downgrade() -> None:
    op.execute("DROP TRIGGER city_partition ON division")
    for table, column, _, _, _ in REFERENCES:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER city_reference_{column}_{event} ON {table}")
    remade = {table: _set_aside(table, partitioned=False) for table in TABLES}
    for table in TABLES:
        _create(table, partitioned=False)
    for table in TABLES:
        _fill(table, remade[table])
    op.execute("DROP SCHEMA city_partitions")
    op.execute(DIVISION_ASSIGN_0014)
    for table, geom in GEOMETRY.items():
        op.execute(
            f"CREATE TRIGGER division_assign BEFORE INSERT OR UPDATE OF {geom} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION division_assign('{geom}')"
        )
    op.execute(DROP_FUNCTIONS)
    for table, column, parent, key, action in REFERENCES:
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {FOREIGN_KEYS[(table, column)]} FOREIGN KEY ({column}) "
            f"REFERENCES {parent} ({key})" + (" ON DELETE CASCADE" if action == "cascade" else "")
        )
