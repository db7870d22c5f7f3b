"""Test fixtures for the bim tests (loaded by tests/conftest.py)."""
