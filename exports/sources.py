"""What can be exported. A *statement* source turns a query into one SQL select, streamed; a *document*
source gives one nested record (a profile) whose record and sections become sheets.

Collections (with property filters) and within (a collection inside a drawn polygon) are defined
here; search and profiles register theirs through ``spatial_api.tasks`` (domain packages do not
import each other)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from core import districts, divisions, layers
from core.errors import UserError
from core.models import Base
from core.registry import Layer
from core.settings import get_settings
from exports.labels import Labels, vocabulary
from gis.analysis import inputs


@dataclass(frozen=True)
class Statement:
    """A select whose columns are written as they are, except ``_wkb``: the CRS84 geometry as WKB."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)
    personal: bool = False  # whether its rows carry personal data
    labels: Labels = field(default_factory=Labels)


@dataclass(frozen=True)
class Document:
    """One nested record (``record``: field → value; each list: a section's rows) and its fields' labels."""

    document: dict[str, Any]
    personal: bool  # whether it shows personal data
    labels: Labels = field(default_factory=Labels)


# The requester's districts (division codes) when their data scope is limited (core.districts), else None.
Scope = Sequence[str] | None
# A source's arguments: the connection, the query, whether the requester may see personal data, their scope.
StatementSource = Callable[[Connection, dict[str, Any], bool, Scope], Statement]
DocumentSource = Callable[[Connection, dict[str, Any], bool, Scope], Document]

STATEMENTS: dict[str, StatementSource] = {}
DOCUMENTS: dict[str, DocumentSource] = {}


def statement_source(name: str) -> Callable[[StatementSource], StatementSource]:
    def register(function: StatementSource) -> StatementSource:
        STATEMENTS[name] = function
        return function

    return register


def _properties(collection: Layer, query: dict[str, Any]) -> list[str]:
    """The properties asked for (``"properties": [...]``, default all), checked against the collection's."""
    names = [p.name for p in collection.properties]
    asked = query.get("properties") or names
    unknown = [p for p in asked if p not in names]
    if unknown:
        raise UserError(f"unknown properties {unknown} of {collection.name}: use {', '.join(names)}")
    return [p for p in asked if p != collection.id_column]


def _collection_labels(collection: Layer) -> Labels:
    """A collection's column labels and its coded values' labels, from the registry; ``id`` is its id
    property's."""
    columns = {p.name: p.label for p in collection.properties}
    columns["id"] = columns[collection.id_column]
    values = {p.name: vocabulary(p.vocab) for p in collection.properties if p.vocab}
    return Labels(columns, values)


def _division(collection: Layer, query: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The condition keeping a collection's features in ``query["division"]`` (a code prefix), if asked."""
    if query.get("division") is None:
        return [], {}
    table = Base.metadata.tables.get(collection.source)
    if table is None or "division_code" not in table.columns:
        raise UserError(f"{collection.name} carry no division code: leave out division")
    where, params = divisions.condition("t.division_code", str(query["division"]))
    return [where], params


def _collection_select(collection: Layer, query: dict[str, Any], where: list[str]) -> str:
    """The features meeting ``where`` and in the scope ``:scope``."""
    geom = layers.geom_sql(collection)
    where = [*where, districts.condition(geom)]
    columns = ", ".join(f"t.{name}" for name in _properties(collection, query))
    return (
        f"SELECT t.{collection.id_column} AS id{', ' + columns if columns else ''},"
        f" ST_AsBinary(ST_Transform({geom}, 4326)) AS _wkb FROM {collection.from_clause}"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY t.{collection.id_column}"
    )


@statement_source("collection")
def collection(conn: Connection, query: dict[str, Any], personal: bool, scope: Scope) -> Statement:
    """``{"collection": "buildings", "filters": {"use": "residential"}, "properties": [...]}``: a
    collection's features in the scope (with the properties asked for, default all)."""
    found = layers.get_collection(str(query.get("collection")))
    filters = layers.property_filters(found, {k: str(v) for k, v in (query.get("filters") or {}).items()})
    division, division_params = _division(found, query)
    where = [f"t.{name} = :p_{name}" for name in filters] + division
    params: dict[str, Any] = {f"p_{k}": v for k, v in filters.items()} | {"scope": districts.param(scope)}
    params |= division_params
    return Statement(_collection_select(found, query, where), params, labels=_collection_labels(found))


@statement_source("within")
def within(conn: Connection, query: dict[str, Any], personal: bool, scope: Scope) -> Statement:
    """``{"collection": "buildings", "geometry": {GeoJSON polygon}}``: a collection's features in an area
    and in the scope."""
    found = layers.get_collection(str(query.get("collection")))
    area = inputs.geometry(conn, query.get("geometry"), ("Polygon", "MultiPolygon"), "geometry")
    srid = get_settings().store_srid
    box = f"ST_GeomFromWKB(:area, {srid})"
    division, division_params = _division(found, query)
    where = [layers.overlaps_sql(found, box), f"ST_Intersects({layers.geom_sql(found)}, {box})", *division]
    params = {"area": area.wkb, "scope": districts.param(scope)} | division_params
    return Statement(_collection_select(found, query, where), params, labels=_collection_labels(found))


def resolve(conn: Connection, query: dict[str, Any], personal: bool, scope: Scope) -> Statement | Document:
    """The statement or the document (with whether it shows personal data) a query asks for, kept to
    the requester's districts ``scope``."""
    source = query.get("source")
    if source in STATEMENTS:
        return STATEMENTS[source](conn, query, personal, scope)
    if source in DOCUMENTS:
        return DOCUMENTS[source](conn, query, personal, scope)
    raise UserError(f"unknown export source {source!r}: use one of {', '.join([*STATEMENTS, *DOCUMENTS])}")
