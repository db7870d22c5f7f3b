"""A layer's legend and its 3D Tiles style (the styling language CesiumJS's ``Cesium3DTileStyle``
reads), built from the layer's style in ``styles/<layer>.json`` and the colours of the vocabulary it
names; the tile materials (``tiles.sources.materials``) come from the same legend."""

from __future__ import annotations

from pydantic import BaseModel

from core import registry, vocab
from core.errors import NotFound, UserError
from core.vocab import Label

FALLBACK_COLOUR = "#A0A0A0"  # the values of a vocabulary without "other", and its entries without a colour
FALLBACK_LABEL = Label(zh="其他", en="Other")


class LegendItem(BaseModel):
    """A colour of the layer: ``value`` the vocabulary code it is given to (null: every other value,
    or every feature of a layer of one colour)."""

    value: str | None
    label: Label
    color: str
    alpha: float


class ColorConditions(BaseModel):
    """``[test, colour]`` pairs: a feature takes the colour of the first test it passes."""

    conditions: list[tuple[str, str]]


class StyleExtras(BaseModel):
    """What the style is of (CesiumJS ignores ``extras``): the layer, the property coloured by and its
    vocabulary, the legend."""

    layer: str
    title: Label
    property: str | None
    vocab: str | None
    legend: list[LegendItem]


class TilesStyle(BaseModel):
    """A 3D Tiles style, ready for ``new Cesium.Cesium3DTileStyle(url)``."""

    color: str | ColorConditions
    show: str
    extras: StyleExtras


def legend(layer: registry.Layer) -> list[LegendItem]:
    """The colours of a styled layer: its one colour, or each coloured entry of its vocabulary (the
    entry's alpha times the style's) and last the colour of every other value."""
    style = _style(layer)
    if style.color:
        return [LegendItem(value=None, label=layer.title, color=style.color, alpha=style.alpha)]
    words = vocab.get(style.vocab or "")
    items = [
        LegendItem(value=e.code, label=e.label, color=e.color, alpha=e.alpha * style.alpha)
        for e in words.entries
        if e.color
    ]
    other = words.other
    items.append(
        LegendItem(
            value=None,
            label=other.label if other else FALLBACK_LABEL,
            color=other.color if other else FALLBACK_COLOUR,
            alpha=style.alpha,
        )
    )
    return items


def _style(layer: registry.Layer) -> registry.Style:
    if layer.style is None:
        raise NotFound(f"layer {layer.name!r} has no style; styled layers: {', '.join(styled())}")
    return layer.style


def styled() -> list[str]:
    """The layers with a style, in registry order."""
    return [layer.name for layer in registry.registry().layers if layer.style]


def _string(value: str) -> str:
    """A string literal of the styling language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _regexp(code: str) -> str:
    """A regular expression matching ``code`` as the first of a comma-separated list."""
    special = set("\\^$.|?*+()[]{}/")
    return "^" + "".join("\\" + c if c in special else c for c in code) + "(,|$)"


def _test(style: registry.Style, code: str) -> str:
    """The styling-language test that a feature's value is ``code``."""
    variable = "${" + (style.property or "") + "}"
    if style.first_of_list:
        return f"regExp({_string(_regexp(code))}).test(String({variable}))"
    return f"{variable} === {_string(code)}"


def _colour(item: LegendItem) -> str:
    return f"color({_string(item.color)}, {item.alpha:g})"


def tiles_style(name: str, hide: tuple[str, ...] = ()) -> TilesStyle:
    """The 3D Tiles style of layer ``name``; ``hide``: vocabulary codes whose features it does not
    show (a filtering style only, as the viewer's checkboxes)."""
    layer = registry.registry().get(name)
    if layer is None:
        raise NotFound(f"no layer {name!r}; styled layers: {', '.join(styled())}")
    style, items = _style(layer), legend(layer)
    if hide and not style.filter:
        raise UserError(f"layer {name!r} offers no filter; layers that do: {', '.join(_filtering())}")
    codes = vocab.codes(style.vocab) if style.vocab else ()
    unknown = [code for code in hide if code not in codes]
    if unknown:
        raise UserError(f"no {style.vocab} code {', '.join(unknown)}; one of: {', '.join(codes)}")
    if style.color:
        color: str | ColorConditions = _colour(items[0])
    else:
        conditions = [(_test(style, i.value), _colour(i)) for i in items if i.value is not None]
        color = ColorConditions(conditions=[*conditions, ("true", _colour(items[-1]))])
    show = " && ".join(f"!({_test(style, code)})" for code in dict.fromkeys(hide)) or "true"
    extras = StyleExtras(layer=name, title=layer.title, property=style.property, vocab=style.vocab, legend=items)
    return TilesStyle(color=color, show=show, extras=extras)


def _filtering() -> list[str]:
    return [layer.name for layer in registry.registry().layers if layer.style and layer.style.filter]
