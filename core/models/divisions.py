"""Administrative divisions: the districts (区县) users' data scopes name and the regional risk map
groups by, keyed by their 12-digit statistical division code, with their boundaries."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.models.base import Base, geom_column


class District(Base):
    """A district and its boundary in the store CRS: a user whose ``districts`` name it sees the
    features and records inside it (and only those); enterprises name their district by its name."""

    __tablename__ = "district"
    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    geom = geom_column("MULTIPOLYGON", nullable=False)
