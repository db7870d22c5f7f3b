"""BIM models, their versions, elements and spatial trees."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column, now_column

VERSION_STATUSES = ("ingested", "published", "withdrawn")
# The model versions on the city map: the newest published version of each model (SQL subquery).
CITY_VERSION_IDS_SQL = """(SELECT DISTINCT ON (model_id) id FROM bim_model_version WHERE status = 'published'
    ORDER BY model_id, version_no DESC)"""


class BimModel(Base):
    """A model submitted for a project; each upload of it is a new version."""

    __tablename__ = "bim_model"
    __table_args__ = (UniqueConstraint("project_code", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_code: Mapped[str | None] = mapped_column(ForeignKey("project.code"), index=True)
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = now_column()


class BimModelVersion(Base):
    __tablename__ = "bim_model_version"
    __table_args__ = (
        UniqueConstraint("model_id", "version_no"),
        CheckConstraint("status IN ('ingested', 'published', 'withdrawn')", name="status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("bim_model.id", ondelete="CASCADE"), index=True)
    version_no: Mapped[int] = mapped_column(Integer)
    schema: Mapped[str] = mapped_column(String(16))
    file_name: Mapped[str] = mapped_column(Text)
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_bytes: Mapped[int] = mapped_column(BigInteger)
    georef: Mapped[dict] = mapped_column(JSONB)
    element_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="ingested")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = now_column()
    origin = geom_column("POINTZ", dims=3)


class BimElement(Base):
    """One IFC product with a body: its triangulated solid (TIN, store CRS, orthometric
    heights), footprint, and everything one click should show."""

    __tablename__ = "bim_element"
    __table_args__ = (UniqueConstraint("version_id", "global_id"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("bim_model_version.id", ondelete="CASCADE"), index=True)
    global_id: Mapped[str] = mapped_column(String(22), index=True)
    ifc_class: Mapped[str] = mapped_column(String(64), index=True)
    predefined_type: Mapped[str | None] = mapped_column(Text)
    name: Mapped[str | None] = mapped_column(Text)
    storey: Mapped[str | None] = mapped_column(Text)
    materials: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    properties: Mapped[dict] = mapped_column(JSONB, default=dict)
    quantities: Mapped[dict] = mapped_column(JSONB, default=dict)
    geom_hash: Mapped[str] = mapped_column(String(64))
    z_min: Mapped[float | None] = mapped_column(Float)
    z_max: Mapped[float | None] = mapped_column(Float)
    geom = geom_column("TINZ", dims=3)
    footprint = geom_column("MULTIPOLYGON")


class BimSpatialNode(Base):
    """The spatial tree: project, site, building, storey, space."""

    __tablename__ = "bim_spatial_node"
    version_id: Mapped[int] = mapped_column(ForeignKey("bim_model_version.id", ondelete="CASCADE"), primary_key=True)
    global_id: Mapped[str] = mapped_column(String(22), primary_key=True)
    parent_global_id: Mapped[str | None] = mapped_column(String(22))
    ifc_class: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(Text)
    elevation_m: Mapped[float | None] = mapped_column(Float)
