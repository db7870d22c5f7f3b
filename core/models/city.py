"""The city's ground: DEM, parcels, roads, buildings and house units."""

from __future__ import annotations

from datetime import date

from geoalchemy2 import Raster
from sqlalchemy import CheckConstraint, Date, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core import vocab
from core.models.base import (
    Base,
    code_prefix_index,
    geom_column,
    search_columns,
    search_index,
    search_order_indexes,
)
from core.models.divisions import city_column, city_partitioned, division_column, division_index
from core.models.history import Versioned
from core.models.records import _in


class DemTile(Base):
    """Terrain heights (orthometric, metres) as PostGIS raster tiles in the store CRS."""

    __tablename__ = "dem_tile"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    rast = mapped_column(Raster(spatial_index=True))


class Parcel(Base):
    """A land parcel (用地红线) with its planning limits."""

    __tablename__ = "parcel"
    __table_args__ = (code_prefix_index("parcel", "code"),)
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    land_use: Mapped[str] = mapped_column(String(24))
    height_limit_m: Mapped[float | None] = mapped_column(Float)
    max_plot_ratio: Mapped[float | None] = mapped_column(Float)
    max_density: Mapped[float | None] = mapped_column(Float)
    min_setback_m: Mapped[float | None] = mapped_column(Float)
    geom = geom_column("POLYGON", nullable=False)


class Road(Base):
    """A road with its red line (道路红线, the corridor polygon) and centre line."""

    __tablename__ = "road"
    __table_args__ = (search_index("road"), *search_order_indexes("road", "code"))
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    search_text, search_grams = search_columns("search_norm(name)")
    road_class: Mapped[str] = mapped_column(String(16))
    width_m: Mapped[float] = mapped_column(Float)
    centerline = geom_column("LINESTRING", nullable=False)
    red_line = geom_column("POLYGON", nullable=False)


class Building(Base):
    __tablename__ = "building"
    __table_args__ = (
        division_index("building"),
        CheckConstraint(_in("safety_grade", vocab.codes("grades_safety")), name="safety_grade"),
        search_index("building"),
        *search_order_indexes("building", "code"),
        *city_partitioned("building", "code"),
    )
    city_code: Mapped[str] = city_column()
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    address: Mapped[str | None] = mapped_column(Text)
    search_text, search_grams = search_columns("search_norm(address)")
    height_m: Mapped[float | None] = mapped_column(Float)
    ground_h_orthometric: Mapped[float | None] = mapped_column(Float)
    floors_above: Mapped[int | None] = mapped_column(Integer)
    floors_below: Mapped[int] = mapped_column(Integer, default=0)
    structure: Mapped[str | None] = mapped_column(String(24))
    use: Mapped[str | None] = mapped_column(String(24), index=True)
    year_built: Mapped[int | None] = mapped_column(Integer)
    project_code: Mapped[str | None] = mapped_column(ForeignKey("project.code"), index=True)
    parcel_code: Mapped[str | None] = mapped_column(ForeignKey("parcel.code"), index=True)
    bim_model_id: Mapped[int | None] = mapped_column(ForeignKey("bim_model.id", ondelete="SET NULL"))
    safety_grade: Mapped[str | None] = mapped_column(String(1), index=True)
    last_inspection: Mapped[date | None] = mapped_column(Date)
    division_code: Mapped[str | None] = division_column()
    footprint = geom_column("POLYGON", nullable=False)


class HouseUnit(Versioned, Base):
    """A house unit, in its building's city; ``building_code`` is a reference kept by triggers (a delete
    of the building takes its units along), as a foreign key cannot point into the city partitions."""

    __tablename__ = "house_unit"
    __table_args__ = city_partitioned("house_unit", "id")
    city_code: Mapped[str] = city_column()
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    building_code: Mapped[str] = mapped_column(String(32), index=True)
    unit_no: Mapped[str] = mapped_column(String(16))
    floor: Mapped[int] = mapped_column(Integer)
    area_m2: Mapped[float] = mapped_column(Float)
    ownership_cert: Mapped[str | None] = mapped_column(String(40))
    owner_masked: Mapped[str | None] = mapped_column(Text)
    residents: Mapped[int] = mapped_column(Integer, default=0)
    contract_filing_no: Mapped[str | None] = mapped_column(String(40))
