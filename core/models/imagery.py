"""Imagery the bureau supplies (aerial photographs, hillshades): one row per imported layer, its
Cloud-Optimised GeoTIFF in Web Mercator under the data folder."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base


class ImageryLayer(Base):
    """An imported imagery layer: where its COG is, the CRS it came in, its CRS84 bounds and size."""

    __tablename__ = "imagery_layer"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(Text)  # the file imported
    path: Mapped[str] = mapped_column(Text)  # the COG (EPSG:3857), relative to the data folder
    source_crs: Mapped[str] = mapped_column(Text)
    bands: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    west: Mapped[float] = mapped_column(Float)
    south: Mapped[float] = mapped_column(Float)
    east: Mapped[float] = mapped_column(Float)
    north: Mapped[float] = mapped_column(Float)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
