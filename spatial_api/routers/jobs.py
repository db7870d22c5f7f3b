"""Job progress."""

from fastapi import APIRouter

router = APIRouter(tags=["jobs"])
