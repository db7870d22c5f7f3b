"""credit: score rows keep their run and enterprise by statement-level triggers instead of per-row
foreign keys (a full run writes 100,000)

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


# One set-based check per INSERT/COPY statement (transition table) instead of one per row, and the
# ON DELETE CASCADE of the foreign keys as statement triggers on the referenced tables.
REFERENCES = """
CREATE FUNCTION credit_score_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    _missing text;
BEGIN
    SELECT coalesce(
        (SELECT 'enterprise ' || a.enterprise_uscc FROM added a
         WHERE NOT EXISTS (SELECT 1 FROM enterprise e WHERE e.uscc = a.enterprise_uscc) LIMIT 1),
        (SELECT 'credit run ' || a.run_id FROM added a
         WHERE NOT EXISTS (SELECT 1 FROM credit_run r WHERE r.id = a.run_id) LIMIT 1)) INTO _missing;
    IF _missing IS NOT NULL THEN
        RAISE EXCEPTION 'credit_score refers to % which does not exist', _missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER credit_score_references AFTER INSERT ON credit_score
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION credit_score_check_references();

-- TG_ARGV: the score column and the deleted table's key it refers to.
CREATE FUNCTION credit_score_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM credit_score s USING gone g WHERE s.%I = g.%I', TG_ARGV[0], TG_ARGV[1]);
    RETURN NULL;
END $$;
CREATE TRIGGER credit_score_cascade AFTER DELETE ON enterprise REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION credit_score_cascade('enterprise_uscc', 'uscc');
CREATE TRIGGER credit_score_cascade AFTER DELETE ON credit_run REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION credit_score_cascade('run_id', 'id');
"""
DROP_REFERENCES = """
DROP TRIGGER credit_score_cascade ON credit_run;
DROP TRIGGER credit_score_cascade ON enterprise;
DROP TRIGGER credit_score_references ON credit_score;
DROP FUNCTION credit_score_cascade();
DROP FUNCTION credit_score_check_references();
"""
FOREIGN_KEYS = (
    ("fk_credit_score_enterprise_uscc_enterprise", "enterprise", "enterprise_uscc", "uscc"),
    ("fk_credit_score_run_id_credit_run", "credit_run", "run_id", "id"),
)


def upgrade() -> None:
    for name, *_ in FOREIGN_KEYS:
        op.drop_constraint(name, "credit_score", type_="foreignkey")
    op.execute(REFERENCES)


def downgrade() -> None:
    op.execute(DROP_REFERENCES)
    for name, table, column, key in FOREIGN_KEYS:
        op.create_foreign_key(name, "credit_score", table, [column], [key], ondelete="CASCADE")
