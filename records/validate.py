"""Validation shared by the importer and the write API: every value parsed by its field's type
(USCC, resident ID number, dates, numbers, enumerations, CRS84 geometry), personal data hashed,
encrypted or masked on the way in, duplicates and references checked over a whole batch."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import TypeVar

import numpy as np
import shapely
from sqlalchemy import Connection, String, text

from core import idcard, uscc
from core.privacy import encrypt_field, hash_id_number, mask_id_card, mask_name, mask_phone
from core.registry import registry
from gis.crs import crs84_to_store, store_srid
from records import vocab
from records.history import CHINA
from records.spec import Field, Kind, Ref, kinds

TRUE = {"1", "true", "yes", "y", "是", "有", "t", "√"}
FALSE = {"0", "false", "no", "n", "否", "无", "f", "×"}
DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
PHONE = re.compile(r"^\+?\d{7,15}$")
ID_LIKE = re.compile(r"^\d{17}[\dXx]$")
PERSONAL = ("id_number", "phone", "masked_name")
N = TypeVar("N")  # what a number parser converts to


class Invalid(Exception):
    """A value that a field does not accept: the reason in Chinese and in English."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass
class Rejection:
    row: int
    column: str | None
    value: str | None
    reason_zh: str
    reason_en: str
    key_field: bool = False

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "value": self.value, "reason_zh": self.reason_zh,
                "reason_en": self.reason_en}  # fmt: skip


@dataclass
class Row:
    """One input row: its number, the header each field came from, and the parsed column values."""

    number: int
    values: dict[str, object]
    sources: dict[str, str] = field(default_factory=dict)  # field -> header
    pending: dict[str, str] = field(default_factory=dict)  # column -> ID-number hash still to resolve


def _text(raw: object) -> str:
    return unicodedata.normalize("NFKC", str(raw)).strip() if not isinstance(raw, str) else raw.strip()


def _number(raw: object, convert: Callable[[str], N], zh: str, en: str) -> N:
    if isinstance(raw, bool):
        raise Invalid(f"不是{zh}", f"not {en}")
    if isinstance(raw, int | float | Decimal):
        return convert(str(raw))
    try:
        return convert(unicodedata.normalize("NFKC", str(raw)).replace(",", "").strip())
    except (ValueError, InvalidOperation) as exc:
        raise Invalid(f"不是{zh}", f"not {en}") from exc


def _int(raw: object) -> int:
    value = _number(raw, Decimal, "整数", "a whole number")
    if value != value.to_integral_value():
        raise Invalid("不是整数", "not a whole number")
    return int(value)


def _decimal(f: Field, raw: object) -> Decimal:
    value = _number(raw, Decimal, "数字", "a number")
    if not value.is_finite():
        raise Invalid("不是数字", "not a number")
    if f.digits is not None and abs(value) >= Decimal(10) ** f.digits:
        raise Invalid(f"数值过大（整数部分最多 {f.digits} 位）", f"too large (at most {f.digits} integer digits)")
    return value


def _date(raw: object) -> date:
    if isinstance(raw, datetime):
        return raw.date()
    if isinstance(raw, date):
        return raw
    return _date_text(_text(raw))


@lru_cache(maxsize=1 << 14)
def _date_text(value: str) -> date:
    """A date written as text (cached: files repeat the same dates)."""
    for pattern in DATE_PATTERNS:
        if m := pattern.match(value.split("T")[0].split(" ")[0]):
            try:
                return date(int(m[1]), int(m[2]), int(m[3]))
            except ValueError:
                break
    raise Invalid("不是有效日期（应为 YYYY-MM-DD）", "not a valid date (use YYYY-MM-DD)")


def _datetime(raw: object) -> datetime:
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = datetime.fromisoformat(_text(raw).replace("/", "-"))
        except ValueError as exc:
            raise Invalid("不是有效时间（应为 ISO 8601）", "not a valid time (use ISO 8601)") from exc
    return value if value.tzinfo else value.replace(tzinfo=CHINA)


def _bool(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    value = _text(raw).casefold()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise Invalid("不是“是/否”", "not yes/no")


def _geometry(raw: object, kind: str) -> str:
    """CRS84 geometry (WKT, GeoJSON, or "lon,lat" for a point, "lon,lat,h" for a 3D point) -> EWKB hex
    in the store CRS (a 3D point keeps its height, in the store's vertical datum)."""
    try:
        if isinstance(raw, dict):
            geom = shapely.from_geojson(json.dumps(raw))
        else:
            value = _text(raw)
            if value.startswith("{"):
                geom = shapely.from_geojson(value)
            elif kind in ("point", "pointz") and re.match(r"^-?[\d.]+(\s*[,，]\s*-?[\d.]+){1,2}$", value):
                geom = shapely.Point(*(float(v) for v in re.split(r"\s*[,，]\s*", value)))
            else:
                geom = shapely.from_wkt(value)
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        raise Invalid(
            "几何无法解析（WKT 或 GeoJSON，CRS84 经纬度）", "geometry unreadable (WKT or GeoJSON, CRS84)"
        ) from exc
    expected = {"point": "Point", "pointz": "Point", "polygon": "Polygon"}[kind]
    if geom.geom_type == "MultiPolygon" and kind == "polygon" and len(geom.geoms) == 1:
        geom = geom.geoms[0]
    if geom.geom_type != expected:
        raise Invalid(f"应为{'面' if kind == 'polygon' else '点'}几何", f"must be a {expected}")
    if kind == "pointz" and not geom.has_z:
        raise Invalid("应为三维点（经度,纬度,高程）", "must be a 3D point (lon,lat,h)")
    lon, lat = shapely.get_coordinates(geom).T[:2]
    if not (np.abs(lon) <= 180).all() or not (np.abs(lat) <= 90).all():
        raise Invalid("坐标超出经纬度范围（应为 CRS84）", "coordinates out of range (CRS84 lon/lat expected)")
    forward = crs84_to_store()
    projected = shapely.transform(
        geom,
        lambda xyz: np.column_stack([*forward.transform(xyz[:, 0].tolist(), xyz[:, 1].tolist()), *xyz[:, 2:].T]),
        include_z=kind == "pointz",
    )
    if not projected.is_valid:
        raise Invalid("几何无效（自相交等）", f"invalid geometry ({shapely.is_valid_reason(projected)})")
    return shapely.to_wkb(shapely.set_srid(projected, store_srid()), hex=True, include_srid=True)


def _text_field(f: Field, raw: object) -> dict[str, object]:
    value = _text(raw)
    if f.max_length and len(value) > f.max_length:
        raise Invalid(f"超过 {f.max_length} 个字符", f"longer than {f.max_length} characters")
    return {f.name: value}


@lru_cache(maxsize=1 << 17)
def _uscc(code: str) -> str:
    """A checked USCC; cached, as references repeat the same few codes across a file."""
    return uscc.validate(code)


def _uscc_field(f: Field, raw: object) -> dict[str, object]:
    try:
        return {f.name: _uscc(_text(raw))}
    except uscc.InvalidUSCC as exc:
        raise Invalid("统一社会信用代码无效（GB 32100-2015 校验位不符或格式错误）", str(exc)) from exc


def _id_number(raw: object) -> str:
    try:
        return idcard.validate(_text(raw))
    except idcard.InvalidIdNumber as exc:
        raise Invalid("公民身份号码无效（GB 11643-1999 校验码或出生日期不符）", str(exc)) from exc


def _id_field(f: Field, raw: object) -> dict[str, object]:
    number = _id_number(raw)
    return {f.columns["hash"]: hash_id_number(number), f.columns["masked"]: mask_id_card(number)}


def _person_field(f: Field, raw: object) -> dict[str, object]:
    """A person's id, or an ID number to resolve by its hash (a tuple marks it pending)."""
    value = _text(raw)
    if not ID_LIKE.match(value):
        return {f.name: value}
    return {f.name: ("id_card_hash", hash_id_number(_id_number(value)))}


def _phone_field(f: Field, raw: object) -> dict[str, object]:
    value = re.sub(r"[\s\-()]", "", _text(raw))
    if not PHONE.match(value):
        raise Invalid("不是电话号码", "not a phone number")
    return {f.columns["encrypted"]: encrypt_field(value), f.columns["masked"]: mask_phone(value)}


def _enum_field(f: Field, raw: object) -> dict[str, object]:
    if f.enum is None:
        raise ValueError(f"kinds.json: the enum field {f.name} names no enumeration")
    code = vocab.lookup(f.enum).get(_text(raw).casefold())
    if code is None:
        allowed = "、".join(zh for zh, _ in vocab.labels(f.enum).values())
        raise Invalid(f"不在取值范围内（{allowed}）", f"not one of {', '.join(vocab.labels(f.enum))}")
    return {f.name: code}


PARSERS: dict[str, Callable[[Field, object], dict[str, object]]] = {
    "text": _text_field,
    "uscc": _uscc_field,
    "id_number": _id_field,
    "person_ref": _person_field,
    "phone": _phone_field,
    "masked_name": lambda f, raw: {f.columns["masked"]: mask_name(_text(raw))},
    "enum": _enum_field,
    "int": lambda f, raw: {f.name: _int(raw)},
    "float": lambda f, raw: {f.name: float(_number(raw, float, "数字", "a number"))},
    "decimal": lambda f, raw: {f.name: _decimal(f, raw)},
    "bool": lambda f, raw: {f.name: _bool(raw)},
    "date": lambda f, raw: {f.name: _date(raw)},
    "datetime": lambda f, raw: {f.name: _datetime(raw)},
    "point": lambda f, raw: {f.name: _geometry(raw, "point")},
    "pointz": lambda f, raw: {f.name: _geometry(raw, "pointz")},
    "polygon": lambda f, raw: {f.name: _geometry(raw, "polygon")},
}


_Plan = tuple[tuple[str, Field, Callable[[Field, object], dict[str, object]], bool, bool], ...]
_plans: dict[str, _Plan] = {}


def _plan(kind: Kind) -> _Plan:
    """Each field of a kind with its parser, whether it is a key field and whether its value may be
    pending (an ID number resolved later); worked out once per kind."""
    plan = _plans.get(kind.name)
    if plan is None:
        plan = _plans[kind.name] = tuple(
            (name, f, PARSERS[f.type], name in kind.key_fields, f.type == "person_ref")
            for name, f in kind.fields.items()
        )
    return plan


def shown(f: Field, raw: object) -> str | None:
    """A value as a rejection report may show it: personal data masked."""
    if raw is None:
        return None
    value = _text(raw)
    if f.type in ("id_number", "person_ref") and len(value) >= 15:
        return mask_id_card(value)
    if f.type == "phone":
        return mask_phone(value)
    if f.type == "masked_name":
        return mask_name(value)
    return value[:200]


def parse_row(
    kind: Kind, number: int, given: dict[str, tuple[str, object]], partial: bool
) -> tuple[Row, list[Rejection]]:
    """Parse one row (field -> (header, raw value)); missing required fields are errors unless ``partial``."""
    row, errors = Row(number, {}), []
    values, sources = row.values, row.sources
    for name, f, parser, key_field, may_pend in _plan(kind):
        entry = given.get(name)
        if entry is None:
            if f.required and not partial:
                errors.append(Rejection(number, name, None, "必填项为空", f"{name} is required", key_field))
            continue
        header, raw = entry
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            values.update(dict.fromkeys(f.outputs))
            if f.required:
                errors.append(Rejection(number, header, None, "必填项为空", f"{name} is required", key_field))
            continue
        sources[name] = header
        try:
            parsed = parser(f, raw)
        except Invalid as exc:
            errors.append(Rejection(number, header, shown(f, raw), exc.zh, exc.en, key_field))
            continue
        if not may_pend:
            values.update(parsed)
            continue
        for column, value in parsed.items():
            if isinstance(value, tuple):
                row.pending[column] = value[1]
                values[column] = None
            else:
                values[column] = value
    return row, errors


def _existing(conn: Connection, table: str, column: str, values: Iterable[object]) -> set:
    """The values (codes) that ``table.column`` holds; the database answers with the missing ones (usually
    none). Nothing is locked here: the write's reference triggers and foreign keys lock what the rows
    refer to, and refuse the write if a row went meanwhile."""
    wanted = {v for v in values if v is not None}
    if not wanted:
        return set()
    missing = conn.scalars(
        text(f"""SELECT v FROM unnest(CAST(:v AS text[])) v
                  WHERE NOT EXISTS (SELECT FROM {table} t WHERE t.{column} = v)"""),
        {"v": list(wanted)},
    )
    return wanted.difference(missing)


def key_of(kind: Kind, values: dict[str, object], columns: tuple[str, ...]) -> tuple | None:
    key = tuple([values.get(c) for c in columns])
    return None if None in key else key


def _derive(kind: Kind, rows: list[Row], people: dict[str, str]) -> None:
    """Fill people resolved by ID-number hash, and ids made from another column."""
    derived = [(f.name, f.derive, _length(kind, f.name)) for f in kind.fields.values() if f.derive]
    for row in rows:
        for column, digest in row.pending.items():
            row.values[column] = people.get(digest)
        for name, derive, size in derived:
            source = row.values.get(derive["from"])
            if row.values.get(name) is None and source:
                row.values[name] = (derive["prefix"] + source)[:size]


def _length(kind: Kind, column: str) -> int | None:
    """The most characters a text column holds (None: no limit)."""
    column_type = kind.column_of(column).type
    return column_type.length if isinstance(column_type, String) else None


def _unique(kind: Kind, rows: list[Row], seen: dict[tuple, int]) -> tuple[list[Row], list[Rejection]]:
    """Rows with a natural key not ``seen`` before (key -> first row; the first row wins)."""
    first = kind.field_writing(kind.match[0])
    kept, rejections = [], []
    for row in rows:
        key = key_of(kind, row.values, kind.match)
        if key is not None and key in seen:
            column = row.sources.get(first.name if first else kind.match[0], kind.match[0])
            rejections.append(Rejection(row.number, column, None, f"文件内主键重复（首次出现于第 {seen[key]} 行）",
                                        f"duplicate key in the file (first at row {seen[key]})", True))  # fmt: skip
            continue
        if key is not None:
            seen[key] = row.number
        kept.append(row)
    return kept, rejections


def _dangling(row: Row, refs: list[tuple[Field, Ref]], known: dict[tuple[str, str], set]) -> Rejection | None:
    """The first reference of a row that names nothing."""
    for f, ref in refs:
        value = row.values.get(f.name)
        if f.name in row.pending and value is None:
            return Rejection(row.number, row.sources.get(f.name, f.name), None, "人员不存在（按身份证号未找到）",
                             "no person with this ID number", True)  # fmt: skip
        target = ref.target(row.values)
        if target is not None and value is not None and value not in known[target]:
            what = target[0]
            return Rejection(row.number, row.sources.get(f.name, f.name), str(value),
                             f"引用的{table_zh(what)}不存在：{value}",
                             f"no {what} {value} (reference {target[0]}.{target[1]})", True)  # fmt: skip
    return None


def check_batch(
    conn: Connection,
    kind: Kind,
    rows: list[Row],
    seen: dict[tuple, int] | None = None,
    known: dict[tuple[str, str], set] | None = None,
) -> tuple[list[Row], list[Rejection]]:
    """Resolve people by ID-number hash, derive ids, refuse duplicate keys (the first row wins; ``seen``
    carries the keys of earlier chunks of the same file) and rows whose references name nothing
    (``known``: (table, column) -> values found by earlier chunks, not asked for again; the foreign
    keys still guard the write)."""
    hashes = {h for r in rows for h in r.pending.values()}
    people: dict[str, str] = dict(conn.execute(text("SELECT id_card_hash, id FROM person WHERE id_card_hash = ANY(:h)"),
                               {"h": list(hashes)}).all()) if hashes else {}  # fmt: skip
    _derive(kind, rows, people)
    kept, rejections = _unique(kind, rows, {} if seen is None else seen)
    refs = [(f, f.ref) for f in kind.fields.values() if f.ref is not None]
    wanted: dict[tuple[str, str], set] = {}
    for f, ref in refs:
        name = f.name
        if ref.by is None:  # one target: the column's values at once
            wanted.setdefault(ref.targets[None], set()).update(
                {v for row in kept if (v := row.values.get(name)) is not None}
            )
            continue
        for row in kept:
            target = ref.target(row.values)
            if target and (v := row.values.get(name)) is not None:
                wanted.setdefault(target, set()).add(v)
    known = {} if known is None else known
    complete = True
    for target, values in wanted.items():
        found = known.setdefault(target, set())
        found |= _existing(conn, *target, values - found)
        complete = complete and values <= found
    if complete and not any(row.values.get(c) is None for row in kept for c in row.pending):
        return kept, rejections  # every reference names something: no row to look at again
    out = []
    for row in kept:
        if bad := _dangling(row, refs, known):
            rejections.append(bad)
        else:
            out.append(row)
    return out, rejections


@cache
def table_zh(table: str) -> str:
    """A table's Chinese name: its record kind's label, else its map layer's title, else the name."""
    kind = next((k for k in kinds().values() if k.table == table), None)
    if kind is not None:
        return kind.label[0]
    layer = next((la for la in registry().layers if la.source == table), None)
    return layer.title.zh if layer is not None else table
