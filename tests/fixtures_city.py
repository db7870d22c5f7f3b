"""Test fixtures for the city tests (loaded by tests/conftest.py)."""
