"""The domain vocabularies: one JSON file per list (utilities, grades, stages, kinds...) in this
folder, or in the folder ``CIM_VOCAB_DIR`` names. Each gives codes with Chinese and English
labels, colours where the list is drawn, and the CHECK constraints (table, column) that must hold
exactly its codes.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

DEFAULT_DIR = Path(__file__).resolve().parent


class Label(BaseModel):
    """A label in Chinese and English."""

    model_config = ConfigDict(frozen=True)

    zh: str
    en: str


class Term(BaseModel):
    """One code of a vocabulary; utilities add a cover depth and a GB 50289 clearance class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    label: Label
    color: str | None = None
    alpha: float = 1.0
    cover_depth_m: float | None = None
    clearance_class: str | None = None
    aliases: tuple[str, ...] = ()  # other spellings files use (e.g. the 四库 exports' short names)


class Other(BaseModel):
    """How values outside the list (or missing) are labelled and drawn."""

    model_config = ConfigDict(frozen=True)

    label: Label
    color: str


class Check(BaseModel):
    """A CHECK constraint ``column IN (codes)`` on a table."""

    model_config = ConfigDict(frozen=True)

    table: str
    column: str


class Clearances(BaseModel):
    """GB 50289 clear distances as (class, class, metres) rows."""

    notes: str = ""
    horizontal_m: list[tuple[str, str, float]]
    vertical_m: list[tuple[str, str, float]]


class Vocabulary(BaseModel):
    """A domain list with its title, entries in order, fallback and CHECK constraints."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: Label
    entries: list[Term]
    other: Other | None = None
    checks: list[Check] = []
    notes: str = ""
    clearances_gb50289: Clearances | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(e.code for e in self.entries)

    def term(self, code: str) -> Term | None:
        return next((e for e in self.entries if e.code == code), None)

    def legend(self) -> dict[str, dict[str, object]]:
        """``{code: {label: {zh, en}, color}}`` of the coloured entries."""
        return {e.code: {"label": e.label.model_dump(), "color": e.color} for e in self.entries if e.color}


def vocab_dir() -> Path:
    """The folder read: ``CIM_VOCAB_DIR`` when set, else the one shipped here."""
    return Path(os.environ.get("CIM_VOCAB_DIR") or DEFAULT_DIR)


def load(directory: Path) -> dict[str, Vocabulary]:
    """Every ``*.json`` of a folder as a vocabulary named after its file."""
    out = {}
    for path in sorted(directory.glob("*.json")):
        out[path.stem] = Vocabulary(name=path.stem, **json.loads(path.read_text(encoding="utf-8")))
    return out


@cache
def vocabularies() -> dict[str, Vocabulary]:
    """The vocabularies of :func:`vocab_dir` (read once per process)."""
    return load(vocab_dir())


def get(name: str) -> Vocabulary:
    """One vocabulary by name (``utilities``, ``grades_credit``...)."""
    return vocabularies()[name]


def codes(name: str) -> tuple[str, ...]:
    """The codes of a vocabulary, in order."""
    return get(name).codes
