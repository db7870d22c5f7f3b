"""Test fixtures for the gis tests (loaded by tests/conftest.py)."""
