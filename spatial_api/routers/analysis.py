"""Emergency overlays and underground analyses."""

from fastapi import APIRouter

router = APIRouter(tags=["analysis"])
