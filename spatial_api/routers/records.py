"""The four databases: file imports (a job), single-record reads and writes with ETags, history."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from core import jobs
from core.db import read_engine
from core.errors import NotFound, UserError
from core.settings import get_settings
from records import access, history, reader, spec, vocab, write
from records.mapping import load_mapping, shipped
from spatial_api import audit, record_writes
from spatial_api.forms import upload_form
from spatial_api.personal_reads import personal_read
from spatial_api.security import Principal, current_principal
from spatial_api.uploads import BadUpload, receive_file

router = APIRouter(prefix="/records", tags=["records"])

UPLOAD_FORM = upload_form(
    ".csv, .xlsx or .jsonl",
    mapping={"type": "string", "description": "column mapping name (default: siku)"},
    all_or_nothing={"type": "boolean", "description": "write nothing if a row is rejected"},
)


class JobAccepted(BaseModel):
    job_id: str
    status: str
    job_url: str


class RecordOut(BaseModel):
    kind: str
    key: str
    data: dict[str, Any] | None
    as_of: datetime | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    changed_by: str | None = None


class VersionOut(BaseModel):
    data: dict[str, Any] | None
    valid_from: datetime
    valid_to: datetime | None
    changed_by: str | None
    reason: str | None


class FieldOut(BaseModel):
    name: str
    label_zh: str | None
    type: str
    required: bool
    values: dict[str, list[str]] | None = None  # enumeration: code -> [zh, en]
    references: list[str] | None = None  # table.column


class KindOut(BaseModel):
    kind: str
    label_zh: str
    label_en: str
    key: list[str]
    soft_delete: bool
    writers: list[str]
    fields: list[FieldOut]


@router.get("", response_model=list[KindOut])
def list_kinds() -> list[KindOut]:
    """Every kind of record: labels, key, fields (with the 四库一平台 column name, type, enumeration
    values with Chinese and English labels, references) and the roles that may change it."""
    headers = load_mapping().labels()
    return [
        KindOut(
            kind=k.name,
            label_zh=k.label[0],
            label_en=k.label[1],
            key=list(k.key),
            soft_delete=k.soft_delete,
            writers=access.writers(k.name),
            fields=[
                FieldOut(
                    name=f.name,
                    label_zh=headers.get(k.name, {}).get(f.name),
                    type=f.type,
                    required=f.required,
                    values={c: list(v) for c, v in vocab.labels(f.enum).items()} if f.enum else None,
                    references=[".".join(t) for t in f.ref.targets.values()] if f.ref else None,
                )
                for f in k.fields.values()
            ],
        )
        for k in spec.kinds().values()
    ]


def _prepare_upload(kind: str, path: Path, filename: str, fields: dict[str, str], principal: Principal) -> dict:
    """The import job's params; the upload is removed when the form is refused."""
    suffix = Path(filename).suffix.lower()
    try:
        if suffix not in reader.FORMATS:
            raise BadUpload(f"{filename}: upload a .csv, .xlsx or .jsonl file")
        mapping = shipped(fields["mapping"]) if fields.get("mapping") else None
    except UserError:
        path.unlink(missing_ok=True)
        raise
    return {
        "path": str(path.rename(path.with_suffix(suffix))),
        "file_name": filename,
        "kind": kind,
        "mapping": mapping,
        "all_or_nothing": fields.get("all_or_nothing", "").lower() in ("1", "true", "yes", "on"),
        "username": principal.username,
    }


@router.post("/{kind}/imports", status_code=202, openapi_extra=UPLOAD_FORM, response_model=JobAccepted)
async def import_records(
    kind: str, request: Request, principal: Principal = Depends(current_principal)
) -> JSONResponse:
    """Upload a records file (CSV in UTF-8 or GB18030, XLSX, JSON Lines): 202 with the import job; the
    job's result is the summary (inserted, updated, unchanged, rejected with reasons, pass rate)."""
    found = record_writes.writer(kind, principal)
    settings = get_settings()
    path, filename, fields = await receive_file(request, settings.uploads_dir, settings.upload_max_bytes)
    params = await asyncio.to_thread(_prepare_upload, found.name, path, filename, fields, principal)
    job_id = await asyncio.to_thread(jobs.submit, "records.import", params, principal.username)
    await asyncio.to_thread(audit.record, "records.import", f"{kind} {filename} job {job_id}", principal, request)
    url = f"/api/v1/jobs/{job_id}"
    return JSONResponse(
        {"job_id": str(job_id), "status": "queued", "job_url": url}, status_code=202, headers={"Location": url}
    )


def _answer(kind: str, key: str, data: dict | None, etag: str | None, status: int = 200, **extra: Any) -> JSONResponse:
    body = RecordOut(kind=kind, key=key, data=data, **extra).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={"ETag": etag} if etag else None)


@router.get("/{kind}/{key}", response_model=RecordOut)
def get_record(
    kind: str,
    key: str,
    request: Request,
    as_of: datetime | date | None = Query(None, description="what was known then (a date: by the end of that day)"),
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """A record (with its ETag), or with ``as_of`` the version valid then (``data`` null: it was deleted
    by then; 404: unknown then). Personal data per role."""
    found = spec.get(kind)
    personal = principal.sees_personal_data
    with read_engine().connect() as conn:
        if as_of is None:
            data, etag = write.read(conn, found, key)
            answer = _answer(found.name, key, write.visible(data, personal), etag)
        else:
            version = history.as_of(conn, found.name, key, as_of)
            if version is None:
                raise NotFound(f"{kind} {key!r} has no version known at {as_of}")
            data = version["data"] or {}
            known = {k: version[k] for k in ("valid_from", "valid_to", "changed_by")}
            answer = _answer(
                found.name, key, write.visible(version["data"], personal), None, as_of=history.moment(as_of), **known
            )
    if personal and any(data.get(c) is not None for c in write.ENCRYPTED):
        personal_read("read_personal", f"records {kind}/{key}", principal, request, 1)
    return answer


@router.get("/{kind}/{key}/versions", response_model=list[VersionOut])
def get_versions(
    kind: str, key: str, request: Request, principal: Principal = Depends(current_principal)
) -> list[VersionOut]:
    """Every version of a record, oldest first (valid from / to, who changed it and why)."""
    found = spec.get(kind)
    with read_engine().connect() as conn:
        found_versions = history.versions(conn, found.name, key)
    personal = principal.sees_personal_data
    if personal:
        personal_read("read_personal", f"records {kind}/{key} versions", principal, request, 1)
    return [VersionOut(**(v | {"data": write.visible(v["data"], personal)})) for v in found_versions]


@router.post("/{kind}", status_code=201, response_model=RecordOut)
def create_record(
    kind: str,
    request: Request,
    body: dict[str, Any] = Body(..., description="field -> value, as in an import row"),
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """Create a record (validated like an import row); 409 if its key exists."""
    found = record_writes.writer(kind, principal)
    key, data, etag = record_writes.create(found, body, principal, request)
    return _answer(found.name, key, write.visible(data, principal.sees_personal_data), etag, 201)


IfMatch = Header(None, alias="If-Match", description="the ETag of the record as read")


@router.put("/{kind}/{key}", response_model=RecordOut, summary="Replace a record")
@router.patch("/{kind}/{key}", response_model=RecordOut, summary="Update a record")
def change_record(
    kind: str,
    key: str,
    request: Request,
    body: dict[str, Any] = Body(...),
    if_match: str | None = IfMatch,
    principal: Principal = Depends(current_principal),
) -> JSONResponse:
    """PUT replaces a record (absent optional fields become empty), PATCH changes the given fields;
    both need If-Match with the record's ETag: 428 without, 412 when the record changed since."""
    found = record_writes.writer(kind, principal)
    partial = request.method == "PATCH"
    after, etag = record_writes.change(found, key, body, if_match, partial, principal, request)
    return _answer(found.name, key, write.visible(after, principal.sees_personal_data), etag)


@router.delete("/{kind}/{key}", status_code=204)
def delete_record(
    kind: str,
    key: str,
    request: Request,
    reason: str | None = Query(None, description="why (required for kinds the law keeps: marked deleted)"),
    if_match: str | None = IfMatch,
    principal: Principal = Depends(current_principal),
) -> Response:
    """Delete a record: kinds the law keeps (enterprises, people, projects, permits, credit records,
    penalties) are marked deleted with the reason and stay readable; the others are removed."""
    found = record_writes.writer(kind, principal)
    record_writes.delete(found, key, if_match, reason, principal, request)
    return Response(status_code=204)
