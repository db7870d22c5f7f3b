"""Test fixtures for the api tests (loaded by tests/conftest.py): role tokens, a live uvicorn server,
raw-SQL helpers and CRS84 conversions computed with pyproj alone."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shapely
from pyproj import Transformer
from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
DEMO_ROLES = ("planner", "engineer", "emergency", "admin")


@pytest.fixture(scope="session")
def to_lonlat() -> Callable[[shapely.Geometry], shapely.Geometry]:
    """Store CRS (EPSG:4549) → CRS84 with pyproj directly (independent of gis.crs)."""
    forward = Transformer.from_crs("EPSG:4549", "OGC:CRS84", always_xy=True)
    return lambda geom: shapely.transform(
        geom, lambda x, y: forward.transform(x.tolist(), y.tolist()), interleaved=False
    )


@pytest.fixture(scope="session")
def to_store() -> Callable[[shapely.Geometry], shapely.Geometry]:
    backward = Transformer.from_crs("OGC:CRS84", "EPSG:4549", always_xy=True)
    return lambda geom: shapely.transform(
        geom, lambda x, y: backward.transform(x.tolist(), y.tolist()), interleaved=False
    )


@pytest.fixture(scope="session")
def rows(database: Engine) -> Callable[..., list[dict]]:
    """``rows(sql, **params)``: raw SQL rows as dicts, geometry columns selected as WKB turn into shapely."""

    def run(sql: str, **params) -> list[dict]:
        with database.connect() as conn:
            out = []
            for row in conn.execute(text(sql), params).mappings():
                item = dict(row)
                for key, value in item.items():
                    if key.startswith("wkb_") and value is not None:
                        item[key] = shapely.from_wkb(bytes(value))
                out.append(item)
            return out

    return run


@pytest.fixture(scope="session")
def role_headers(client, sample_city) -> dict[str, dict[str, str]]:
    """Bearer headers for each demo role (logged in through the API), plus ``public`` without a token."""
    headers = {"public": {}}
    for role in DEMO_ROLES:
        response = client.post("/api/v1/auth/token", data={"username": role, "password": f"{role}-demo"})
        assert response.status_code == 200, response.text
        headers[role] = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return headers


@pytest.fixture(scope="session")
def demo_model(sample_city) -> dict:
    """One of the demo's BIM models, authored on a vacant parcel of a project and published."""
    from spatial_api.pipelines import publish_demo_models

    return publish_demo_models(1)[0]


@pytest.fixture(scope="module")
def emergency_event(database: Engine, sample_city) -> Iterator[dict]:
    """One reported gas leak (the sample city has none) at the middle of the first building; removed after."""
    with database.begin() as conn:
        row = (
            conn.execute(
                text(
                    """INSERT INTO emergency_event (type, source, severity, params, location)
                       SELECT 'gas_leak', 'test', 'major', '{}'::jsonb, ST_Centroid(footprint)
                         FROM building ORDER BY code LIMIT 1 RETURNING id"""
                )
            )
            .mappings()
            .one()
        )
    yield dict(row)
    with database.begin() as conn:
        conn.execute(text("DELETE FROM emergency_event WHERE id = :id"), {"id": row["id"]})


@pytest.fixture(scope="session")
def live_server(database: Engine, sample_city) -> Iterator[str]:
    """A real uvicorn serving the app on a free port over the test database; yields its base URL."""
    from spatial_api.local_server import uvicorn_server

    with uvicorn_server({**os.environ, "DATABASE_URL": database.url.render_as_string(hide_password=False)}) as base:
        yield base
