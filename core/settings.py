"""Configuration from the environment (prefix ``CIM_``; ``DATABASE_URL`` for the database)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server, the importers and the tilers read from configuration."""

    model_config = SettingsConfigDict(env_prefix="CIM_", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "CIM_DATABASE_URL"))
    data_dir: Path = Path(".data")
    # The one projected metric CRS PostGIS stores geometry in: CGCS2000 3-degree
    # Gauss-Krüger, central meridian 120°E (Changzhou lies at 119.9°E).
    store_srid: int = 4549
    # Heights in the store are orthometric over this vertical CRS; EGM96 height, whose
    # geoid grid ships in Debian's proj-data, so pyproj turns them into ellipsoidal heights
    # exactly (the 1985 National Height Datum's grid is not public).
    store_vertical_srid: int = 5773
    # Where Debian puts PostgreSQL servers and their extensions (PostGIS is looked for there).
    pg_lib_dir: Path = Path("/usr/lib/postgresql")
    pg_share_dir: Path = Path("/usr/share/postgresql")
    upload_max_bytes: int = 256 * 1024 * 1024
    ifc_max_uncompressed_bytes: int = 1024 * 1024 * 1024
    jwt_secret: str = "change-me-in-production-cim-server"
    jwt_minutes: int = 480
    # The key of the keyed hash (HMAC-SHA256) of ID numbers: an exact look-up works, the number
    # is never stored. Set a secret one in production; changing it orphans the stored hashes.
    pii_key: str = "change-me-in-production-cim-pii"
    cors_origins: list[str] = ["http://127.0.0.1:8000", "http://localhost:8000"]
    rate_limit_per_minute: int = 6000

    @property
    def tiles_dir(self) -> Path:
        return self.data_dir / "tiles"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "pg"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once)."""
    return Settings()
