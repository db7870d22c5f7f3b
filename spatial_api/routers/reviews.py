"""Digital drawing review."""

from fastapi import APIRouter

router = APIRouter(tags=["reviews"])
