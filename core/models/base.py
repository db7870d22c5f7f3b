"""Declarative base and shared column helpers."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import Computed, DateTime, Index, MetaData, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.settings import store_srid

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class StoreGeometry(Geometry):
    """A geometry in the store CRS: its SRID is the settings' in force when it is used, not at import."""

    cache_ok = True

    @property
    def srid(self) -> int:
        return store_srid()

    @srid.setter
    def srid(self, value: int) -> None:
        """Geometry's constructor sets it; the settings decide."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def geom_column(kind: str, *, dims: int = 2, nullable: bool = True) -> Mapped:
    """A geometry column in the store CRS with a GiST index (GeoAlchemy2 creates it)."""
    return mapped_column(StoreGeometry(kind, dimension=dims, spatial_index=True), nullable=nullable)


def now_column() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def search_columns(expression: str) -> tuple[Mapped[str | None], Mapped[list[str] | None]]:
    """The generated ``search_text`` (normalised ``expression``) and ``search_grams`` columns of a
    searchable table (SQL functions of migration 0005)."""
    text_column = mapped_column(Text, Computed(expression, persisted=True))
    grams = mapped_column(ARRAY(Text), Computed(f"search_grams({expression})", persisted=True))
    return text_column, grams


def search_index(table: str) -> Index:
    """The GIN index over a table's ``search_grams``."""
    return Index(f"ix_{table}_search_grams", "search_grams", postgresql_using="gin")


def search_order_indexes(table: str, id_column: str) -> tuple[Index, Index, Index]:
    """The b-trees a search reads in rank order: ``search_text`` by its bytes (an exact name, or the range
    of names that start with the query, with the query unknown to the plan), ``(length(search_text), id)``
    (closest first: a query matching many rows reads only as many as a page needs) and the code's
    (:func:`code_prefix_index`)."""
    return (
        Index(f"ix_{table}_search_prefix", "search_text", postgresql_ops={"search_text": "text_pattern_ops"}),
        Index(f"ix_{table}_search_length", text("length(search_text)"), id_column),
        code_prefix_index(table, id_column),
    )


def code_prefix_index(table: str, code_column: str) -> Index:
    """The b-tree on a searched code by its bytes: the range of codes that start with the query."""
    return Index(f"ix_{table}_code_prefix", code_column, postgresql_ops={code_column: "varchar_pattern_ops"})


def names_index(table: str) -> Index:
    """The GIN index over the names of a ``search_text`` that lists several between '|'s: an exact name."""
    return Index(f"ix_{table}_search_names", text(NAMES), postgresql_using="gin")


NAMES = "string_to_array(search_text, '|'::text)"  # as PostgreSQL writes it back
