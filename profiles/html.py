"""Profiles as HTML: a record card (header, record, one tab per section) the viewer shows, and a
printable page around it. Values are formatted here, once: money in 万元, Chinese dates, 是/否, and
vocabulary values by their Chinese label."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from profiles.labels import labels

TEMPLATES = Path(__file__).with_name("templates")


def format_value(field: str, value: Any) -> str:
    """A value as a reader sees it, by the field's format and vocabulary in ``labels.json``."""
    if value is None or value == []:
        return "—"
    spec = labels()["fields"].get(field, {})
    kind = spec.get("format")
    vocabulary = labels()["values"].get(field, {})
    if isinstance(value, list):
        return "、".join(format_value(field, v) for v in value)
    if kind == "money":
        return f"{float(value) / 10_000:,.2f} 万元"
    if kind == "date":
        day = date.fromisoformat(str(value)[:10])
        return f"{day.year}年{day.month:02d}月{day.day:02d}日"
    if kind == "datetime":
        moment = datetime.fromisoformat(str(value))
        return f"{moment.year}年{moment.month:02d}月{moment.day:02d}日 {moment:%H:%M}"
    if kind == "bool":
        return "是" if value else "否"
    if kind == "number" and isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    if str(value) in vocabulary:
        return vocabulary[str(value)][0]
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    """The labelled columns of a section (in the rows' order); unlabelled keys are not shown."""
    fields = labels()["fields"]
    return [key for key in rows[0] if key in fields] if rows else []


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    env.globals.update(labels=labels, format_value=format_value, columns=_columns)
    return env


def card(answer: dict[str, Any]) -> str:
    """The record card (an HTML fragment)."""
    return _environment().get_template("card.html").render(p=answer, kind=labels()["kinds"][answer["kind"]])


def page(answer: dict[str, Any]) -> str:
    """The printable page (a whole HTML document)."""
    kind = labels()["kinds"][answer["kind"]]
    return _environment().get_template("page.html").render(card=card(answer), p=answer, kind=kind)
