"""Manage by map: identify and within."""

from fastapi import APIRouter

router = APIRouter(tags=["query"])
