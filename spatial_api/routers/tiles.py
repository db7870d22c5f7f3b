"""3D Tiles serving."""

from fastapi import APIRouter

router = APIRouter(tags=["tiles"])
