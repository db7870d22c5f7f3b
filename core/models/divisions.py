"""Administrative divisions: the five levels (province, city, county, township, village) with their
12-digit statistical division codes and boundaries, and the districts (区县) users' data scopes name
and the regional risk map groups by. A district is a county-level division: every district row is
mirrored into ``division`` (level 3) by a trigger (migration 0014)."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Double, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column

# Levels by number, and how many leading digits of the 12-digit code name a division of that level
# (GB/T 2260 and the statistical division code: 2 province, 4 city, 6 county, 9 township, 12 village).
LEVELS = {1: "province", 2: "city", 3: "county", 4: "township", 5: "village"}
PREFIX_DIGITS = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}


class District(Base):
    """A district and its boundary in the store CRS: a user whose ``districts`` name it sees the
    features and records inside it (and only those); enterprises name their district by its name."""

    __tablename__ = "district"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    geom = geom_column("MULTIPOLYGON", nullable=False)


class Division(Base):
    """One administrative division at one of the five levels; ``code`` is the full 12-digit code (the
    digits past its level's prefix are zeros), ``parent_code`` the division one level up."""

    __tablename__ = "division"
    __table_args__ = (
        CheckConstraint("level BETWEEN 1 AND 5", name="level"),
        CheckConstraint("code ~ '^[0-9]{12}$'", name="code"),
        Index("ix_division_parent_code", "parent_code"),
    )
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    parent_code: Mapped[str | None] = mapped_column(String(12))
    level: Mapped[int] = mapped_column(SmallInteger)
    name: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str | None] = mapped_column(Text)
    # The EPSG code of the CGCS2000 3-degree Gauss-Krüger zone its metric work is done in (its centroid's).
    zone_srid: Mapped[int | None] = mapped_column(Integer)
    geom = geom_column("MULTIPOLYGON")


def division_column() -> Mapped[str | None]:
    """The division (12-digit code) a row lies in: from the data where given, else assigned spatially."""
    return mapped_column(String(12))


def city_column() -> Mapped[str]:
    """The city a row lies in (partition key, migration 0022): its division code's first 4 digits, '' for
    none (a house unit: its building's). Writers give it in the statement (``city_of(geom)``); a row given
    another city is moved to its own after the statement."""
    return mapped_column(String(4), primary_key=True, server_default="")


def city_partitioned(table: str, key: str) -> tuple[Index, dict[str, str]]:
    """The index on a city-partitioned table's own key (its lookups without a city) and the table's
    partitioning by city."""
    return Index(f"ix_{table}_{key}", key), {"postgresql_partition_by": "LIST (city_code)"}


def division_index(table: str) -> Index:
    """The prefix-matching index over a table's ``division_code`` (``LIKE '42%'`` under any collation)."""
    return Index(f"ix_{table}_division_code", "division_code", postgresql_ops={"division_code": "varchar_pattern_ops"})


class CityExtent(Base):
    """The box (store CRS) that the rows of one city (``''``: none) of a table partitioned by city lie in,
    kept by the table's triggers (migration 0025): it grows with the rows written and does not shrink on
    delete, so every row lies inside it; spatial reads name the cities whose box meets their area."""

    __tablename__ = "city_extent"
    table_name: Mapped[str] = mapped_column(Text, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    x_min: Mapped[float] = mapped_column(Double)
    y_min: Mapped[float] = mapped_column(Double)
    x_max: Mapped[float] = mapped_column(Double)
    y_max: Mapped[float] = mapped_column(Double)
