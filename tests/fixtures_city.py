"""Test fixtures for the city tests (loaded by tests/conftest.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

SAMPLE_BUILDINGS, SAMPLE_SEED = 400, 7


@pytest.fixture(scope="session")
def sample_city(database: Engine) -> dict[str, int]:
    """The sample city (400 buildings, seed 7) loaded into the test database; rows per table."""
    from sample_models.load import load_sample_city

    return load_sample_city(SAMPLE_BUILDINGS, SAMPLE_SEED)


@pytest.fixture(scope="session")
def sample_city_generated():
    """The same city generated again in memory (with the plain ID numbers that are never written)."""
    from sample_models.city.generate import generate_city

    return generate_city(SAMPLE_BUILDINGS, SAMPLE_SEED)
