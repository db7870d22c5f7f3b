"""city extents: the box each city's rows of ``building``, ``pipeline`` and ``pipe_node`` cover, per
table and city code of migration 0022 ('' for none; the default partition holds those and the codes of
cities not made yet), kept by the tables' statement triggers, so a spatial read names the cities that can
hold rows in its area and its plan prunes the other partitions

A row belongs to the city of its division (a pipe to the city of its middle point, a row to the division
its writer gave): a pipe crossing a border, or a row whose division is not where it lies, reaches outside
its city's land, so the cities whose land meets an area would miss it. The extent covers every row ever
written to the partition: it only grows (a delete leaves it), which keeps it a superset without a lock
per write once a city's extent is settled; ``city_extent_refresh()`` makes it tight again (after a bulk
load with the triggers set aside).

Revision ID: 0025
Revises: 0024
"""

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

GEOMETRY = {"building": "footprint", "pipe_node": "geom", "pipeline": "geom"}

FUNCTIONS = r"""
-- The extents grown by a statement's written rows (TG_ARGV[0]: the geometry column), only where a city's
-- box does not already hold them: a writer inside a settled city's box takes no lock. A row's city is its
-- division's (an inserted row routed to another city is moved there by city_rows_check after this).
CREATE FUNCTION city_extent_grow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($sql$
    INSERT INTO city_extent AS e (table_name, city_code, x_min, y_min, x_max, y_max)
    SELECT %1$L, g.city_code, ST_XMin(g.box), ST_YMin(g.box), ST_XMax(g.box), ST_YMax(g.box)
      FROM (SELECT coalesce(left(n.division_code, 4), n.city_code) AS city_code, ST_Extent(n.%2$I) AS box
              FROM new_rows n GROUP BY 1) AS g
     WHERE g.box IS NOT NULL AND NOT EXISTS (
           SELECT FROM city_extent c WHERE c.table_name = %1$L AND c.city_code = g.city_code
              AND c.x_min <= ST_XMin(g.box) AND c.y_min <= ST_YMin(g.box)
              AND c.x_max >= ST_XMax(g.box) AND c.y_max >= ST_YMax(g.box))
    ON CONFLICT (table_name, city_code) DO UPDATE SET
      x_min = least(e.x_min, EXCLUDED.x_min), y_min = least(e.y_min, EXCLUDED.y_min),
      x_max = greatest(e.x_max, EXCLUDED.x_max), y_max = greatest(e.y_max, EXCLUDED.y_max)$sql$,
    TG_TABLE_NAME, TG_ARGV[0]);
  RETURN NULL;
END $$;

-- Every extent computed again from the rows (tight after deletes; after writes with the triggers aside).
CREATE FUNCTION city_extent_refresh() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM city_extent;
  INSERT INTO city_extent (table_name, city_code, x_min, y_min, x_max, y_max)
  SELECT t, c, ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box) FROM (
    SELECT 'building' AS t, city_code AS c, ST_Extent(footprint) AS box FROM building GROUP BY city_code
    UNION ALL
    SELECT 'pipeline', city_code, ST_Extent(geom) FROM pipeline GROUP BY city_code
    UNION ALL
    SELECT 'pipe_node', city_code, ST_Extent(geom) FROM pipe_node GROUP BY city_code) AS g
   WHERE box IS NOT NULL;
END $$;

-- A city's partitions made (0022's city_partition, run by the trigger before this one) take the rows that
-- waited in the default partition, written into the partition itself (no statement trigger of the parent):
-- the city's extents from its rows.
CREATE FUNCTION city_partition_extent() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _city text := left(NEW.code, 4);
BEGIN
  INSERT INTO city_extent AS e (table_name, city_code, x_min, y_min, x_max, y_max)
  SELECT t, _city, ST_XMin(box), ST_YMin(box), ST_XMax(box), ST_YMax(box) FROM (
    SELECT 'building' AS t, ST_Extent(footprint) AS box FROM building WHERE city_code = _city
    UNION ALL
    SELECT 'pipeline', ST_Extent(geom) FROM pipeline WHERE city_code = _city
    UNION ALL
    SELECT 'pipe_node', ST_Extent(geom) FROM pipe_node WHERE city_code = _city) AS g
   WHERE box IS NOT NULL
  ON CONFLICT (table_name, city_code) DO UPDATE SET
    x_min = least(e.x_min, EXCLUDED.x_min), y_min = least(e.y_min, EXCLUDED.y_min),
    x_max = greatest(e.x_max, EXCLUDED.x_max), y_max = greatest(e.y_max, EXCLUDED.y_max);
  RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(
        "CREATE TABLE city_extent (table_name text NOT NULL, city_code varchar(4) NOT NULL,"
        " x_min double precision NOT NULL, y_min double precision NOT NULL,"
        " x_max double precision NOT NULL, y_max double precision NOT NULL,"
        " CONSTRAINT pk_city_extent PRIMARY KEY (table_name, city_code))"
    )
    op.execute(FUNCTIONS)
    for table, geom in GEOMETRY.items():
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER city_extent_{event.lower()} AFTER {event} ON {table} "
                "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                f"EXECUTE FUNCTION city_extent_grow('{geom}')"
            )
    # after 0022's city_partition trigger (triggers of one event fire in name order)
    op.execute(
        "CREATE TRIGGER city_partition_extent AFTER INSERT OR UPDATE OF code, level ON division "
        "FOR EACH ROW WHEN (NEW.level = 2) EXECUTE FUNCTION city_partition_extent()"
    )
    op.execute("SELECT city_extent_refresh()")


def downgrade() -> None:
    op.execute("DROP TRIGGER city_partition_extent ON division")
    for table in GEOMETRY:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER city_extent_{event} ON {table}")
    op.execute(
        "DROP FUNCTION city_partition_extent(); DROP FUNCTION city_extent_refresh(); DROP FUNCTION city_extent_grow()"
    )
    op.execute("DROP TABLE city_extent")
