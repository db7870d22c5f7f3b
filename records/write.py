"""Single-record writes (create, replace, update, delete) with optimistic locking: the same
validation as the importer, the same bulk path, the version a change or delete ends kept
(``records.history``), before and after returned for the audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from core.errors import NotFound, UserError
from core.models.history import VERSION_COLUMNS
from core.privacy import decrypt_field
from records import history, store
from records.importer import present_columns, validate_rows
from records.spec import Kind
from records.validate import Rejection

ENCRYPTED = {"phone_enc": "phone"}  # stored column -> the field its plain value is shown as


class Rejected(UserError):
    """Values the kind's spec refuses: 422 with every reason."""

    status_code = 422

    def __init__(self, rejections: list[Rejection]) -> None:
        first = rejections[0]
        super().__init__(f"{first.column}: {first.reason_en} ({first.reason_zh})")
        self.extra = {"errors": [r.as_dict() for r in rejections]}


class Conflict(UserError):
    status_code = 409


class PreconditionFailed(UserError):
    status_code = 412


class PreconditionRequired(UserError):
    status_code = 428


def _select(kind: Kind, where: str) -> str:
    """A row as JSON (geometry as CRS84 GeoJSON) with its ETag (the MD5 of that JSON)."""
    geoms = "".join(
        f" || jsonb_build_object('{g}', ST_AsGeoJSON(ST_Transform(t.{g}, 4326), 7)::jsonb)"
        for g in kind.geometry_columns
    )
    dropped = "".join(f" - {c!r}" for c in (*kind.geometry_columns, *VERSION_COLUMNS))
    data = f"(to_jsonb(t){dropped}{geoms})"
    return f"SELECT {data} AS data, md5({data}::text) AS etag FROM {kind.table} t WHERE {where}"


def read(conn: Connection, kind: Kind, key: str, lock: bool = False) -> tuple[dict[str, Any], str]:
    """The record and its ETag, or a 404."""
    values = history.key_values(kind, key)
    where = " AND ".join(f"t.{c}::text = :{c}" for c in kind.key)
    row = conn.execute(text(_select(kind, where) + (" FOR UPDATE" if lock else "")), values).first()
    if row is None:
        raise NotFound(f"{kind.name} has no record {key!r}")
    return row.data, f'"{row.etag}"'


def visible(data: dict[str, Any] | None, personal: bool) -> dict[str, Any] | None:
    """A record as a caller may see it: encrypted fields opened for roles that see personal data, else
    left out (their masked form stays); ID numbers only ever as hash and mask."""
    if data is None:
        return None
    shown = {k: v for k, v in data.items() if k not in ENCRYPTED}
    if personal:
        for column, name in ENCRYPTED.items():
            if data.get(column) is not None:
                shown[name] = decrypt_field(data[column])
    return shown


def _check_etag(current: str, if_match: str | None) -> None:
    if if_match is None:
        raise PreconditionRequired("give If-Match with the record's ETag (GET it first): changes need it")
    if if_match.strip() not in (current, f"W/{current}", "*"):
        raise PreconditionFailed("the record changed since you read it (ETag differs): GET it again and retry")


def _validated(conn: Connection, kind: Kind, body: dict[str, Any], partial: bool):
    unknown = sorted(set(body) - set(kind.fields))
    if unknown:
        raise UserError(f"{kind.name} has no field {unknown[0]!r}; fields: {', '.join(kind.fields)}")
    good, rejections, _ = validate_rows(conn, kind, [(1, {k: (k, v) for k, v in body.items()})], partial)
    if rejections:
        raise Rejected(rejections)
    return good[0]


def _key_text(kind: Kind, values: dict[str, Any]) -> str:
    return ":".join(str(values[c]) for c in kind.key)


def create(conn: Connection, kind: Kind, body: dict[str, Any], by: str | None) -> tuple[str, dict, str]:
    """Create a record; its key, data and ETag. A 409 when the natural key exists already."""
    row = _validated(conn, kind, body, partial=False)
    match = " AND ".join(f"{c} = :{c}" for c in kind.match)
    if conn.execute(text(f"SELECT 1 FROM {kind.table} WHERE {match}"), {c: row.values[c] for c in kind.match}).first():
        raise Conflict(f"{kind.name} already has this record: change it with PUT or PATCH")
    store.apply(conn, kind, [row], present_columns(kind, set(body)), by, "created")
    key = _key_text(kind, row.values)
    data, etag = read(conn, kind, key)
    return key, data, etag


def change(
    conn: Connection, kind: Kind, key: str, body: dict[str, Any], by: str | None, if_match: str | None, partial: bool
) -> tuple[dict, dict, str]:
    """Replace (PUT) or update (PATCH) a record; before, after and the new ETag. Keys do not change."""
    before, etag = read(conn, kind, key, lock=True)
    _check_etag(etag, if_match)
    row = _validated(conn, kind, body, partial)
    for column in (*kind.key, *kind.match):
        if row.values.get(column) is not None and str(row.values[column]) != str(before[column]):
            raise UserError(f"{column} is the record's key and cannot change: delete and create instead")
        row.values[column] = before[column]
    fields = set(body) if partial else set(kind.fields)
    columns = present_columns(kind, fields)
    if not partial:  # a replaced record's absent fields take the model's defaults (NOT NULL ones too)
        absent = [c for c in columns if row.values.get(c) is None]
        row.values.update(store.defaults(kind, absent))
    store.apply(conn, kind, [row], columns, by, "updated")
    after, new_etag = read(conn, kind, key)
    return before, after, new_etag


def delete(
    conn: Connection, kind: Kind, key: str, by: str | None, if_match: str | None, reason: str | None
) -> dict[str, Any]:
    """Delete a record (kinds the law keeps: mark it deleted, with a reason); the record before."""
    before, etag = read(conn, kind, key, lock=True)
    _check_etag(etag, if_match)
    values = history.key_values(kind, key)
    where = " AND ".join(f"t.{c}::text = :{c}" for c in kind.key)
    when = store.now(conn)
    if kind.soft_delete:
        if not reason:
            raise UserError(f"{kind.name} are kept by law: give the reason for deleting (reason=...)")
        if before.get("deleted_at"):
            raise NotFound(f"{kind.name} {key!r} is deleted already")
        history.supersede(conn, kind, f"{kind.table} t WHERE {where}", when, values)
        conn.execute(
            text(f"""UPDATE {kind.table} t SET deleted_at = :when, deleted_reason = :reason, version_from = :when,
                       version_by = :by, version_reason = :reason WHERE {where}"""),
            {**values, "when": when, "by": by, "reason": reason},
        )
    else:
        history.mark_deleted(conn, kind, f"{kind.table} t WHERE {where}", when, by, reason or "deleted", values)
        conn.execute(text(f"DELETE FROM {kind.table} t WHERE {where}"), values)
    return before
