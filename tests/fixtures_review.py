"""Test fixtures for the review tests (loaded by tests/conftest.py)."""
