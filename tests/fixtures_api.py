"""Test fixtures for the api tests (loaded by tests/conftest.py)."""
