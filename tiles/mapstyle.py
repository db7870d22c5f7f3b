"""The 2D map's MapLibre style (style specification v8), made from the layer registry and
``styles/<layer>.json``: one vector source per coloured layer through its TileJSON (feature ids
promoted from ``id``), its fills, lines and points coloured as the 3D viewer colours them (the same
legend, :func:`tiles.styles.legend`), the draped ground layers in their drape colours, and labels
from the city's own layers: road names along the roads, project names and building addresses. The
glyphs are made by :mod:`tiles.glyphs` on this server; the legend is the style's ``metadata``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from core.registry import Layer, registry
from core.vocab import Label
from tiles.glyphs import FONT_NAME
from tiles.styles import LegendItem, legend
from tiles.tilejson import ID_FIELD

STYLE_VERSION = 8
BACKGROUND = "#F4F1EA"
LABEL_COLOUR = "#333333"
HALO_COLOUR = "#FFFFFF"
POLYGONS = ["Polygon", "MultiPolygon"]
LINES = ["LineString", "MultiLineString"]
POINTS = ["Point", "MultiPoint"]
LEGEND_KEY = "cim:legend"


class LayerLegend(BaseModel):
    """A layer of the 2D map and its colours (as in the 3D viewer's legend)."""

    layer: str
    title: Label
    underground: bool
    items: list[LegendItem]


class Label2D(BaseModel):
    """A symbol layer of names: ``property`` of ``layer`` from zoom ``minzoom``, along lines or at points."""

    layer: str
    property: str
    minzoom: int
    along_line: bool = False
    size: int = 13


# The names the basemap writes, from the city's own layers (the layer and property must exist).
LABELS = (
    Label2D(layer="roads", property="name", minzoom=13, along_line=True, size=14),
    Label2D(layer="projects", property="name", minzoom=14),
    Label2D(layer="buildings", property="address", minzoom=17, size=11),
)


class MapStyle(BaseModel):
    """A MapLibre style document (``new maplibregl.Map({style: url})``)."""

    version: int = STYLE_VERSION
    name: str
    metadata: dict[str, Any] = Field(description=f"``{LEGEND_KEY}``: the legend of every layer drawn")
    sources: dict[str, dict[str, Any]]
    glyphs: str
    layers: list[dict[str, Any]]


def drawn_layers() -> list[Layer]:
    """The vector-tile layers the 2D map draws: those with a colour (a style or a drape), the draped
    ground layers first in their drape order, then the others in registry order."""
    coloured = [la for la in registry().mvt() if la.style or la.draped]
    draped = sorted((la for la in coloured if la.draped), key=lambda la: la.draped.order)  # type: ignore[union-attr]
    return draped + [la for la in coloured if not la.draped]


def layer_legend(layer: Layer) -> LayerLegend:
    """A drawn layer's legend: its style's, or its drape colour."""
    if layer.style:
        items = legend(layer)
    else:
        drape = layer.draped
        assert drape is not None
        items = [LegendItem(value=None, label=layer.title, color=drape.fill, alpha=drape.alpha)]
    return LayerLegend(layer=layer.name, title=layer.title, underground=layer.underground, items=items)


def _value(layer: Layer) -> list:
    """The expression of the value a layer is coloured by (the first of a list for ``first_of_list``)."""
    style = layer.style
    assert style is not None and style.property is not None
    value = ["to-string", ["get", style.property]]
    if not style.first_of_list:
        return value
    return ["slice", value, 0, ["index-of", ",", ["concat", value, ","]]]


def _paint(layer: Layer, items: list[LegendItem], attribute: str) -> Any:
    """A colour (``attribute`` "color") or opacity ("alpha") expression over the legend's items."""
    if len(items) == 1:
        return getattr(items[0], attribute)
    coded = [x for i in items if i.value is not None for x in (i.value, getattr(i, attribute))]
    return ["match", _value(layer), *coded, getattr(items[-1], attribute)]


def _geometry(kinds: list[str]) -> list:
    return ["in", ["geometry-type"], ["literal", kinds]]


def _draw(layer: Layer) -> list[dict[str, Any]]:
    """The fill, outline, line and circle layers of one source."""
    items = layer_legend(layer).items
    colour, alpha = _paint(layer, items, "color"), _paint(layer, items, "alpha")
    outline = layer.draped.outline if layer.draped else colour
    base = {"source": layer.name, "source-layer": layer.name, "metadata": {"cim:layer": layer.name}}
    return [
        base
        | {
            "id": f"{layer.name}-fill",
            "type": "fill",
            "filter": _geometry(POLYGONS),
            "paint": {"fill-color": colour, "fill-opacity": alpha},
        },
        base
        | {
            "id": f"{layer.name}-outline",
            "type": "line",
            "filter": _geometry(POLYGONS),
            "paint": {"line-color": outline, "line-width": layer.draped.width if layer.draped else 0.5},
        },
        base
        | {
            "id": f"{layer.name}-line",
            "type": "line",
            "filter": _geometry(LINES),
            "layout": {"line-cap": "round", "line-join": "round"},
            "paint": {
                "line-color": colour,
                "line-opacity": alpha,
                "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1, 18, 4],
            },
        },
        base
        | {
            "id": f"{layer.name}-circle",
            "type": "circle",
            "filter": _geometry(POINTS),
            "paint": {
                "circle-color": colour,
                "circle-opacity": alpha,
                "circle-radius": ["interpolate", ["linear"], ["zoom"], 12, 1.5, 18, 5],
                "circle-stroke-color": HALO_COLOUR,
                "circle-stroke-width": 0.5,
            },
        },
    ]


def _label(label: Label2D) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "text-field": ["to-string", ["get", label.property]],
        "text-font": [FONT_NAME],
        "text-size": label.size,
        "symbol-placement": "line" if label.along_line else "point",
    }
    if label.along_line:
        layout |= {"text-max-angle": 30, "symbol-spacing": 300}
    return {
        "id": f"{label.layer}-label-{label.property}",
        "type": "symbol",
        "source": label.layer,
        "source-layer": label.layer,
        "minzoom": label.minzoom,
        "filter": ["has", label.property],
        "layout": layout,
        "paint": {"text-color": LABEL_COLOUR, "text-halo-color": HALO_COLOUR, "text-halo-width": 1.5},
        "metadata": {"cim:layer": label.layer},
    }


def map_style(api_base: str) -> MapStyle:
    """The style with its sources and glyphs under ``api_base`` (the absolute ``/api/v1`` URL)."""
    drawn = drawn_layers()
    names = {la.name for la in drawn}
    sources = {
        la.name: {"type": "vector", "url": f"{api_base}/mvt/{la.name}/tilejson.json", "promoteId": ID_FIELD}
        for la in drawn
    }
    layers: list[dict[str, Any]] = [
        {"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}
    ]
    for la in drawn:
        layers += _draw(la)
    for label in LABELS:
        if label.layer in names and label.property in registry().layer(label.layer).property_types:
            layers.append(_label(label))
    return MapStyle(
        name="CIM 城市底图 City basemap",
        metadata={LEGEND_KEY: [layer_legend(la).model_dump() for la in drawn]},
        sources=sources,
        glyphs=f"{api_base}/maps/fonts/{{fontstack}}/{{range}}.pbf",
        layers=layers,
    )
