"""Business values per feature id, for 3D Tiles styles over tiles that stay as they are: the
registry's themes (SQL giving id and value), each labelled and coloured after its own vocabulary."""

from __future__ import annotations

from sqlalchemy import Connection, text

from core import vocab
from core.errors import NotFound, UserError
from core.registry import registry


def layers() -> list[str]:
    """The layers with themes."""
    return [layer.name for layer in registry().layers if layer.themes]


def thematic(conn: Connection, layer: str, theme: str) -> dict:
    """``{layer, theme, values: {id: value or null}, legend: {value: {label: {zh, en}, color}}, unknown}``."""
    entry = registry().get(layer)
    if entry is None or not entry.themes:
        raise NotFound(f"no themes for layer {layer!r}; layers: {', '.join(layers())}")
    found = next((t for t in entry.themes if t.name == theme), None)
    if found is None:
        raise UserError(f"layer {layer!r} has no theme {theme!r}; one of: {', '.join(t.name for t in entry.themes)}")
    words = vocab.get(found.vocab)
    values = {fid: value for fid, value in conn.execute(text(found.sql))}
    unknown = (
        words.other.model_dump() if words.other else {"label": {"zh": "无记录", "en": "No record"}, "color": "#BDBDBD"}
    )
    return {"layer": layer, "theme": theme, "values": values, "legend": words.legend(), "unknown": unknown}
