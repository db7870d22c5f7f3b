"""What can be found: each kind's table, id, label, subtitle, codes, district and geometry as SQL
over the alias ``t``. One entry per kind; the search query is built from these."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from core import districts
from core.vocab import Label


@dataclass(frozen=True)
class Kind:
    name: str
    label_zh: str
    label_en: str
    table: str
    id: str
    label: str
    subtitle: str
    codes: tuple[str, ...]  # columns an exact or prefix code query matches
    district: str  # SQL of the district's name, or NULL
    geometry: str  # SQL of the store-CRS geometry, or NULL
    joins: str = ""
    searches_text: bool = True  # has a ``search_text`` column (migration 0005)
    names_list: bool = False  # its ``search_text`` holds several names between '|'s
    division: str = "t.division_code"  # SQL of the row's 12-digit division code, or NULL


ADDRESS_DISTRICT = r"substring(t.address from '([^省市]{2,4}[区县])')"

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            "building",
            "建筑",
            "Building",
            "building",
            "t.code",
            "coalesce(t.address, t.code)",
            "concat_ws(' · ', t.code, t.floors_above || '层')",
            ("t.code",),
            ADDRESS_DISTRICT,
            "t.footprint",
        ),
        Kind(
            "project",
            "项目",
            "Project",
            "project",
            "t.code",
            "t.name",
            "concat_ws(' · ', t.code, t.address)",
            ("t.code",),
            ADDRESS_DISTRICT,
            "coalesce(t.footprint, (SELECT p.geom FROM parcel p WHERE p.code = t.parcel_code))",
        ),
        Kind(
            "enterprise",
            "企业",
            "Enterprise",
            "enterprise",
            "t.uscc",
            "t.name",
            "concat_ws(' · ', t.uscc, t.district)",
            ("t.uscc",),
            "t.district",
            "t.location",
            names_list=True,
        ),
        Kind(
            "person",
            "人员",
            "Person",
            "person",
            "t.id",
            "t.name",
            "concat_ws(' · ', t.specialty, e.name)",
            ("t.id",),
            "e.district",
            "NULL::geometry",
            "LEFT JOIN enterprise e ON e.uscc = t.employer_uscc",
            division="e.division_code",
        ),
        Kind(
            "parcel",
            "地块",
            "Parcel",
            "parcel",
            "t.code",
            "'地块 ' || t.code",
            "(SELECT string_agg(p.name, '、' ORDER BY p.code) FROM project p WHERE p.parcel_code = t.code)",
            ("t.code",),
            "NULL",
            "t.geom",
            searches_text=False,
            division="NULL",
        ),
        Kind(
            "road",
            "道路",
            "Road",
            "road",
            "t.code",
            "t.name",
            "concat_ws(' · ', t.code, '红线宽 ' || t.width_m || ' 米')",
            ("t.code",),
            "NULL",
            "t.red_line",
            division="NULL",
        ),
    )
}

# The columns of a search's hits as an export writes them.
COLUMNS = {
    "kind": Label(zh="类别", en="Kind"),
    "id": Label(zh="编号", en="ID"),
    "label": Label(zh="名称", en="Name"),
    "subtitle": Label(zh="摘要", en="Details"),
    "district": Label(zh="辖区", en="District"),
}


def kind_labels() -> dict[str, Label]:
    """Each kind's name in Chinese and English."""
    return {k.name: Label(zh=k.label_zh, en=k.label_en) for k in KINDS.values()}


def check_scope(conn: Connection, kind: str, id_: str, scope: Sequence[str] | None) -> None:
    """NotFound when the ``kind`` record ``id_`` lies outside the districts ``scope`` (None: no limit)."""
    k = KINDS[kind]
    districts.check(conn, f"{k.table} t {k.joins}", k.id, id_, k.geometry, k.district, scope, f"{kind} {id_}")
