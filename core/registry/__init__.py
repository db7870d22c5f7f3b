"""The registry of layers: ``layers.json`` in this folder (or in the folder ``CIM_REGISTRY_DIR``
names), read into typed records, each layer with its style and themes from ``styles/<layer>.json``
(the repository's ``styles/``, or the folder ``CIM_STYLES_DIR`` names; no file: no style).
Every consumer derives its list from here: the OGC collections, MVT, identify's pick order, the
tilers, the importers' ``--layer`` choices, thematic maps, the CLI help, ``GET /api/v1/layers``
and the viewer's panel.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from core import vocab
from core.models.bim import CITY_VERSION_IDS_SQL
from core.vocab import Label

DEFAULT_DIR = Path(__file__).resolve().parent
DEFAULT_STYLES_DIR = DEFAULT_DIR.parents[1] / "styles"
PropertyType = Literal["text", "int", "float", "bool", "date", "datetime"]


def _sql(value: str) -> str:
    """SQL of the registry with its placeholders filled in."""
    return value.replace("{city_version_ids}", CITY_VERSION_IDS_SQL)


class Property(BaseModel):
    """A feature property: name, type and labels; ``vocab`` names the list its values come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: PropertyType
    label: Label
    vocab: str | None = None


class Pick(BaseModel):
    """Where a click at a point tries the layer: ``order`` (1 first) within ``tolerance_m``."""

    model_config = ConfigDict(frozen=True)

    order: int
    tolerance_m: float = 0.0


class Style(BaseModel):
    """A layer's default colouring: one ``color``, or ``property`` after the colours of ``vocab``
    (``first_of_list``: the first of a comma-separated list); ``filter``: the viewer offers a
    checkbox per vocabulary entry."""

    model_config = ConfigDict(frozen=True)

    color: str | None = None
    property: str | None = None
    vocab: str | None = None
    first_of_list: bool = False
    alpha: float = 1.0
    filter: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> Style:
        if (self.color is None) == (self.vocab is None) or (self.vocab is None) != (self.property is None):
            raise ValueError("a style gives either a color or a property with its vocab")
        return self


class Draped(BaseModel):
    """A polygon layer the viewer drapes on the ground (``order``: bottom to top)."""

    model_config = ConfigDict(frozen=True)

    order: int
    fill: str
    alpha: float
    outline: str
    width: float


class Tiles(BaseModel):
    """The 3D Tiles layer made of a layer: the tile source (``builder``), the metadata class and its
    properties, and the SQL giving ``id``, ``_wkb`` (and any ``_`` geometry inputs) and them."""

    model_config = ConfigDict(frozen=True)

    builder: str
    class_name: str
    sql: str
    version_sql: str | None = None  # a single BIM model version's elements (``bim-<version id>``)
    properties: tuple[Property, ...]
    optional: bool = False  # the viewer takes a missing tileset as empty (no model published yet)


class Importer(BaseModel):
    """How ``cim gis import --layer`` writes the layer: its table, key and required fields."""

    model_config = ConfigDict(frozen=True)

    table: str
    key: str
    required: tuple[str, ...] = ()


class Theme(BaseModel):
    """A thematic map of a layer: SQL giving (feature id, value), coloured after ``vocab``."""

    model_config = ConfigDict(frozen=True)

    name: str
    title: Label
    vocab: str
    sql: str

    @field_validator("sql")
    @classmethod
    def _filled(cls, value: str) -> str:
        return _sql(value)


class LayerStyle(BaseModel):
    """One file of ``styles/``: a layer's default colouring and its thematic maps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    style: Style | None = None
    themes: tuple[Theme, ...] = ()


class Temporal(BaseModel):
    """The properties giving a feature's time (OGC ``datetime``): an instant, or ``start`` to ``end``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start: str
    end: str | None = None


class Layer(BaseModel):
    """One layer of the city map."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    title: Label
    description: Label
    source: str  # a table name or a parenthesised select
    table: str | None = None  # the table a select source reads its features from (one row, one feature)
    id_column: str
    geometry: str  # a store-CRS geometry column, or ST_Force2D(column) of a 3D one
    properties: tuple[Property, ...]
    identifiable: bool = False
    pick: Pick | None = None
    mvt: bool = True
    underground: bool = False
    draped: Draped | None = None
    tiles: Tiles | None = None
    importer: Importer | None = None
    style: Style | None = None
    themes: tuple[Theme, ...] = ()
    temporal: Temporal | None = None
    records: str | None = None  # the kind of record (records/kinds.json) its features are: OGC Part 4 writes

    @field_validator("source")
    @classmethod
    def _filled(cls, value: str) -> str:
        return _sql(value)

    @property
    def property_types(self) -> dict[str, str]:
        return {p.name: p.type for p in self.properties}

    @property
    def from_clause(self) -> str:
        return f"{self.source} AS t"

    @property
    def base_table(self) -> str | None:
        """The table whose rows are the features: the source itself, or ``table`` for a select."""
        return self.table if self.source.startswith("(") else self.source


class Registry(BaseModel):
    """Every layer, in the order the viewer lists them."""

    notes: str = ""
    layers: tuple[Layer, ...]

    def get(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.name == name), None)

    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (a KeyError when there is none)."""
        found = self.get(name)
        if found is None:
            raise KeyError(name)
        return found

    def names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def tiled(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.tiles)

    def identifiable(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.identifiable)

    def pick_order(self) -> tuple[Layer, ...]:
        """The pickable layers in the order a click tries them."""
        return tuple(sorted((la for la in self.layers if la.pick), key=lambda la: la.pick.order))  # type: ignore[union-attr]

    def mvt(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.mvt)

    def importable(self) -> tuple[Layer, ...]:
        return tuple(layer for layer in self.layers if layer.importer)


def _tiles(raw: dict, properties: dict[str, dict]) -> dict:
    """A tiles section with its properties spelt out (a bare name takes the layer's property)."""
    props = [properties[p] if isinstance(p, str) else p for p in raw["properties"]]
    tiles = {k: v for k, v in raw.items() if k not in ("class", "sql", "version_sql", "properties")}
    version_sql = _sql(raw["version_sql"]) if raw.get("version_sql") else None
    return tiles | {
        "class_name": raw["class"],
        "sql": _sql(raw["sql"]),
        "version_sql": version_sql,
        "properties": props,
    }


def _check(registry: Registry) -> None:
    """Names are unique, vocabularies and styled properties exist."""
    names = registry.names()
    if len(set(names)) != len(names):
        raise ValueError(f"layer names repeat in the registry: {names}")
    known = vocab.vocabularies()
    for layer in registry.layers:
        props = layer.property_types | ({p.name: p.type for p in layer.tiles.properties} if layer.tiles else {})
        used = [p.vocab for p in layer.properties] + [t.vocab for t in layer.themes]
        used += [layer.style.vocab] if layer.style else []
        for name in filter(None, used):
            if name not in known:
                raise ValueError(f"layer {layer.name}: no vocabulary {name!r} (one of {', '.join(known)})")
        if layer.style and layer.style.property and layer.style.property not in props:
            raise ValueError(f"layer {layer.name}: the style colours by {layer.style.property!r}, not a property")
        if layer.id_column not in layer.property_types:
            raise ValueError(f"layer {layer.name}: the id column {layer.id_column!r} is not a property")
        timed = [layer.temporal.start, layer.temporal.end] if layer.temporal else []
        for name in filter(None, timed):
            if layer.property_types.get(name) not in ("date", "datetime"):
                raise ValueError(f"layer {layer.name}: its time {name!r} is not a date or datetime property")


def load_styles(directory: Path) -> dict[str, LayerStyle]:
    """Every ``<layer>.json`` of a styles folder (none when the folder is missing), by layer name."""
    paths = sorted(directory.glob("*.json")) if directory.is_dir() else []
    return {p.stem: LayerStyle(**json.loads(p.read_text(encoding="utf-8"))) for p in paths}


def load(directory: Path, styles_directory: Path) -> Registry:
    """The registry in ``directory/layers.json`` with the styles of ``styles_directory``, checked."""
    document = json.loads((directory / "layers.json").read_text(encoding="utf-8"))
    styles = load_styles(styles_directory)
    layers = []
    for raw in document["layers"]:
        if "style" in raw or "themes" in raw:
            raise ValueError(f"layer {raw['name']}: its style and themes belong in styles/{raw['name']}.json")
        properties = {p["name"]: p for p in raw["properties"]}
        tiles = {"tiles": _tiles(raw["tiles"], properties)} if raw.get("tiles") else {}
        style = styles.get(raw["name"], LayerStyle())
        layers.append(raw | tiles | {"style": style.style, "themes": style.themes})
    registry = Registry.model_validate({"notes": document.get("notes", ""), "layers": layers})
    strays = set(styles) - set(registry.names())
    if strays:
        raise ValueError(f"styles of no layer in {styles_directory}: {', '.join(sorted(strays))}")
    _check(registry)
    return registry


def registry_dir() -> Path:
    """The folder read: ``CIM_REGISTRY_DIR`` when set, else the one shipped here."""
    return Path(os.environ.get("CIM_REGISTRY_DIR") or DEFAULT_DIR)


def styles_dir() -> Path:
    """The styles read: ``CIM_STYLES_DIR`` when set, else the repository's ``styles/``."""
    return Path(os.environ.get("CIM_STYLES_DIR") or DEFAULT_STYLES_DIR)


@cache
def registry() -> Registry:
    """The registry of :func:`registry_dir` with the styles of :func:`styles_dir` (read once per process)."""
    return load(registry_dir(), styles_dir())
