"""Test fixtures for the viewer tests (loaded by tests/conftest.py)."""
