"""Test fixtures for the tiles tests (loaded by tests/conftest.py)."""
