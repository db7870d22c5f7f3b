"""record versions: a record's row is its open version, ``record_version`` keeps superseded ones

Each versioned table gets ``version_from``, ``version_by`` and ``version_reason`` (what the open
version held: since when, by whom, why). The open versions with data move onto their rows and leave
``record_version``; the open versions without data (hard-deleted keys) stay. A first import of new
keys then writes only the rows. Downgrade writes each versioned row's open version back.

The references of people and projects to enterprises and parcels are checked once per statement
(transition tables) instead of by a per-row foreign-key trigger: the referenced rows are locked FOR
KEY SHARE and a missing one refuses the statement; deleting a referenced row (0022's
``reference_gone``, per statement) or changing its key (per row, only then) is refused while a row
refers to it, as the foreign keys (NO ACTION) did.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# kind (records/kinds.json) -> table and the columns of its key, as of this revision
KINDS = {
    "enterprises": ("enterprise", ("uscc",)),
    "qualifications": ("qualification", ("certificate_no",)),
    "people": ("person", ("id",)),
    "projects": ("project", ("code",)),
    "project_people": ("project_person", ("project_code", "person_id", "role")),
    "permits": ("construction_permit", ("permit_no",)),
    "filings": ("completion_filing", ("filing_no",)),
    "credit_records": ("credit_record", ("record_no",)),
    "penalties": ("penalty", ("decision_no",)),
    "complaints": ("complaint", ("complaint_no",)),
    "inspections": ("inspection", ("inspection_no",)),
    "safety_appraisals": ("safety_appraisal", ("appraisal_no",)),
    "house_units": ("house_unit", ("id",)),
    "sensors": ("sensor", ("id",)),
}
COLUMNS = ("version_from", "version_by", "version_reason")
ROLES = ("build_unit_uscc", "contractor_uscc", "supervisor_uscc", "designer_uscc", "surveyor_uscc")
# (table, referenced table, its key, the columns referring to it)
REFERENCES = (
    ("person", "enterprise", "uscc", ("employer_uscc",)),
    ("project", "enterprise", "uscc", ROLES),
    ("project", "parcel", "code", ("parcel_code",)),
)

# TG_ARGV: the referenced table, its key, then the columns of the written rows that refer to it. The
# rows referred to are locked as a foreign key locks them; a value that none has refuses the statement.
CHECK = r"""
CREATE FUNCTION references_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _columns text := (SELECT string_agg(format('n.%I', c), ', ') FROM unnest(TG_ARGV[2:TG_NARGS - 1]) AS c);
  _missing text;
BEGIN
  -- one pass: each value once, its row found through the key's index and locked, the first missing kept
  EXECUTE format('SELECT min(d.v) FILTER (WHERE l.k IS NULL)
                    FROM (SELECT DISTINCT v FROM new_rows n, unnest(ARRAY[%s]) AS v WHERE v IS NOT NULL) AS d
                    LEFT JOIN LATERAL (SELECT p.%I AS k FROM %I p WHERE p.%2$I = d.v FOR KEY SHARE OF p) AS l ON true',
                 _columns, TG_ARGV[1], TG_ARGV[0]) INTO _missing;
  IF _missing IS NOT NULL THEN
    RAISE foreign_key_violation USING
      MESSAGE = format('%s refers to %s %s %s, which does not exist', TG_TABLE_NAME, TG_ARGV[0], TG_ARGV[1], _missing);
  END IF;
  RETURN NULL;
END $$;

-- A referenced row's key changed (fired per row, only then): TG_ARGV the key, then 'table.column' of
-- the rows that may refer to it; the change is refused while one does.
CREATE FUNCTION references_kept() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  _key text;
  _child text[];
  _left boolean;
BEGIN
  EXECUTE format('SELECT ($1).%I::text', TG_ARGV[0]) USING OLD INTO _key;
  FOR i IN 1 .. TG_NARGS - 1 LOOP
    _child := string_to_array(TG_ARGV[i], '.');
    EXECUTE format('SELECT EXISTS (SELECT FROM %I WHERE %I = $1)', _child[1], _child[2]) USING _key INTO _left;
    IF _left THEN
      RAISE foreign_key_violation USING
        MESSAGE = format('%s %s is still referenced from %s.%s', TG_TABLE_NAME, _key, _child[1], _child[2]);
    END IF;
  END LOOP;
  RETURN NULL;
END $$;
"""


def _key(columns: tuple[str, ...]) -> str:
    return "concat_ws(':', " + ", ".join(f"t.{c}::text" for c in columns) + ")"


def upgrade() -> None:
    for kind, (table, key) in KINDS.items():
        op.add_column(table, sa.Column("version_from", sa.DateTime(timezone=True), nullable=True))
        op.add_column(table, sa.Column("version_by", sa.String(64), nullable=True))
        op.add_column(table, sa.Column("version_reason", sa.Text(), nullable=True))
        op.execute(
            f"""UPDATE {table} t SET version_from = v.valid_from, version_by = v.changed_by, version_reason = v.reason
                  FROM record_version v WHERE v.kind = '{kind}' AND v.valid_to IS NULL AND v.data IS NOT NULL
                   AND v.key = {_key(key)}"""
        )
    op.execute("DELETE FROM record_version WHERE valid_to IS NULL AND data IS NOT NULL")
    op.execute(CHECK)
    for table, parent, key, columns in REFERENCES:
        for column in columns:
            op.drop_constraint(f"fk_{table}_{column}_{parent}", table, type_="foreignkey")
        arguments = ", ".join(f"'{a}'" for a in (parent, key, *columns))
        for event in ("INSERT", "UPDATE"):
            op.execute(
                f"CREATE TRIGGER references_{parent}_{event.lower()} AFTER {event} ON {table} "
                f"REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION references_check({arguments})"
            )
    for parent, key in (("enterprise", "uscc"), ("parcel", "code")):
        children = [f"{t}.{c}" for t, p, _, cs in REFERENCES if p == parent for c in cs]
        gone = ", ".join(f"'{c}.restrict'" for c in children)
        op.execute(
            f"CREATE TRIGGER records_reference_gone AFTER DELETE ON {parent} REFERENCING OLD TABLE AS old_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION reference_gone('{key}', {gone})"
        )
        kept = ", ".join(f"'{c}'" for c in (key, *children))
        op.execute(  # per row, and only when the key changes: other updates (grades, names) pay nothing
            f"CREATE TRIGGER records_reference_kept AFTER UPDATE OF {key} ON {parent} FOR EACH ROW "
            f"WHEN (OLD.{key} IS DISTINCT FROM NEW.{key}) EXECUTE FUNCTION references_kept({kept})"
        )


def downgrade() -> None:
    for parent in ("enterprise", "parcel"):
        op.execute(f"DROP TRIGGER records_reference_kept ON {parent}")
        op.execute(f"DROP TRIGGER records_reference_gone ON {parent}")
    for table, parent, key, columns in REFERENCES:
        for event in ("insert", "update"):
            op.execute(f"DROP TRIGGER references_{parent}_{event} ON {table}")
        for column in columns:
            op.create_foreign_key(f"fk_{table}_{column}_{parent}", table, parent, [column], [key])
    op.execute("DROP FUNCTION references_kept(); DROP FUNCTION references_check()")
    for kind, (table, key) in KINDS.items():
        # a version's data: the row's stored columns (not the generated ones, nor the version's own)
        generated = [
            name
            for (name,) in op.get_bind().execute(
                sa.text(
                    """SELECT column_name FROM information_schema.columns
                        WHERE table_schema = current_schema() AND table_name = :t AND is_generated = 'ALWAYS'"""
                ),
                {"t": table},
            )
        ]
        dropped = "".join(f" - '{c}'" for c in (*COLUMNS, *generated))
        op.execute(
            f"""INSERT INTO record_version (kind, key, data, valid_from, changed_by, reason)
                SELECT '{kind}', {_key(key)}, to_jsonb(t){dropped}, t.version_from, t.version_by, t.version_reason
                  FROM {table} t WHERE t.version_from IS NOT NULL"""
        )
        for column in reversed(COLUMNS):
            op.drop_column(table, column)
