"""The registry of layers and the vocabularies, as one answer for the viewer and other clients."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from core import vocab
from core.registry import Draped, Pick, Property, Style, registry
from core.vocab import Label, Other, Term
from spatial_api.security import is_public

router = APIRouter(tags=["layers"])


class TilesOut(BaseModel):
    """The layer's 3D Tiles: its tileset is ``/api/v1/tiles/{name}/tileset.json``."""

    class_name: str
    properties: list[Property]
    optional: bool


class ThemeOut(BaseModel):
    """A thematic map: ``/api/v1/thematic/{layer}?theme={name}``, coloured after ``vocab``."""

    name: str
    title: Label
    vocab: str


class LayerOut(BaseModel):
    """One layer of the registry (its SQL stays on the server)."""

    name: str
    title: Label
    description: Label
    id_column: str
    properties: list[Property]
    identifiable: bool
    pick: Pick | None
    mvt: bool
    underground: bool
    draped: Draped | None
    tiles: TilesOut | None
    importable: bool
    style: Style | None
    themes: list[ThemeOut]
    public: bool = Field(False, description="readable without logging in (the deployment's public layers)")


class VocabularyOut(BaseModel):
    """A domain list: codes with labels (and colours where it is drawn)."""

    title: Label
    entries: list[Term]
    other: Other | None


class LayersOut(BaseModel):
    """Every layer in the order the viewer lists them, and every vocabulary by name."""

    layers: list[LayerOut]
    vocabularies: dict[str, VocabularyOut]


@cache
def _answer() -> LayersOut:
    layers = [
        LayerOut(
            **layer.model_dump(include={"name", "title", "description", "id_column", "properties", "identifiable"}),
            pick=layer.pick,
            mvt=layer.mvt,
            underground=layer.underground,
            draped=layer.draped,
            tiles=TilesOut(**layer.tiles.model_dump(include={"class_name", "properties", "optional"}))
            if layer.tiles
            else None,
            importable=layer.importer is not None,
            style=layer.style,
            themes=[ThemeOut(**t.model_dump(include={"name", "title", "vocab"})) for t in layer.themes],
        )
        for layer in registry().layers
    ]
    vocabularies = {
        name: VocabularyOut(title=v.title, entries=v.entries, other=v.other) for name, v in vocab.vocabularies().items()
    }
    return LayersOut(layers=layers, vocabularies=vocabularies)


@router.get("/layers", response_model=LayersOut)
def layers(response: Response) -> LayersOut:
    """The layers of the city map (names, labels, properties, whether each is tiled, draped,
    underground, identifiable, its style and themes) and the vocabularies their values come from."""
    response.headers["Cache-Control"] = "public, max-age=300"
    answer = _answer()
    return answer.model_copy(
        update={"layers": [layer.model_copy(update={"public": is_public(layer.name)}) for layer in answer.layers]}
    )
