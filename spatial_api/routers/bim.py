"""BIM models: upload, versions, elements, spatial tree."""

from fastapi import APIRouter

router = APIRouter(tags=["bim"])
