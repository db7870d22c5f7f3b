"""credit grading: rulesets, indicators, runs, scores, credit repairs, re-score requests (written
by triggers on penalties, bad records, inspections and complaints that also defer the queue job),
alerts, manual reviews, models; the ``credit`` role

Revision ID: 0006
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

ROLE = {"name": "credit", "description": "credit supervision: rulesets, scores, alerts, reviews and plans"}

# A complaint counts once it is closed with a verified result: the one definition, used by the
# re-score trigger and by the scoring aggregates. Triggers are per statement (transition tables): a
# bulk import makes one re-score job for all the enterprises it touched, not one per row; nothing is
# queued while no ruleset is active, nor by a bulk loader that says ``SET LOCAL cim.credit_rescore = 'off'``
# (it scores afterwards with a full run).
FUNCTIONS = """
CREATE FUNCTION credit_complaint_verified(_status text, _result text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$ SELECT _status = 'closed' AND coalesce(_result, '') LIKE '已核实%' $$;

CREATE FUNCTION credit_rescore_wanted() RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM credit_ruleset WHERE status = 'active')
           AND coalesce(current_setting('cim.credit_rescore', true), '') <> 'off'
$$;

CREATE FUNCTION credit_request_rescore(_events jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    _job uuid := gen_random_uuid();
    _queue_id bigint;
    _kept jsonb;
BEGIN
    SELECT jsonb_agg(ev) INTO _kept
    FROM jsonb_array_elements(coalesce(_events, '[]')) ev JOIN enterprise e ON e.uscc = ev ->> 0;
    IF _kept IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO credit_rescore_request (enterprise_uscc, cause, cause_id)
    SELECT ev ->> 0, ev ->> 1, ev ->> 2 FROM jsonb_array_elements(_kept) ev;
    INSERT INTO job (id, kind, status, stage, percent, params)
    VALUES (_job, 'credit.rescore', 'queued', 'queued', 0, jsonb_build_object('events', _kept));
    SELECT ids[1] INTO _queue_id FROM procrastinate_defer_jobs_v1(ARRAY[
        ROW('default', 'cim:credit.rescore', 0, 'credit-rescore', NULL,
            jsonb_build_object('job_id', _job::text), NULL)::procrastinate_job_to_defer_v1]) AS ids;
    UPDATE job SET queue_job_id = _queue_id WHERE id = _job;
END $$;

CREATE FUNCTION credit_on_penalty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT credit_rescore_wanted() THEN
        RETURN NULL;
    END IF;
    PERFORM credit_request_rescore((SELECT jsonb_agg(jsonb_build_array(subject_id, 'penalty', decision_no))
                                    FROM new_rows WHERE subject_kind = 'enterprise'));
    RETURN NULL;
END $$;

CREATE FUNCTION credit_on_credit_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT credit_rescore_wanted() THEN
        RETURN NULL;
    END IF;
    PERFORM credit_request_rescore((SELECT jsonb_agg(jsonb_build_array(subject_id, 'bad_record', id::text))
                                    FROM new_rows WHERE subject_kind = 'enterprise' AND kind = 'bad'));
    RETURN NULL;
END $$;

CREATE FUNCTION credit_inspection_events(_rows jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_array(i ->> 'enterprise_uscc',
        CASE i ->> 'result' WHEN 'fail' THEN 'inspection_fail' ELSE 'inspection_rectify' END, i ->> 'inspection_no'))
    FROM jsonb_array_elements(coalesce(_rows, '[]')) i
$$;

CREATE FUNCTION credit_on_inspection() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT credit_rescore_wanted() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM credit_request_rescore(credit_inspection_events((
            SELECT jsonb_agg(to_jsonb(n)) FROM new_rows n WHERE n.result = 'fail' OR n.rectify_order)));
    ELSE
        PERFORM credit_request_rescore(credit_inspection_events((
            SELECT jsonb_agg(to_jsonb(n)) FROM new_rows n JOIN old_rows o USING (inspection_no)
            WHERE (n.result = 'fail' AND o.result <> 'fail') OR (n.rectify_order AND NOT o.rectify_order))));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION credit_complaint_events(_verified jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_agg(jsonb_build_array(
        CASE c ->> 'target_kind' WHEN 'enterprise' THEN c ->> 'target_id'
             ELSE (SELECT contractor_uscc FROM project WHERE code = c ->> 'target_id') END,
        'complaint', c ->> 'id'))
    FROM jsonb_array_elements(coalesce(_verified, '[]')) c
$$;

CREATE FUNCTION credit_on_complaint() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT credit_rescore_wanted() THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        PERFORM credit_request_rescore(credit_complaint_events((
            SELECT jsonb_agg(to_jsonb(n)) FROM new_rows n WHERE credit_complaint_verified(n.status, n.result))));
    ELSE
        PERFORM credit_request_rescore(credit_complaint_events((
            SELECT jsonb_agg(to_jsonb(n)) FROM new_rows n JOIN old_rows o USING (id)
            WHERE credit_complaint_verified(n.status, n.result) AND NOT credit_complaint_verified(o.status, o.result))));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER credit_rescore AFTER INSERT ON penalty REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_penalty();
CREATE TRIGGER credit_rescore AFTER INSERT ON credit_record REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_credit_record();
CREATE TRIGGER credit_rescore AFTER INSERT ON inspection REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_inspection();
CREATE TRIGGER credit_rescore_update AFTER UPDATE ON inspection REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_inspection();
CREATE TRIGGER credit_rescore AFTER INSERT ON complaint REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_complaint();
CREATE TRIGGER credit_rescore_update AFTER UPDATE ON complaint REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION credit_on_complaint();
"""

DROP_FUNCTIONS = """
DROP TRIGGER IF EXISTS credit_rescore ON penalty;
DROP TRIGGER IF EXISTS credit_rescore ON credit_record;
DROP TRIGGER IF EXISTS credit_rescore ON complaint;
DROP TRIGGER IF EXISTS credit_rescore_update ON complaint;
DROP TRIGGER IF EXISTS credit_rescore ON inspection;
DROP TRIGGER IF EXISTS credit_rescore_update ON inspection;
DROP FUNCTION IF EXISTS credit_on_penalty(), credit_on_credit_record(), credit_on_inspection(),
    credit_inspection_events(jsonb),
    credit_on_complaint(), credit_complaint_events(jsonb), credit_request_rescore(jsonb), credit_rescore_wanted(),
    credit_complaint_verified(text, text);
"""


def upgrade() -> None:
    op.create_table(
        "credit_alert",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("cause_key", sa.Text(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("history", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("level IN ('blue', 'yellow', 'orange', 'red')", name=op.f("ck_credit_alert_level")),
        sa.CheckConstraint(
            "status IN ('generated', 'reviewed', 'dispatched', 'feedback', 'closed')",
            name=op.f("ck_credit_alert_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_alert")),
    )
    op.create_index(op.f("ix_credit_alert_enterprise_uscc"), "credit_alert", ["enterprise_uscc"], unique=False)
    op.create_index(op.f("ix_credit_alert_kind"), "credit_alert", ["kind"], unique=False)
    op.create_index(
        "uq_credit_alert_open_cause",
        "credit_alert",
        ["cause_key"],
        unique=True,
        postgresql_where=sa.text("status <> 'closed'"),
    )
    op.create_table(
        "credit_model",
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("features", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("auc", sa.Float(), nullable=False),
        sa.Column("calibration", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("train_rows", sa.Integer(), nullable=False),
        sa.Column("test_rows", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_credit_model")),
    )
    op.create_table(
        "credit_rescore_request",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("cause", sa.String(length=24), nullable=False),
        sa.Column("cause_id", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_rescore_request")),
    )
    op.create_index(
        op.f("ix_credit_rescore_request_enterprise_uscc"), "credit_rescore_request", ["enterprise_uscc"], unique=False
    )
    op.create_table(
        "credit_ruleset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("enterprise_types", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("thresholds", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("check_messages", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("proposed_by", sa.String(length=64), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'checked', 'approved', 'active', 'retired')", name=op.f("ck_credit_ruleset_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_ruleset")),
        sa.UniqueConstraint("version", name=op.f("uq_credit_ruleset_version")),
    )
    op.create_table(
        "credit_indicator",
        sa.Column("ruleset_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("family", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_en", sa.Text(), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("aggregate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scoring", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("frequency", sa.String(length=12), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("key", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "family IN ('基础信用', '合规经营', '监管记录', '投诉举报', '信用修复', '风险趋势')",
            name=op.f("ck_credit_indicator_family"),
        ),
        sa.ForeignKeyConstraint(
            ["ruleset_id"],
            ["credit_ruleset.id"],
            name=op.f("fk_credit_indicator_ruleset_id_credit_ruleset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ruleset_id", "code", name=op.f("pk_credit_indicator")),
    )
    op.create_table(
        "credit_repair",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("credit_record_id", sa.Integer(), nullable=True),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "status IN ('applied', 'approved', 'rejected', 'completed')", name=op.f("ck_credit_repair_status")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_credit_repair_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_repair")),
    )
    op.create_index(op.f("ix_credit_repair_enterprise_uscc"), "credit_repair", ["enterprise_uscc"], unique=False)
    op.create_table(
        "credit_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("engine_grade", sa.String(length=1), nullable=True),
        sa.Column("proposed_grade", sa.String(length=1), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(length=64), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.CheckConstraint("proposed_grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_credit_review_proposed_grade")),
        sa.CheckConstraint("status IN ('proposed', 'approved', 'rejected')", name=op.f("ck_credit_review_status")),
        sa.CheckConstraint("decided_by IS NULL OR decided_by <> proposed_by", name=op.f("ck_credit_review_two_person")),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_credit_review_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_review")),
    )
    op.create_index(op.f("ix_credit_review_enterprise_uscc"), "credit_review", ["enterprise_uscc"], unique=False)
    op.create_table(
        "credit_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ruleset_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enterprises", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["ruleset_id"], ["credit_ruleset.id"], name=op.f("fk_credit_run_ruleset_id_credit_ruleset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_run")),
    )
    op.create_index(op.f("ix_credit_run_ruleset_id"), "credit_run", ["ruleset_id"], unique=False)
    op.create_table(
        "credit_score",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("previous_grade", sa.String(length=1), nullable=True),
        sa.Column("families", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("indicators", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_credit_score_grade")),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_credit_score_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["credit_run.id"], name=op.f("fk_credit_score_run_id_credit_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "enterprise_uscc", name=op.f("pk_credit_score")),
    )
    op.create_index("ix_credit_score_enterprise_run", "credit_score", ["enterprise_uscc", "run_id"], unique=False)
    op.bulk_insert(sa.table("role", sa.column("name"), sa.column("description")), [ROLE])
    op.execute(FUNCTIONS)


def downgrade() -> None:
    op.execute(DROP_FUNCTIONS)
    op.execute(sa.text("UPDATE app_user SET role = 'public' WHERE role = :name").bindparams(name=ROLE["name"]))
    op.execute(sa.text("DELETE FROM role WHERE name = :name").bindparams(name=ROLE["name"]))
    op.drop_index("ix_credit_score_enterprise_run", table_name="credit_score")
    op.drop_table("credit_score")
    op.drop_index(op.f("ix_credit_run_ruleset_id"), table_name="credit_run")
    op.drop_table("credit_run")
    op.drop_index(op.f("ix_credit_review_enterprise_uscc"), table_name="credit_review")
    op.drop_table("credit_review")
    op.drop_index(op.f("ix_credit_repair_enterprise_uscc"), table_name="credit_repair")
    op.drop_table("credit_repair")
    op.drop_table("credit_indicator")
    op.drop_table("credit_ruleset")
    op.drop_index(op.f("ix_credit_rescore_request_enterprise_uscc"), table_name="credit_rescore_request")
    op.drop_table("credit_rescore_request")
    op.drop_table("credit_model")
    op.drop_index(
        "uq_credit_alert_open_cause", table_name="credit_alert", postgresql_where=sa.text("status <> 'closed'")
    )
    op.drop_index(op.f("ix_credit_alert_kind"), table_name="credit_alert")
    op.drop_index(op.f("ix_credit_alert_enterprise_uscc"), table_name="credit_alert")
    op.drop_table("credit_alert")
