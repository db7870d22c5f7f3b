"""province: administrative divisions at five levels with their 12-digit codes and boundaries; every
building, project, pipe, node, enterprise and event carries its division code (prefix-indexed); a
district is a county-level division (mirrored into ``division`` by a trigger)

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from core.settings import store_srid

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The tables whose rows carry a division, and the geometry column it is found from.
CODED = {
    "building": "footprint",
    "project": "footprint",
    "pipeline": "geom",
    "pipe_node": "geom",
    "enterprise": "location",
    "emergency_event": "location",
}

# A code's level from its trailing zeros, and the prefix that names it (2, 4, 6, 9 or 12 digits); a
# district's 6-digit code as a 12-digit one. The district mirror keeps ``division`` level 3 in step.
FUNCTIONS = """
CREATE FUNCTION division_level(code text) RETURNS smallint LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN substr(code, 3) = '0000000000' THEN 1 WHEN substr(code, 5) = '00000000' THEN 2
              WHEN substr(code, 7) = '000000' THEN 3 WHEN substr(code, 10) = '000' THEN 4 ELSE 5 END::smallint
$$;
CREATE FUNCTION division_prefix(code text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT left(code, (ARRAY[2, 4, 6, 9, 12])[division_level(code)])
$$;
CREATE FUNCTION district_to_division() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _code text;
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    DELETE FROM division WHERE code = rpad(OLD.code, 12, '0') AND level = division_level(rpad(OLD.code, 12, '0'));
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    _code := rpad(NEW.code, 12, '0');
    INSERT INTO division (code, parent_code, level, name, geom)
    VALUES (_code, CASE WHEN division_level(_code) > 1
                        THEN rpad(left(_code, (ARRAY[0, 2, 4, 6, 9])[division_level(_code)]), 12, '0') END,
            division_level(_code), NEW.name, NEW.geom)
    ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, geom = EXCLUDED.geom;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER district_to_division AFTER INSERT OR UPDATE OR DELETE ON district
  FOR EACH ROW EXECUTE FUNCTION district_to_division();

-- The deepest division a geometry (store CRS) lies in: the one holding a point on its surface.
CREATE FUNCTION division_at(g geometry) RETURNS varchar(12) LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT d.code FROM division d
   WHERE g IS NOT NULL AND ST_Intersects(d.geom, ST_PointOnSurface(ST_Force2D(g)))
   ORDER BY d.level DESC, d.code LIMIT 1
$$;
-- A row written without a division code (or moved, its code left as it was) is given one spatially.
-- TG_ARGV[0]: the geometry column.
CREATE FUNCTION division_assign() RETURNS trigger LANGUAGE plpgsql AS $$
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


def upgrade() -> None:
    op.create_table(
        "division",
        sa.Column("code", sa.String(12), primary_key=True),
        sa.Column("parent_code", sa.String(12)),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text()),
        sa.Column("zone_srid", sa.Integer()),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=store_srid(), spatial_index=False)),
        sa.CheckConstraint("level BETWEEN 1 AND 5", name=op.f("ck_division_level")),
        sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f("ck_division_code")),
    )
    op.create_index("idx_division_geom", "division", ["geom"], postgresql_using="gist")
    op.create_index("ix_division_parent_code", "division", ["parent_code"])
    op.execute(FUNCTIONS)
    op.execute(
        "INSERT INTO division (code, level, name, geom) SELECT rpad(code, 12, '0'), "
        "division_level(rpad(code, 12, '0')), name, geom FROM district"
    )
    for table, geom in CODED.items():
        op.add_column(table, sa.Column("division_code", sa.String(12)))
        op.create_index(
            f"ix_{table}_division_code",
            table,
            ["division_code"],
            postgresql_ops={"division_code": "varchar_pattern_ops"},
        )
        op.execute(
            f"CREATE TRIGGER division_assign BEFORE INSERT OR UPDATE OF {geom} ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION division_assign('{geom}')"
        )


def downgrade() -> None:
    for table in CODED:
        op.execute(f"DROP TRIGGER division_assign ON {table}")
        op.drop_index(f"ix_{table}_division_code", table)
        op.drop_column(table, "division_code")
    op.execute("DROP TRIGGER district_to_division ON district; DROP FUNCTION district_to_division()")
    op.execute("DROP FUNCTION division_assign(); DROP FUNCTION division_at(geometry)")
    op.drop_table("division")
    op.execute("DROP FUNCTION division_prefix(text); DROP FUNCTION division_level(text)")
