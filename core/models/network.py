"""Underground networks: pipelines, pipe nodes, utility tunnels, compartments, sensors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core import vocab
from core.models.base import Base, geom_column
from core.models.divisions import city_column, city_partitioned, division_column, division_index
from core.models.history import Versioned
from core.models.records import _in

UTILITIES = vocab.codes("utilities")
NODE_KINDS = vocab.codes("node_kinds")
SENSOR_KINDS = vocab.codes("sensor_kinds")


class Pipeline(Base):
    """A pipe segment between two nodes. ``geom`` is the 3D axis with orthometric heights;
    ``depth_m`` is the cover depth from the ground to the pipe's top (``depth_ref='top'``)
    or to its axis (``'axis'``). ``from_node`` and ``to_node`` are references kept by triggers (a node
    still referred to is not deleted), as a foreign key cannot point into the city partitions."""

    __tablename__ = "pipeline"
    __table_args__ = (
        division_index("pipeline"),
        CheckConstraint(_in("utility", UTILITIES), name="utility"),
        CheckConstraint("depth_ref IN ('top', 'axis')", name="depth_ref"),
        *city_partitioned("pipeline", "id"),
    )
    city_code: Mapped[str] = city_column()
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    utility: Mapped[str] = mapped_column(String(12), index=True)
    material: Mapped[str | None] = mapped_column(String(24))
    diameter_mm: Mapped[float | None] = mapped_column(Float)
    pressure_class: Mapped[str | None] = mapped_column(String(16))
    depth_m: Mapped[float | None] = mapped_column(Float)
    depth_ref: Mapped[str] = mapped_column(String(4), default="top")
    from_node: Mapped[str | None] = mapped_column(String(40), index=True)
    to_node: Mapped[str | None] = mapped_column(String(40), index=True)
    owner: Mapped[str | None] = mapped_column(Text)
    install_year: Mapped[int | None] = mapped_column(Integer)
    survey_source: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="in_service")
    division_code: Mapped[str | None] = division_column()
    geom = geom_column("LINESTRINGZ", dims=3, nullable=False)


class PipeNode(Base):
    """A valve, manhole, hydrant, tee or plain junction; ``geom`` at the pipe axis height."""

    __tablename__ = "pipe_node"
    __table_args__ = (
        division_index("pipe_node"),
        CheckConstraint(_in("utility", UTILITIES), name="utility"),
        CheckConstraint(_in("kind", NODE_KINDS), name="kind"),
        *city_partitioned("pipe_node", "id"),
    )
    city_code: Mapped[str] = city_column()
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    utility: Mapped[str] = mapped_column(String(12), index=True)
    kind: Mapped[str] = mapped_column(String(12), index=True)
    ground_h_orthometric: Mapped[float | None] = mapped_column(Float)
    depth_m: Mapped[float | None] = mapped_column(Float)
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    # False for a valve known not to close (seized, buried): isolation traces past it to the next ring.
    operable: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    division_code: Mapped[str | None] = division_column()
    geom = geom_column("POINTZ", dims=3, nullable=False)


class UtilityTunnel(Base):
    """A utility tunnel (综合管廊) segment: a rectangular section swept along ``axis``
    (3D, orthometric heights of the section's floor centre)."""

    __tablename__ = "utility_tunnel"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    segment: Mapped[str] = mapped_column(String(16))
    width_m: Mapped[float] = mapped_column(Float)
    height_m: Mapped[float] = mapped_column(Float)
    cover_depth_m: Mapped[float] = mapped_column(Float)
    owner: Mapped[str | None] = mapped_column(Text)
    axis = geom_column("LINESTRINGZ", dims=3, nullable=False)


class TunnelCompartment(Base):
    """A compartment (舱室): a slice of the tunnel section across its width."""

    __tablename__ = "tunnel_compartment"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tunnel_id: Mapped[str] = mapped_column(ForeignKey("utility_tunnel.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    utilities: Mapped[list[str]] = mapped_column(ARRAY(String(12)))
    offset_m: Mapped[float] = mapped_column(Float)  # left edge from the tunnel's left wall
    width_m: Mapped[float] = mapped_column(Float)


class Sensor(Versioned, Base):
    """A sensor in a tunnel compartment, or on a building (settlement, tilt) or a manhole cover."""

    __tablename__ = "sensor"
    __table_args__ = (
        CheckConstraint(_in("kind", SENSOR_KINDS), name="kind"),
        CheckConstraint(
            "compartment_id IS NOT NULL OR building_code IS NOT NULL OR kind = 'manhole_cover'", name="site"
        ),
    )
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    compartment_id: Mapped[str | None] = mapped_column(
        ForeignKey("tunnel_compartment.id", ondelete="CASCADE"), index=True
    )
    # A reference kept by triggers (migration 0022): a building's delete takes its sensors along.
    building_code: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(8))
    alarm_above: Mapped[float | None] = mapped_column(Float)
    alarm_below: Mapped[float | None] = mapped_column(Float)
    position = geom_column("POINTZ", dims=3, nullable=False)


class SensorReading(Base):
    __tablename__ = "sensor_reading"
    sensor_id: Mapped[str] = mapped_column(ForeignKey("sensor.id", ondelete="CASCADE"), primary_key=True)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    alarm: Mapped[bool] = mapped_column(Boolean, default=False)


class NetworkIssue(Base):
    """What an import could not connect or had to reject, kept for the data steward."""

    __tablename__ = "network_issue"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(String(16))
    feature_id: Mapped[str | None] = mapped_column(String(40))
    problem: Mapped[str] = mapped_column(Text)


class NetworkVersion(Base):
    """A network's version (``pipe``, ``road``), moved on from ``network_version_seq`` by triggers on
    every statement that writes its tables (migration 0020); the graphs kept in memory check it."""

    __tablename__ = "network_version"
    network: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("nextval('network_version_seq')"))
