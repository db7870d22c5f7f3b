"""OGC API Features: landing page, conformance, collections, items (owned by the spatial API work)."""

from fastapi import APIRouter

router = APIRouter(tags=["features"])
