"""Mapbox vector tiles from ST_AsMVT."""

from fastapi import APIRouter

router = APIRouter(tags=["mvt"])
