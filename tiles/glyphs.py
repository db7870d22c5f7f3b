"""Signed-distance-field glyphs for MapLibre labels, made on this machine from the Chinese font the
project installs (Debian's fonts-wqy-microhei, which covers CJK and Latin): a range of 256 code
points as the protobuf MapLibre's ``glyphs`` URL answers (``{fontstack}/{start}-{end}.pbf``), in the
layout node-fontnik writes (24 px glyphs, a 3 px border, 8 px radius, 0.25 cutoff). No font is
fetched from anywhere: the map draws CJK and Latin alike from these.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np
from PIL import ImageFont
from scipy.ndimage import distance_transform_edt

from core.errors import NotFound, UserError
from core.settings import get_settings

FONT_NAME = "WenQuanYi Micro Hei"
FONT_FILES = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),)
SIZE = 24
BORDER = 3
RADIUS = 8.0
CUTOFF = 0.25
ASCENDER = 24  # MapLibre places a glyph's ``top`` relative to a 24 px line's top
RANGE = 256
LAST_CODE_POINT = 0xFFFF


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, value: int | bytes) -> bytes:
    """One protobuf field: a varint (wire type 0) or length-delimited bytes (wire type 2)."""
    if isinstance(value, bytes):
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    return _varint(number << 3) + _varint(value)


def _sint(value: int) -> int:
    return (value << 1) ^ (value >> 31)


@cache
def _font() -> ImageFont.FreeTypeFont:
    path = next((p for p in FONT_FILES if p.is_file()), None)
    if path is None:
        raise NotFound(f"no label font: install Debian's fonts-wqy-microhei ({FONT_FILES[0]})")
    return ImageFont.truetype(str(path), SIZE)


def sdf(alpha: np.ndarray) -> np.ndarray:
    """The signed distance field (uint8, the border added) of a glyph's coverage (0..1): 255 deep
    inside, about 192 on the outline, falling by 255/8 a pixel outside it."""
    padded = np.pad(alpha, BORDER)
    inside = padded >= 0.5
    outside_d = distance_transform_edt(~inside) - 0.5
    inside_d = distance_transform_edt(inside) - 0.5
    signed = np.where(inside, -inside_d, outside_d)
    return np.clip(np.rint(255 - 255 * (signed / RADIUS + CUTOFF)), 0, 255).astype(np.uint8)


def glyph(code_point: int) -> bytes:
    """One glyph message: id, SDF bitmap, width, height, left, top and advance."""
    font = _font()
    char = chr(code_point)
    mask, (left, top) = font.getmask2(char, mode="L", anchor="ls")
    width, height = mask.size
    fields = [_field(1, code_point)]
    if width and height:
        alpha = np.asarray(mask, dtype=np.float32).reshape(height, width) / 255.0
        fields.append(_field(2, sdf(alpha).tobytes()))
    fields += [_field(3, width), _field(4, height), _field(5, _sint(left)), _field(6, _sint(-top - ASCENDER))]
    return b"".join([*fields, _field(7, round(font.getlength(char)))])


def parse_range(text: str) -> int:
    """The first code point of ``start-end`` (a 256-aligned range MapLibre asks for), checked."""
    try:
        start, end = (int(v) for v in text.split("-"))
    except ValueError:
        raise UserError(f"glyph range {text!r} is not start-end") from None
    if start % RANGE or end != start + RANGE - 1 or end > LAST_CODE_POINT:
        raise UserError(f"glyph range {text!r}: give a 256-aligned range such as 19968-20223, up to {LAST_CODE_POINT}")
    return start


def glyph_range(start: int, fontstack: str = FONT_NAME) -> bytes:
    """The ``glyphs`` protobuf of the code points ``start`` to ``start + 255``, made once per data
    folder (``<data_dir>/glyphs``: a CJK range takes about a second to make)."""
    path = get_settings().data_dir / "glyphs" / f"{start}.pbf"
    if path.is_file():
        return _named(path.read_bytes(), start, fontstack)
    glyphs = _make_range(start)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.part")
    partial.write_bytes(glyphs)
    partial.replace(path)
    return _named(glyphs, start, fontstack)


def _named(glyphs: bytes, start: int, fontstack: str) -> bytes:
    stack = _field(1, fontstack.encode()) + _field(2, f"{start}-{start + RANGE - 1}".encode()) + glyphs
    return _field(1, stack)


def _make_range(start: int) -> bytes:
    """The glyph messages of a range (controls and surrogates left out)."""
    codes = [c for c in range(start, start + RANGE) if c >= 32 and not 0x7F <= c < 0xA0 and not 0xD800 <= c < 0xE000]
    return b"".join(_field(3, glyph(c)) for c in codes)


def ranges_of(texts: list[str]) -> list[int]:
    """The ranges (their first code points) the characters of ``texts`` fall in."""
    return sorted({ord(c) // RANGE * RANGE for t in texts for c in t if ord(c) <= LAST_CODE_POINT})
