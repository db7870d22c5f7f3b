"""initial schema: the four databases, city, networks, BIM, review, operations

Revision ID: 0001
Revises:
Create Date: 2026-11-21 14:18:18.196917
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry, Raster
from sqlalchemy.dialects import postgresql

from core.settings import store_srid

SRID = store_srid()
ROLE_DESCRIPTIONS = {
    "public": "anyone: the map and public records, personal data masked",
    "planner": "planners: manage by map, statistics, thematic maps",
    "engineer": "engineers: upload IFC models, drawing review",
    "emergency": "emergency command: incident overlays, contact data of responsible people",
    "admin": "administrators: everything, users, audit log",
}

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis_raster")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.Text(), nullable=True),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_geospatial_table(
        "complaint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("target_kind", sa.String(length=16), nullable=False),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_complaint")),
    )
    op.create_geospatial_index(
        "idx_complaint_location", "complaint", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_complaint_target_id"), "complaint", ["target_id"], unique=False)
    op.create_table(
        "credit_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_kind", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("score_impact", sa.Float(), nullable=False),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("disclosed", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('good', 'bad')", name=op.f("ck_credit_record_kind")),
        sa.CheckConstraint("subject_kind IN ('enterprise', 'person')", name=op.f("ck_credit_record_subject_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_record")),
    )
    op.create_index(op.f("ix_credit_record_subject_id"), "credit_record", ["subject_id"], unique=False)
    op.create_geospatial_table(
        "dem_tile",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("rast", Raster(spatial_index=False, from_text="raster", name="raster"), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dem_tile")),
    )
    op.create_index(
        "idx_dem_tile_rast",
        "dem_tile",
        [sa.literal_column("ST_ConvexHull(rast)")],
        unique=False,
        postgresql_using="gist",
    )
    op.create_geospatial_table(
        "emergency_event",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("severity", sa.String(length=12), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "location",
            Geometry(
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('gas_leak', 'pipe_burst', 'flood', 'fire', 'building_safety', 'earthquake')",
            name=op.f("ck_emergency_event_type"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emergency_event")),
    )
    op.create_geospatial_index(
        "idx_emergency_event_location",
        "emergency_event",
        ["location"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_table(
        "enterprise",
        sa.Column("uscc", sa.String(length=18), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("legal_representative", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("district", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=True),
        sa.Column("credit_grade", sa.String(length=1), nullable=True),
        sa.Column("credit_score", sa.Float(), nullable=True),
        sa.Column("grade_date", sa.Date(), nullable=True),
        sa.Column(
            "location",
            Geometry(
                geometry_type="POINT",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint("credit_grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_enterprise_grade")),
        sa.CheckConstraint(
            "type IN ('builder', 'municipal', 'survey', 'design', 'supervision', 'developer', 'property', 'review_agency')",
            name=op.f("ck_enterprise_type"),
        ),
        sa.CheckConstraint("length(uscc) = 18", name=op.f("ck_enterprise_uscc_length")),
        sa.PrimaryKeyConstraint("uscc", name=op.f("pk_enterprise")),
    )
    op.create_geospatial_index(
        "idx_enterprise_location", "enterprise", ["location"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_enterprise_credit_grade"), "enterprise", ["credit_grade"], unique=False)
    op.create_index(op.f("ix_enterprise_type"), "enterprise", ["type"], unique=False)
    op.create_table(
        "job",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("percent", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("queue_job_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_job_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    op.create_table(
        "network_issue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("layer", sa.String(length=16), nullable=False),
        sa.Column("feature_id", sa.String(length=40), nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_issue")),
    )
    op.create_geospatial_table(
        "parcel",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("land_use", sa.String(length=24), nullable=False),
        sa.Column("height_limit_m", sa.Float(), nullable=True),
        sa.Column("max_plot_ratio", sa.Float(), nullable=True),
        sa.Column("max_density", sa.Float(), nullable=True),
        sa.Column("min_setback_m", sa.Float(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_parcel")),
    )
    op.create_geospatial_index(
        "idx_parcel_geom", "parcel", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_table(
        "penalty",
        sa.Column("decision_no", sa.String(length=40), nullable=False),
        sa.Column("subject_kind", sa.String(length=12), nullable=False),
        sa.Column("subject_id", sa.String(length=24), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("amount_cny", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=False),
        sa.Column("authority", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("decision_no", name=op.f("pk_penalty")),
    )
    op.create_index(op.f("ix_penalty_subject_id"), "penalty", ["subject_id"], unique=False)
    op.create_geospatial_table(
        "pipe_node",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("utility", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("ground_h_orthometric", sa.Float(), nullable=True),
        sa.Column("depth_m", sa.Float(), nullable=True),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="POINTZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('valve', 'manhole', 'hydrant', 'tee', 'junction', 'tank', 'reservoir', 'pump', 'end')",
            name=op.f("ck_pipe_node_kind"),
        ),
        sa.CheckConstraint(
            "utility IN ('water', 'drain', 'sewer', 'gas', 'heat', 'power', 'telecom', 'streetlight')",
            name=op.f("ck_pipe_node_utility"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipe_node")),
    )
    op.create_geospatial_index(
        "idx_pipe_node_geom", "pipe_node", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_pipe_node_kind"), "pipe_node", ["kind"], unique=False)
    op.create_index(op.f("ix_pipe_node_utility"), "pipe_node", ["utility"], unique=False)
    op.create_geospatial_table(
        "road",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("road_class", sa.String(length=16), nullable=False),
        sa.Column("width_m", sa.Float(), nullable=False),
        sa.Column(
            "centerline",
            Geometry(
                geometry_type="LINESTRING",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "red_line",
            Geometry(
                geometry_type="POLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_road")),
    )
    op.create_geospatial_index(
        "idx_road_centerline", "road", ["centerline"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_geospatial_index(
        "idx_road_red_line", "road", ["red_line"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_table(
        "role",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_role")),
    )
    op.bulk_insert(
        sa.table("role", sa.column("name"), sa.column("description")),
        [{"name": name, "description": text} for name, text in ROLE_DESCRIPTIONS.items()],
    )
    op.create_geospatial_table(
        "utility_tunnel",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("segment", sa.String(length=16), nullable=False),
        sa.Column("width_m", sa.Float(), nullable=False),
        sa.Column("height_m", sa.Float(), nullable=False),
        sa.Column("cover_depth_m", sa.Float(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column(
            "axis",
            Geometry(
                geometry_type="LINESTRINGZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_utility_tunnel")),
    )
    op.create_geospatial_index(
        "idx_utility_tunnel_axis", "utility_tunnel", ["axis"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_table(
        "app_user",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["role"], ["role.name"], name=op.f("fk_app_user_role_role")),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_app_user")),
    )
    op.create_table(
        "credit_grade_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("grade", sa.String(length=1), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("graded_on", sa.Date(), nullable=False),
        sa.Column("rules_version", sa.String(length=16), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_credit_grade_history_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_grade_history")),
    )
    op.create_index(
        op.f("ix_credit_grade_history_enterprise_uscc"), "credit_grade_history", ["enterprise_uscc"], unique=False
    )
    op.create_table(
        "person",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("id_card_hash", sa.String(length=64), nullable=False),
        sa.Column("id_card_masked", sa.String(length=18), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("certificate_no", sa.String(length=32), nullable=True),
        sa.Column("specialty", sa.Text(), nullable=True),
        sa.Column("employer_uscc", sa.String(length=18), nullable=True),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("real_name_verified", sa.Boolean(), nullable=False),
        sa.CheckConstraint("kind IN ('registered', 'employed', 'skilled', 'worker')", name=op.f("ck_person_kind")),
        sa.ForeignKeyConstraint(
            ["employer_uscc"], ["enterprise.uscc"], name=op.f("fk_person_employer_uscc_enterprise")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("id_card_hash", name=op.f("uq_person_id_card_hash")),
    )
    op.create_index(op.f("ix_person_employer_uscc"), "person", ["employer_uscc"], unique=False)
    op.create_geospatial_table(
        "pipeline",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("utility", sa.String(length=12), nullable=False),
        sa.Column("material", sa.String(length=24), nullable=True),
        sa.Column("diameter_mm", sa.Float(), nullable=True),
        sa.Column("pressure_class", sa.String(length=16), nullable=True),
        sa.Column("depth_m", sa.Float(), nullable=True),
        sa.Column("depth_ref", sa.String(length=4), nullable=False),
        sa.Column("from_node", sa.String(length=40), nullable=True),
        sa.Column("to_node", sa.String(length=40), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("install_year", sa.Integer(), nullable=True),
        sa.Column("survey_source", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="LINESTRINGZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("depth_ref IN ('top', 'axis')", name=op.f("ck_pipeline_depth_ref")),
        sa.CheckConstraint(
            "utility IN ('water', 'drain', 'sewer', 'gas', 'heat', 'power', 'telecom', 'streetlight')",
            name=op.f("ck_pipeline_utility"),
        ),
        sa.ForeignKeyConstraint(["from_node"], ["pipe_node.id"], name=op.f("fk_pipeline_from_node_pipe_node")),
        sa.ForeignKeyConstraint(["to_node"], ["pipe_node.id"], name=op.f("fk_pipeline_to_node_pipe_node")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline")),
    )
    op.create_geospatial_index(
        "idx_pipeline_geom", "pipeline", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_pipeline_from_node"), "pipeline", ["from_node"], unique=False)
    op.create_index(op.f("ix_pipeline_to_node"), "pipeline", ["to_node"], unique=False)
    op.create_index(op.f("ix_pipeline_utility"), "pipeline", ["utility"], unique=False)
    op.create_geospatial_table(
        "project",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("build_unit_uscc", sa.String(length=18), nullable=True),
        sa.Column("contractor_uscc", sa.String(length=18), nullable=True),
        sa.Column("supervisor_uscc", sa.String(length=18), nullable=True),
        sa.Column("designer_uscc", sa.String(length=18), nullable=True),
        sa.Column("surveyor_uscc", sa.String(length=18), nullable=True),
        sa.Column("investment_cny", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("floor_area_m2", sa.Float(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("parcel_code", sa.String(length=32), nullable=True),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("hazardous_works", sa.Boolean(), nullable=False),
        sa.Column("progress_pct", sa.Float(), nullable=False),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="POLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "stage IN ('approval', 'preparation', 'construction', 'acceptance', 'delivered')",
            name=op.f("ck_project_stage"),
        ),
        sa.CheckConstraint("type IN ('building', 'municipal', 'civil_defence')", name=op.f("ck_project_type")),
        sa.ForeignKeyConstraint(
            ["build_unit_uscc"], ["enterprise.uscc"], name=op.f("fk_project_build_unit_uscc_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["contractor_uscc"], ["enterprise.uscc"], name=op.f("fk_project_contractor_uscc_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["designer_uscc"], ["enterprise.uscc"], name=op.f("fk_project_designer_uscc_enterprise")
        ),
        sa.ForeignKeyConstraint(["parcel_code"], ["parcel.code"], name=op.f("fk_project_parcel_code_parcel")),
        sa.ForeignKeyConstraint(
            ["supervisor_uscc"], ["enterprise.uscc"], name=op.f("fk_project_supervisor_uscc_enterprise")
        ),
        sa.ForeignKeyConstraint(
            ["surveyor_uscc"], ["enterprise.uscc"], name=op.f("fk_project_surveyor_uscc_enterprise")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_project")),
    )
    op.create_geospatial_index(
        "idx_project_footprint", "project", ["footprint"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_project_build_unit_uscc"), "project", ["build_unit_uscc"], unique=False)
    op.create_index(op.f("ix_project_contractor_uscc"), "project", ["contractor_uscc"], unique=False)
    op.create_index(op.f("ix_project_designer_uscc"), "project", ["designer_uscc"], unique=False)
    op.create_index(op.f("ix_project_parcel_code"), "project", ["parcel_code"], unique=False)
    op.create_index(op.f("ix_project_stage"), "project", ["stage"], unique=False)
    op.create_index(op.f("ix_project_supervisor_uscc"), "project", ["supervisor_uscc"], unique=False)
    op.create_index(op.f("ix_project_surveyor_uscc"), "project", ["surveyor_uscc"], unique=False)
    op.create_table(
        "qualification",
        sa.Column("certificate_no", sa.String(length=32), nullable=False),
        sa.Column("enterprise_uscc", sa.String(length=18), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("grade", sa.Text(), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=True),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_uscc"],
            ["enterprise.uscc"],
            name=op.f("fk_qualification_enterprise_uscc_enterprise"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("certificate_no", name=op.f("pk_qualification")),
    )
    op.create_index(op.f("ix_qualification_enterprise_uscc"), "qualification", ["enterprise_uscc"], unique=False)
    op.create_table(
        "tunnel_compartment",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tunnel_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("utilities", sa.ARRAY(sa.String(length=12)), nullable=False),
        sa.Column("offset_m", sa.Float(), nullable=False),
        sa.Column("width_m", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tunnel_id"],
            ["utility_tunnel.id"],
            name=op.f("fk_tunnel_compartment_tunnel_id_utility_tunnel"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tunnel_compartment")),
    )
    op.create_index(op.f("ix_tunnel_compartment_tunnel_id"), "tunnel_compartment", ["tunnel_id"], unique=False)
    op.create_table(
        "bim_model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["project_code"], ["project.code"], name=op.f("fk_bim_model_project_code_project")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bim_model")),
        sa.UniqueConstraint("project_code", "name", name=op.f("uq_bim_model_project_code")),
    )
    op.create_index(op.f("ix_bim_model_project_code"), "bim_model", ["project_code"], unique=False)
    op.create_table(
        "completion_filing",
        sa.Column("filing_no", sa.String(length=32), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=False),
        sa.Column("accepted_on", sa.Date(), nullable=True),
        sa.Column("filed_on", sa.Date(), nullable=True),
        sa.Column("archive_accepted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_code"],
            ["project.code"],
            name=op.f("fk_completion_filing_project_code_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("filing_no", name=op.f("pk_completion_filing")),
    )
    op.create_index(op.f("ix_completion_filing_project_code"), "completion_filing", ["project_code"], unique=False)
    op.create_table(
        "construction_permit",
        sa.Column("permit_no", sa.String(length=32), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("contract_price_cny", sa.Numeric(precision=16, scale=2), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("issuer", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_code"],
            ["project.code"],
            name=op.f("fk_construction_permit_project_code_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("permit_no", name=op.f("pk_construction_permit")),
    )
    op.create_index(op.f("ix_construction_permit_project_code"), "construction_permit", ["project_code"], unique=False)
    op.create_table(
        "project_person",
        sa.Column("project_code", sa.String(length=32), nullable=False),
        sa.Column("person_id", sa.String(length=24), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=False),
        sa.CheckConstraint(
            "role IN ('project_manager', 'chief_supervisor', 'design_lead', 'safety_officer', 'technical_lead')",
            name=op.f("ck_project_person_role"),
        ),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_project_person_person_id_person")),
        sa.ForeignKeyConstraint(
            ["project_code"], ["project.code"], name=op.f("fk_project_person_project_code_project"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_code", "person_id", "role", name=op.f("pk_project_person")),
    )
    op.create_index(op.f("ix_project_person_person_id"), "project_person", ["person_id"], unique=False)
    op.create_geospatial_table(
        "sensor",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("compartment_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("alarm_above", sa.Float(), nullable=True),
        sa.Column("alarm_below", sa.Float(), nullable=True),
        sa.Column(
            "position",
            Geometry(
                geometry_type="POINTZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('CH4', 'H2S', 'O2', 'temperature', 'humidity', 'water_level', 'smoke')",
            name=op.f("ck_sensor_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["compartment_id"],
            ["tunnel_compartment.id"],
            name=op.f("fk_sensor_compartment_id_tunnel_compartment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sensor")),
    )
    op.create_geospatial_index(
        "idx_sensor_position", "sensor", ["position"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_sensor_compartment_id"), "sensor", ["compartment_id"], unique=False)
    op.create_geospatial_table(
        "bim_model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version_no", sa.Integer(), nullable=False),
        sa.Column("schema", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_bytes", sa.BigInteger(), nullable=False),
        sa.Column("georef", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("element_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "origin",
            Geometry(
                geometry_type="POINTZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.CheckConstraint(
            "status IN ('ingested', 'published', 'withdrawn')", name=op.f("ck_bim_model_version_status")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["bim_model.id"], name=op.f("fk_bim_model_version_model_id_bim_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bim_model_version")),
        sa.UniqueConstraint("model_id", "version_no", name=op.f("uq_bim_model_version_model_id")),
    )
    op.create_geospatial_index(
        "idx_bim_model_version_origin",
        "bim_model_version",
        ["origin"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_index(op.f("ix_bim_model_version_model_id"), "bim_model_version", ["model_id"], unique=False)
    op.create_geospatial_table(
        "building",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("height_m", sa.Float(), nullable=True),
        sa.Column("ground_h_orthometric", sa.Float(), nullable=True),
        sa.Column("floors_above", sa.Integer(), nullable=True),
        sa.Column("floors_below", sa.Integer(), nullable=False),
        sa.Column("structure", sa.String(length=24), nullable=True),
        sa.Column("use", sa.String(length=24), nullable=True),
        sa.Column("year_built", sa.Integer(), nullable=True),
        sa.Column("project_code", sa.String(length=32), nullable=True),
        sa.Column("parcel_code", sa.String(length=32), nullable=True),
        sa.Column("bim_model_id", sa.Integer(), nullable=True),
        sa.Column("safety_grade", sa.String(length=1), nullable=True),
        sa.Column("last_inspection", sa.Date(), nullable=True),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="POLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("safety_grade IN ('A', 'B', 'C', 'D')", name=op.f("ck_building_safety_grade")),
        sa.ForeignKeyConstraint(
            ["bim_model_id"], ["bim_model.id"], name=op.f("fk_building_bim_model_id_bim_model"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["parcel_code"], ["parcel.code"], name=op.f("fk_building_parcel_code_parcel")),
        sa.ForeignKeyConstraint(["project_code"], ["project.code"], name=op.f("fk_building_project_code_project")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_building")),
    )
    op.create_geospatial_index(
        "idx_building_footprint", "building", ["footprint"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_building_parcel_code"), "building", ["parcel_code"], unique=False)
    op.create_index(op.f("ix_building_project_code"), "building", ["project_code"], unique=False)
    op.create_index(op.f("ix_building_safety_grade"), "building", ["safety_grade"], unique=False)
    op.create_index(op.f("ix_building_use"), "building", ["use"], unique=False)
    op.create_table(
        "sensor_reading",
        sa.Column("sensor_id", sa.String(length=40), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("alarm", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sensor_id"], ["sensor.id"], name=op.f("fk_sensor_reading_sensor_id_sensor"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("sensor_id", "time", name=op.f("pk_sensor_reading")),
    )
    op.create_geospatial_table(
        "bim_element",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("global_id", sa.String(length=22), nullable=False),
        sa.Column("ifc_class", sa.String(length=64), nullable=False),
        sa.Column("predefined_type", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("storey", sa.Text(), nullable=True),
        sa.Column("materials", sa.ARRAY(sa.Text()), nullable=True),
        sa.Column("properties", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("quantities", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("geom_hash", sa.String(length=64), nullable=False),
        sa.Column("z_min", sa.Float(), nullable=True),
        sa.Column("z_max", sa.Float(), nullable=True),
        sa.Column(
            "geom",
            Geometry(
                geometry_type="TINZ",
                srid=SRID,
                dimension=3,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "footprint",
            Geometry(
                geometry_type="MULTIPOLYGON",
                srid=SRID,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["bim_model_version.id"],
            name=op.f("fk_bim_element_version_id_bim_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bim_element")),
        sa.UniqueConstraint("version_id", "global_id", name=op.f("uq_bim_element_version_id")),
    )
    op.create_geospatial_index(
        "idx_bim_element_footprint",
        "bim_element",
        ["footprint"],
        unique=False,
        postgresql_using="gist",
        postgresql_ops={},
    )
    op.create_geospatial_index(
        "idx_bim_element_geom", "bim_element", ["geom"], unique=False, postgresql_using="gist", postgresql_ops={}
    )
    op.create_index(op.f("ix_bim_element_global_id"), "bim_element", ["global_id"], unique=False)
    op.create_index(op.f("ix_bim_element_ifc_class"), "bim_element", ["ifc_class"], unique=False)
    op.create_index(op.f("ix_bim_element_version_id"), "bim_element", ["version_id"], unique=False)
    op.create_table(
        "bim_spatial_node",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("global_id", sa.String(length=22), nullable=False),
        sa.Column("parent_global_id", sa.String(length=22), nullable=True),
        sa.Column("ifc_class", sa.String(length=64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("elevation_m", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["bim_model_version.id"],
            name=op.f("fk_bim_spatial_node_version_id_bim_model_version"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "global_id", name=op.f("pk_bim_spatial_node")),
    )
    op.create_table(
        "drawing_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_code", sa.String(length=32), nullable=False),
        sa.Column("agency", sa.Text(), nullable=True),
        sa.Column("drawing_type", sa.String(length=24), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("schema", sa.String(length=16), nullable=True),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('received', 'in_review', 'returned', 'approved')", name=op.f("ck_drawing_review_status")
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["bim_model_version.id"],
            name=op.f("fk_drawing_review_model_version_id_bim_model_version"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_code"], ["project.code"], name=op.f("fk_drawing_review_project_code_project")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drawing_review")),
    )
    op.create_index(op.f("ix_drawing_review_project_code"), "drawing_review", ["project_code"], unique=False)
    op.create_table(
        "house_unit",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=False),
        sa.Column("unit_no", sa.String(length=16), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Float(), nullable=False),
        sa.Column("ownership_cert", sa.String(length=40), nullable=True),
        sa.Column("owner_masked", sa.Text(), nullable=True),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("contract_filing_no", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_code"], ["building.code"], name=op.f("fk_house_unit_building_code_building"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_house_unit")),
    )
    op.create_index(op.f("ix_house_unit_building_code"), "house_unit", ["building_code"], unique=False)
    op.create_table(
        "review_issue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("review_id", sa.Integer(), nullable=False),
        sa.Column("global_id", sa.String(length=22), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("severity", sa.String(length=12), nullable=False),
        sa.Column("measured", sa.Float(), nullable=True),
        sa.Column("limit", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["review_id"],
            ["drawing_review.id"],
            name=op.f("fk_review_issue_review_id_drawing_review"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_issue")),
    )
    op.create_index(op.f("ix_review_issue_review_id"), "review_issue", ["review_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_review_issue_review_id"), table_name="review_issue")
    op.drop_table("review_issue")
    op.drop_index(op.f("ix_house_unit_building_code"), table_name="house_unit")
    op.drop_table("house_unit")
    op.drop_index(op.f("ix_drawing_review_project_code"), table_name="drawing_review")
    op.drop_table("drawing_review")
    op.drop_table("bim_spatial_node")
    op.drop_index(op.f("ix_bim_element_version_id"), table_name="bim_element")
    op.drop_index(op.f("ix_bim_element_ifc_class"), table_name="bim_element")
    op.drop_index(op.f("ix_bim_element_global_id"), table_name="bim_element")
    op.drop_geospatial_index(
        "idx_bim_element_geom", table_name="bim_element", postgresql_using="gist", column_name="geom"
    )
    op.drop_geospatial_index(
        "idx_bim_element_footprint", table_name="bim_element", postgresql_using="gist", column_name="footprint"
    )
    op.drop_geospatial_table("bim_element")
    op.drop_table("sensor_reading")
    op.drop_index(op.f("ix_building_use"), table_name="building")
    op.drop_index(op.f("ix_building_safety_grade"), table_name="building")
    op.drop_index(op.f("ix_building_project_code"), table_name="building")
    op.drop_index(op.f("ix_building_parcel_code"), table_name="building")
    op.drop_geospatial_index(
        "idx_building_footprint", table_name="building", postgresql_using="gist", column_name="footprint"
    )
    op.drop_geospatial_table("building")
    op.drop_index(op.f("ix_bim_model_version_model_id"), table_name="bim_model_version")
    op.drop_geospatial_index(
        "idx_bim_model_version_origin", table_name="bim_model_version", postgresql_using="gist", column_name="origin"
    )
    op.drop_geospatial_table("bim_model_version")
    op.drop_index(op.f("ix_sensor_compartment_id"), table_name="sensor")
    op.drop_geospatial_index(
        "idx_sensor_position", table_name="sensor", postgresql_using="gist", column_name="position"
    )
    op.drop_geospatial_table("sensor")
    op.drop_index(op.f("ix_project_person_person_id"), table_name="project_person")
    op.drop_table("project_person")
    op.drop_index(op.f("ix_construction_permit_project_code"), table_name="construction_permit")
    op.drop_table("construction_permit")
    op.drop_index(op.f("ix_completion_filing_project_code"), table_name="completion_filing")
    op.drop_table("completion_filing")
    op.drop_index(op.f("ix_bim_model_project_code"), table_name="bim_model")
    op.drop_table("bim_model")
    op.drop_index(op.f("ix_tunnel_compartment_tunnel_id"), table_name="tunnel_compartment")
    op.drop_table("tunnel_compartment")
    op.drop_index(op.f("ix_qualification_enterprise_uscc"), table_name="qualification")
    op.drop_table("qualification")
    op.drop_index(op.f("ix_project_surveyor_uscc"), table_name="project")
    op.drop_index(op.f("ix_project_supervisor_uscc"), table_name="project")
    op.drop_index(op.f("ix_project_stage"), table_name="project")
    op.drop_index(op.f("ix_project_parcel_code"), table_name="project")
    op.drop_index(op.f("ix_project_designer_uscc"), table_name="project")
    op.drop_index(op.f("ix_project_contractor_uscc"), table_name="project")
    op.drop_index(op.f("ix_project_build_unit_uscc"), table_name="project")
    op.drop_geospatial_index(
        "idx_project_footprint", table_name="project", postgresql_using="gist", column_name="footprint"
    )
    op.drop_geospatial_table("project")
    op.drop_index(op.f("ix_pipeline_utility"), table_name="pipeline")
    op.drop_index(op.f("ix_pipeline_to_node"), table_name="pipeline")
    op.drop_index(op.f("ix_pipeline_from_node"), table_name="pipeline")
    op.drop_geospatial_index("idx_pipeline_geom", table_name="pipeline", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("pipeline")
    op.drop_index(op.f("ix_person_employer_uscc"), table_name="person")
    op.drop_table("person")
    op.drop_index(op.f("ix_credit_grade_history_enterprise_uscc"), table_name="credit_grade_history")
    op.drop_table("credit_grade_history")
    op.drop_table("app_user")
    op.drop_geospatial_index(
        "idx_utility_tunnel_axis", table_name="utility_tunnel", postgresql_using="gist", column_name="axis"
    )
    op.drop_geospatial_table("utility_tunnel")
    op.drop_table("role")
    op.drop_geospatial_index("idx_road_red_line", table_name="road", postgresql_using="gist", column_name="red_line")
    op.drop_geospatial_index(
        "idx_road_centerline", table_name="road", postgresql_using="gist", column_name="centerline"
    )
    op.drop_geospatial_table("road")
    op.drop_index(op.f("ix_pipe_node_utility"), table_name="pipe_node")
    op.drop_index(op.f("ix_pipe_node_kind"), table_name="pipe_node")
    op.drop_geospatial_index("idx_pipe_node_geom", table_name="pipe_node", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("pipe_node")
    op.drop_index(op.f("ix_penalty_subject_id"), table_name="penalty")
    op.drop_table("penalty")
    op.drop_geospatial_index("idx_parcel_geom", table_name="parcel", postgresql_using="gist", column_name="geom")
    op.drop_geospatial_table("parcel")
    op.drop_table("network_issue")
    op.drop_table("job")
    op.drop_index(op.f("ix_enterprise_type"), table_name="enterprise")
    op.drop_index(op.f("ix_enterprise_credit_grade"), table_name="enterprise")
    op.drop_geospatial_index(
        "idx_enterprise_location", table_name="enterprise", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("enterprise")
    op.drop_geospatial_index(
        "idx_emergency_event_location", table_name="emergency_event", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("emergency_event")
    op.drop_geospatial_index("idx_dem_tile_rast", table_name="dem_tile", postgresql_using="gist", column_name="rast")
    op.drop_geospatial_table("dem_tile")
    op.drop_index(op.f("ix_credit_record_subject_id"), table_name="credit_record")
    op.drop_table("credit_record")
    op.drop_index(op.f("ix_complaint_target_id"), table_name="complaint")
    op.drop_geospatial_index(
        "idx_complaint_location", table_name="complaint", postgresql_using="gist", column_name="location"
    )
    op.drop_geospatial_table("complaint")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
