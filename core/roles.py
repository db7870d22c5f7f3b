"""What the application role may do in a database whose schema another role (the owner, which runs the
migrations) owns: read and write rows, nothing else. No CREATE, ALTER, DROP or TRUNCATE (those need
ownership, or grants it does not get), and on the audit log only SELECT and INSERT, so the rows the
application writes there stay as written even if the application is taken over."""

from __future__ import annotations

from sqlalchemy import Connection, text

APPEND_ONLY = ("audit_log",)
# Tables the application only reads: the audit chain's last hash (written by the chain's SECURITY DEFINER trigger).
READ_ONLY = ("audit_log_head",)
# Schemas whose tables the application only reads: the audit log's monthly partitions (rows are appended
# through ``audit_log``, whose grants alone are consulted then).
READ_ONLY_SCHEMAS = ("audit_partitions",)


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a plain role name: {name!r}")
    return f'"{name}"'


def grants_sql(application: str, owner: str) -> str:
    """One DO block that grants ``application`` the rows of every schema ``owner`` owns (and public),
    for the tables there now and those the owner makes later."""
    app, own = _ident(application), _ident(owner)
    revokes = "\n".join(f"  REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {app};" for table in APPEND_ONLY)
    read_only = "\n".join(f"  REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {table} FROM {app};" for table in READ_ONLY)
    schemas = ", ".join(f"'{schema}'" for schema in READ_ONLY_SCHEMAS)
    return f"""DO $grants$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
            WHERE (nspname = 'public' OR nspowner = (SELECT oid FROM pg_roles WHERE rolname = '{owner}'))
              AND nspname NOT IN ({schemas}) LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {app}', s);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO {app}', s);
    EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO {app}', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA %I
                    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA %I
                    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}', s);
  END LOOP;
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname IN ({schemas}) LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {app}', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO {app}', s);
    EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE {own} IN SCHEMA %I GRANT SELECT ON TABLES TO {app}', s);
  END LOOP;
  IF to_regclass('audit_log') IS NOT NULL THEN
{revokes}
  END IF;
  IF to_regclass('audit_log_head') IS NOT NULL THEN
{read_only}
  END IF;
END
$grants$"""


def grant_application(conn: Connection, application: str) -> None:
    """Run :func:`grants_sql` as the connection's role (the owner), for ``application``."""
    owner = conn.execute(text("SELECT current_user")).scalar_one()
    if owner != application:
        conn.execute(text(grants_sql(application, owner)))
