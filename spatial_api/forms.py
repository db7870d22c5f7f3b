"""OpenAPI descriptions of the multipart upload forms (the bodies are streamed, not parsed by FastAPI)."""

from __future__ import annotations

from typing import Any


def upload_form(file_description: str, **fields: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a multipart/form-data body: a required ``file`` and optional ``fields``."""
    properties = {"file": {"type": "string", "format": "binary", "description": file_description}, **fields}
    schema = {"type": "object", "required": ["file"], "properties": properties}
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}}
