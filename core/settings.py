"""Configuration: read from the environment once (prefix ``CIM_``; ``DATABASE_URL`` for the
database), or put in force by :func:`configure` with settings constructed in code (tests, benches).
What is built from the settings (the engine, the queue, the store CRS) is rebuilt when they change:
its module registers how to forget it with :func:`on_configure`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server, the importers and the tilers read from configuration."""

    model_config = SettingsConfigDict(env_prefix="CIM_", extra="ignore", populate_by_name=True)

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "CIM_DATABASE_URL"))
    # Read-only requests' database, e.g. a multi-host URL with target_session_attrs=prefer-standby
    # (the HA topology's standby); unset: the same as database_url.
    database_read_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_READ_URL", "CIM_DATABASE_READ_URL")
    )
    # The schema owner's database URL (migrations, bulk loads), when the application's role is another.
    owner_database_url: str | None = None
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
    # Any other request body (JSON, forms).
    body_max_bytes: int = 16 * 1024 * 1024
    ifc_max_uncompressed_bytes: int = 1024 * 1024 * 1024
    # The demo (``cim demo``) generates its own secrets under data_dir; elsewhere they must be given.
    demo: bool = False
    # Token signing key, from CIM_JWT_SECRET or the file CIM_JWT_SECRET_FILE names (checked at start).
    jwt_secret: str | None = None
    jwt_secret_file: Path | None = None
    # Keys of personal data (the records import's field encryption and ID-number hashes), from the
    # environment or a file; the demo makes its own. Losing them loses the data.
    field_key: str | None = None
    field_key_file: Path | None = None
    pii_key: str | None = None
    pii_key_file: Path | None = None
    # OpenID Connect single sign-on (spatial_api/oidc.py): the provider's issuer URL, this server's
    # client there, the claim that carries the user's groups or roles and how its values map to roles
    # here (the first that matches; else oidc_default_role; None refuses), the callback URL registered at
    # the provider (default: this server's own /api/v1/auth/oidc/callback as requested).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_client_secret_file: Path | None = None
    oidc_scopes: str = "openid profile"
    oidc_role_claim: str = "roles"
    oidc_role_map: dict[str, str] = {}
    oidc_default_role: str | None = None
    oidc_redirect_url: str | None = None
    oidc_username_prefix: str = "sso."
    # TLS for `cim serve --tls`: a certificate and key in PEM; unset, a self-signed pair under data_dir/tls.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    access_token_minutes: int = 15
    refresh_token_days: int = 7
    # Logins: failures per account and per address before a lockout, whose length doubles after each
    # further failure (from lockout_seconds up to lockout_max_seconds); failures older than the window forget.
    login_max_failures: int = 5
    lockout_seconds: int = 30
    lockout_max_seconds: int = 3600
    login_failure_window_seconds: int = 900
    # Layers (collections, vector and 3D tiles) anonymous callers may read; "*" for all. Pipelines, nodes,
    # tunnels, sensors, BIM, people and households need a login by default.
    public_layers: list[str] = ["buildings", "parcels", "roads"]
    # Addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For is believed.
    trusted_proxies: list[str] = []
    cors_origins: list[str] = ["http://127.0.0.1:8000", "http://localhost:8000"]
    # Requests per minute under /api/: anonymous callers per address, people per account, API keys per
    # key; a role's own figure in rate_limits_per_minute ("api_key" for API keys), else the default.
    rate_limit_per_minute: int = 6000
    # Second-person approval: an export of personal data, or of more rows than this, waits for one; so
    # does seeing more than personal_view_threshold people's records unmasked within the window (an
    # approved view grant then holds for view_grant_hours).
    export_approval_rows: int = 200_000
    personal_view_threshold: int = 500
    personal_view_window_seconds: int = 3600
    view_grant_hours: int = 8
    rate_limits_per_minute: dict[str, int] = {"admin": 12000, "api_key": 12000}
    # The longest one query of an API request may run (ms) before the request is answered 503.
    statement_timeout_ms: int = 30000
    # A tiling job of a layer of at least twice this many features is split into parts of about this many
    # (runs of whole tile subtrees), which any queue worker runs (tiles.parts).
    tiles_part_features: int = 50_000
    # The review agencies' signing keys and certificates (<USCC>.key.pem, <USCC>.cert.pem, the
    # issuing CA's ca.cert.pem). Unset: <data_dir>/seals, where demo keys are generated as needed.
    seal_dir: Path | None = None

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        from core import secrets

        for name in ("jwt_secret", "field_key", "pii_key", "oidc_client_secret"):
            path = getattr(self, f"{name}_file")
            if getattr(self, name) is None and path is not None:
                setattr(self, name, secrets.read_file(path, f"CIM_{name.upper()}_FILE"))
            if getattr(self, name) is None and self.demo and name != "oidc_client_secret":
                setattr(self, name, secrets.read_file(secrets.generated(self.data_dir, name), f"the demo's {name}"))
        return self

    @property
    def tiles_dir(self) -> Path:
        return self.data_dir / "tiles"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def cluster_dir(self) -> Path:
        return self.data_dir / "pg"

    def environment(self) -> dict[str, str]:
        """The environment variables that give a child process (a ``cim`` command) these settings'
        database and data folder."""
        return (
            {"CIM_DATA_DIR": str(self.data_dir)}
            | ({"DATABASE_URL": self.database_url} if self.database_url else {})
            | ({"CIM_OWNER_DATABASE_URL": self.owner_database_url} if self.owner_database_url else {})
        )


_current: Settings | None = None
_resets: list[Callable[[], None]] = []


def get_settings() -> Settings:
    """The settings in force: those configured, else the environment's (read at the first call)."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def store_srid() -> int:
    """The SRID of the projected metric CRS PostGIS stores geometry in (the one way to ask)."""
    return get_settings().store_srid


def on_configure(reset: Callable[[], None]) -> Callable[[], None]:
    """Register ``reset`` to forget what was built from the previous settings when they change."""
    _resets.append(reset)
    return reset


def configure(settings: Settings | None) -> None:
    """Put ``settings`` in force (None: the environment's again, read at the next use)."""
    global _current
    _current = settings
    for reset in _resets:
        reset()


@contextmanager
def configured(settings: Settings) -> Iterator[Settings]:
    """``settings`` in force inside the block; the previous ones again after it."""
    previous = _current
    configure(settings)
    try:
        yield settings
    finally:
        configure(previous)
