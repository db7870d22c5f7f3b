"""Test fixtures for the bim tests (loaded by tests/conftest.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from pyproj import CRS, Transformer

# The sample building's local origin in the store CRS and, for the exactness test, in UTM 51N.
STORE_ORIGIN = (497_520.0, 3_520_040.0, 8.5)
UTM51 = "EPSG:32651"


@pytest.fixture(scope="session")
def bim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bim")


@pytest.fixture(scope="session")
def sample_ifc(bim_dir: Path) -> Path:
    """The project's sample building, IFC4, IfcMapConversion onto the store CRS (rotated 30°, Scale 0.001)."""
    from sample_models.ifc_models import author_building

    return author_building(
        bim_dir / "sample.ifc", eastings=STORE_ORIGIN[0], northings=STORE_ORIGIN[1], height=STORE_ORIGIN[2]
    )


@pytest.fixture(scope="session")
def sample_ifc_utm(bim_dir: Path) -> Path:
    """The sample building with its IfcMapConversion in UTM 51N (not the store CRS), rotated 37.5°."""
    from sample_models.ifc_models import author_building

    e, n = Transformer.from_crs(CRS.from_epsg(4549), CRS.from_user_input(UTM51), always_xy=True).transform(
        *STORE_ORIGIN[:2]
    )
    return author_building(
        bim_dir / "sample-utm.ifc", eastings=e, northings=n, height=12.25, rotation_deg=37.5, crs=UTM51, storeys=2
    )


@pytest.fixture(scope="session")
def sample_ifc_2x3(bim_dir: Path) -> Path:
    from sample_models.ifc_models import author_building

    return author_building(bim_dir / "sample-2x3.ifc", schema="IFC2X3", storeys=2, rotation_deg=-15.0)


def _token_of(username: str, role: str) -> dict[str, str]:
    """Bearer headers of a user made for the tests (tokens are checked against the user table)."""
    from core.db import session_scope
    from core.users import upsert_user
    from spatial_api.security import issue_token

    with session_scope() as session:
        user = upsert_user(session, username, f"{username}-Pw-0", role)
        session.flush()
        version = user.token_version
    return {"Authorization": f"Bearer {issue_token(username, role, version)}"}


@pytest.fixture(scope="session")
def engineer_headers(database) -> dict[str, str]:
    return _token_of("bim-test-engineer", "engineer")


@pytest.fixture(scope="session")
def bim_admin_headers(database) -> dict[str, str]:
    return _token_of("bim-test-admin", "admin")


def wait_for_job(client, job_id: str, headers: dict[str, str], timeout: float = 120.0) -> dict:
    """Poll GET /jobs/{id} (as its owner or an admin) until the job ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s: {job}")
