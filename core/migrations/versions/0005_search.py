"""search: normalised search columns, gram indexes, enterprises' former names, feature locations

Chinese fuzzy matching needs a normalisation both sides share (NFKC folds full-width forms,
administrative suffixes 省/市/区/县/镇/街道 and punctuation are dropped, so 常州 finds 常州市) and a
substring index that works for Chinese. pg_trgm cannot do the latter here: the cluster is
initialised without a locale (C), under which pg_trgm sees no word characters in Chinese text and
makes no trigrams. So each searchable table gets a stored, generated ``search_text`` and, beside it,
its distinct characters and character pairs (``search_grams``, stored too, so that rechecking a row
costs no recomputation) with a GIN index; a query's pairs must all be present, and a plain LIKE on
``search_text`` confirms the substring.

Revision ID: 0005
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0007"
branch_labels = None
depends_on = None

# table -> the normalised text a generated ``search_text`` holds (its grams go in ``search_grams``:
# a generated column cannot use another, so both are computed from the source columns)
SEARCH_TEXT = {
    "building": "search_norm(address)",
    "project": "search_norm(name)",
    "enterprise": "search_norm_list(ARRAY[name] || former_names)",
    "person": "search_norm(name)",
    "road": "search_norm(name)",
}

FUNCTIONS = (
    # One definition of the normalisation: NFKC, lower-case, no administrative suffixes, no spaces or punctuation.
    r"""CREATE FUNCTION search_norm(t text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN regexp_replace(lower(normalize(t, NFKC)), '街道|[省市区县镇]|[[:space:][:punct:]、，。·“”‘’《》]+', '', 'g')""",
    # Several names (an enterprise's present and former ones), '|' between them so no pair spans two.
    r"""CREATE FUNCTION search_norm_list(names text[]) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
        RETURN (SELECT string_agg(search_norm(n), '|') FROM unnest(names) AS n)""",
    # What the index holds: every character and every pair of neighbouring characters.
    r"""CREATE FUNCTION search_grams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN ARRAY(SELECT DISTINCT substr(t, i, n) FROM generate_series(1, length(t)) AS i,
                            (VALUES (1), (2)) AS v(n)
                      WHERE i + n - 1 <= length(t) AND strpos(substr(t, i, n), '|') = 0)""",
    # What a query asks for: its pairs (its one character when it has one).
    r"""CREATE FUNCTION search_query_grams(q text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
        RETURN CASE WHEN length(q) < 2 THEN ARRAY[q]
                    ELSE ARRAY(SELECT DISTINCT substr(q, i, 2) FROM generate_series(1, length(q) - 1) AS i) END""",
    # Where the viewer flies to: a CRS84 point on a store-CRS geometry and its CRS84 bounding box.
    r"""CREATE FUNCTION feature_location(g geometry) RETURNS json LANGUAGE sql STABLE PARALLEL SAFE STRICT
        RETURN (SELECT json_build_object('lon', ST_X(c), 'lat', ST_Y(c),
                                         'bbox', json_build_array(ST_XMin(w), ST_YMin(w), ST_XMax(w), ST_YMax(w)))
                  FROM (SELECT ST_Transform(ST_PointOnSurface(g), 4326) AS c, ST_Transform(g, 4326) AS w) AS s)""",
)


def upgrade() -> None:
    op.add_column("enterprise", sa.Column("former_names", postgresql.ARRAY(sa.Text()), nullable=True))
    for statement in FUNCTIONS:
        op.execute(statement)
    for table, expression in SEARCH_TEXT.items():
        normalised = sa.Computed(expression, persisted=True)
        op.add_column(table, sa.Column("search_text", sa.Text(), normalised, nullable=True))
        grams = sa.Computed(f"search_grams({expression})", persisted=True)
        op.add_column(table, sa.Column("search_grams", postgresql.ARRAY(sa.Text()), grams, nullable=True))
        op.create_index(f"ix_{table}_search_grams", table, ["search_grams"], postgresql_using="gin")


def downgrade() -> None:
    for table in SEARCH_TEXT:
        op.drop_index(f"ix_{table}_search_grams", table)
        op.drop_column(table, "search_grams")
        op.drop_column(table, "search_text")
    for name in (
        "feature_location(geometry)",
        "search_query_grams(text)",
        "search_grams(text)",
        "search_norm_list(text[])",
        "search_norm(text)",
    ):
        op.execute(f"DROP FUNCTION IF EXISTS {name}")
    op.drop_column("enterprise", "former_names")
