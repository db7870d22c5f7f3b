"""Feature id to business value, for 3D Tiles styles."""

from fastapi import APIRouter

router = APIRouter(tags=["thematic"])
