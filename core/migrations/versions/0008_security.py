"""security: token versions and districts on users, refresh tokens, API keys, login throttling, and the
audit log as a record; the reviewer role (hash-chained by an insert trigger, UPDATE/DELETE/TRUNCATE refused)

Revision ID: 0008
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

# The row's content as hashed: fields joined by the unit separator, the time in UTC to the microsecond.
# core/audit_chain.py computes the same in Python to verify.
CHAIN = r"""
CREATE FUNCTION audit_log_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE previous text;
BEGIN
  -- One writer at a time, so ids and the chain follow the same order.
  PERFORM pg_advisory_xact_lock(hashtext('audit_log_chain'));
  NEW.id := nextval(pg_get_serial_sequence('audit_log', 'id'));
  NEW.at := coalesce(NEW.at, now());
  SELECT hash INTO previous FROM audit_log ORDER BY id DESC LIMIT 1;
  NEW.prev_hash := coalesce(previous, '');
  NEW.hash := encode(sha256(convert_to(concat_ws(E'\x1f', NEW.prev_hash, NEW.id::text,
      to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(NEW.username, ''), NEW.action,
      coalesce(NEW.object, ''), coalesce(NEW.address, ''), NEW.result, coalesce(NEW.detail::text, '')), 'UTF8')), 'hex');
  RETURN NEW;
END $$;
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_chain();
CREATE FUNCTION audit_log_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % is not allowed', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_immutable();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_immutable();
-- Roles other than the table's owner (an application role apart from the migration role) lose the rights too.
DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT DISTINCT grantee FROM information_schema.role_table_grants
            WHERE table_name = 'audit_log' AND privilege_type IN ('UPDATE', 'DELETE', 'TRUNCATE')
              AND grantee <> current_user
  LOOP EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM %I', r.grantee); END LOOP;
END $$;
"""


def upgrade() -> None:
    op.add_column("app_user", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    op.add_column("app_user", sa.Column("districts", postgresql.ARRAY(sa.String(16)), nullable=True))
    op.add_column("audit_log", sa.Column("prev_hash", sa.String(64), nullable=True))
    op.add_column("audit_log", sa.Column("hash", sa.String(64), nullable=True))
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_username", "audit_log", ["username"])
    op.create_table(
        "refresh_token",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "username",
            sa.String(64),
            sa.ForeignKey("app_user.username", ondelete="CASCADE", name="fk_refresh_token_username_app_user"),
            nullable=False,
        ),
        sa.Column("family", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_version", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_refresh_token_username", "refresh_token", ["username"])
    op.create_index("ix_refresh_token_family", "refresh_token", ["family"])
    op.create_table(
        "api_key",
        sa.Column("prefix", sa.String(16), primary_key=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), sa.ForeignKey("role.name", name="fk_api_key_role_role"), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(16)), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(96), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.execute(CHAIN)
    op.execute("INSERT INTO role (name, description) VALUES ('reviewer', '审图人员 drawing reviewers: review models')")


def downgrade() -> None:
    op.execute("UPDATE app_user SET role = 'engineer' WHERE role = 'reviewer'")
    op.execute("DELETE FROM api_key WHERE role = 'reviewer'")
    op.execute("DELETE FROM role WHERE name = 'reviewer'")
    op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_immutable ON audit_log")
    op.execute("DROP TRIGGER IF EXISTS audit_log_chain ON audit_log")
    op.execute("DROP FUNCTION IF EXISTS audit_log_immutable()")
    op.execute("DROP FUNCTION IF EXISTS audit_log_chain()")
    op.drop_table("login_throttle")
    op.drop_table("api_key")
    op.drop_table("refresh_token")
    op.drop_index("ix_audit_log_username", table_name="audit_log")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_column("audit_log", "hash")
    op.drop_column("audit_log", "prev_hash")
    op.drop_column("app_user", "districts")
    op.drop_column("app_user", "token_version")
