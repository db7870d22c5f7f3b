"""CQL2 filters (OGC API Features Part 3) to SQL: the text or JSON encoding parsed by pygeofilter
into an AST, the AST written as a SQL condition over a registry layer (alias ``t``).

Safe by construction: an attribute must be one of the layer's queryables (its registry properties or
``geometry``), every literal is a bound parameter, and anything else (an unknown property, a function
the API does not offer, SQL text) is a 400. Geometry literals are in ``filter-crs`` (CRS84 unless
given) and are projected to the store CRS, so the spatial operators use the GiST index."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from itertools import count
from typing import Any

from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json
from pygeofilter.parsers.cql2_text import parse as parse_text

from core.errors import UserError
from core.layers import geom_sql, overlaps_sql
from core.ogc import crs as crs_
from core.registry import Layer

LANGUAGES = ("cql2-text", "cql2-json", "cql-text")  # cql-text: the draft's name, which GDAL sends
GEOMETRY = "geometry"

_COMPARISONS = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
_SPATIAL = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}
_INDEXED = (ast.GeometryIntersects, ast.GeometryContains, ast.GeometryWithin, ast.GeometryTouches,
            ast.GeometryCrosses, ast.GeometryOverlaps, ast.GeometryEquals)  # fmt: skip
_ARITHMETIC = {ast.Add: "+", ast.Sub: "-", ast.Mul: "*", ast.Div: "/"}
_FUNCTIONS = {"lower": "lower", "upper": "upper", "casei": "lower", "accenti": ""}
# CQL2 (OGC 21-065) writes temporal operators as functions, T_AFTER(a, b); pygeofilter 0.4's text
# grammar takes the older infix form ``a T_AFTER b``: the function form is rewritten to it first.
_TEMPORAL_CALL = re.compile(r"\bT_[A-Z]+\s*\(", re.I)
_QUOTED = re.compile(r"'(?:[^']|'')*'")
# CQL2 writes a quote inside a string as two; pygeofilter 0.4's lexer ends the string at the first:
# the pair stands in as a private-use character until the value is bound.
_QUOTE = "\ue000"


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """The top-level comma-separated arguments of the call whose '(' is at ``start``, and the index
    after its ')'."""
    depth, args, begin, i = 0, [], start + 1, start
    while i < len(text):
        char = text[i]
        if char == "'":
            i = text.index("'", i + 1) if "'" in text[i + 1 :] else len(text)
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(text[begin:i].strip())
                return args, i + 1
        elif char == "," and depth == 1:
            args.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    raise UserError("filter: a parenthesis is not closed")


def _infix_temporal(text: str) -> str:
    """``T_OP(a, b)`` rewritten ``(a T_OP b)``, innermost calls too."""
    while match := next((m for m in _TEMPORAL_CALL.finditer(text) if not _in_quotes(text, m.start())), None):
        args, end = _split_args(text, match.end() - 1)
        if len(args) != 2:
            raise UserError(f"filter: {match[0][:-1].strip()} takes two arguments")
        name = match[0][:-1].strip().upper()
        text = f"{text[: match.start()]}({args[0]} {name} {args[1]}){text[end:]}"
    return _open_intervals(text)


def _in_quotes(text: str, index: int) -> bool:
    return any(m.start() < index < m.end() for m in _QUOTED.finditer(text))


_INTERVAL = re.compile(r"INTERVAL\s*\(\s*'([^']*)'\s*,\s*'([^']*)'\s*\)", re.I)
_OPEN = {0: "0001-01-01T00:00:00Z", 1: "9999-12-31T23:59:59Z"}


def _open_intervals(text: str) -> str:
    """INTERVAL bounds as pygeofilter's grammar takes them: dates as midnight UTC, '..' as open."""

    def bound(value: str, end: int) -> str:
        if value in ("..", ""):
            return _OPEN[end]
        return f"{value}T00:00:00Z" if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else value

    return _INTERVAL.sub(lambda m: f"INTERVAL('{bound(m[1], 0)}','{bound(m[2], 1)}')", text)


def parse(text: str, language: str | None) -> ast.Node:
    """A CQL2 filter in ``language`` (cql2-text unless given) as pygeofilter's AST, or a 400."""
    language = language or "cql2-text"
    if language not in LANGUAGES:
        raise UserError(f"filter-lang {language!r} is not offered; use one of: {', '.join(LANGUAGES)}")
    try:
        if language == "cql2-json":
            return parse_json(json.loads(text))
        # GDAL's cql-text is the comparisons, AND/OR/NOT, LIKE and IS NULL that CQL2 text kept
        escaped = _QUOTED.sub(lambda m: "'" + m[0][1:-1].replace("''", _QUOTE) + "'", text)
        return parse_text(_infix_temporal(escaped))
    except UserError:
        raise
    except Exception as exc:  # lark and json errors: the client's filter is wrong, say where
        reason = str(exc).splitlines()[0][:200]
        raise UserError(f"filter is not valid {language}: {reason}") from None


class Translator:
    """Writes one filter's AST as SQL over ``layer``, collecting its bound parameters."""

    def __init__(self, layer: Layer, filter_crs: crs_.Crs, prefix: str = "f") -> None:
        self.layer, self.filter_crs = layer, filter_crs
        self.params: dict[str, Any] = {}
        self._names = (f"{prefix}{i}" for i in count())
        self._types = layer.property_types

    def sql(self, node: ast.Node) -> str:
        handler = self._handlers().get(type(node))
        if handler is not None:
            return handler(node)
        if isinstance(node, ast.Comparison):
            return f"({self.value(node.lhs)} {_COMPARISONS[type(node)]} {self.value(node.rhs)})"
        if isinstance(node, ast.SpatialComparisonPredicate):
            return self._spatial(node)
        if isinstance(node, ast.TemporalPredicate):
            return self._temporal(node)
        raise UserError(f"filter: {type(node).__name__} is not supported here")

    def _handlers(self) -> dict[type, Callable[[Any], str]]:
        return {
            ast.And: lambda n: f"({self.sql(n.lhs)} AND {self.sql(n.rhs)})",
            ast.Or: lambda n: f"({self.sql(n.lhs)} OR {self.sql(n.rhs)})",
            ast.Not: lambda n: f"(NOT {self.sql(n.sub_node)})",
            ast.Between: lambda n: (
                f"({self.value(n.lhs)} {'NOT ' if n.not_ else ''}BETWEEN {self.value(n.low)} AND {self.value(n.high)})"
            ),
            ast.In: lambda n: (
                f"({self.value(n.lhs)} {'NOT ' if n.not_ else ''}IN ({', '.join(self.value(v) for v in n.sub_nodes)}))"
            ),
            ast.IsNull: lambda n: f"({self.value(n.lhs)} IS {'NOT ' if n.not_ else ''}NULL)",
            ast.Like: self._like,
            ast.BBox: lambda n: self._spatial_sql(
                "ST_Intersects", n.lhs, values.Envelope(n.minx, n.maxx, n.miny, n.maxy), indexed=True
            ),
            ast.Include: lambda n: "FALSE" if n.not_ else "TRUE",
        }

    def _bind(self, value: object) -> str:
        if isinstance(value, str):
            value = value.replace(_QUOTE, "'")
        name = next(self._names)
        self.params[name] = value
        return f":{name}"

    def attribute(self, name: str) -> str:
        if name not in self._types:
            known = ", ".join([GEOMETRY, *self._types])
            raise UserError(f"filter: {name!r} is not a queryable of {self.layer.name}; queryables: {known}")
        return f"t.{name}"

    def value(self, node: object) -> str:
        """SQL of a scalar operand: a queryable, a bound literal, arithmetic or an offered function."""
        if isinstance(node, ast.Attribute):
            if node.name == GEOMETRY:
                raise UserError("filter: the geometry can only be used in spatial operators")
            return self.attribute(node.name)
        if isinstance(node, bool | int | float | str | date | datetime):
            return self._bind(node)
        if isinstance(node, ast.Arithmetic):
            return f"({self.value(node.lhs)} {_ARITHMETIC[type(node)]} {self.value(node.rhs)})"
        if isinstance(node, ast.Function) and node.name.lower() in _FUNCTIONS and len(node.arguments) == 1:
            inner = self.value(node.arguments[0])
            function = _FUNCTIONS[node.name.lower()]
            return f"{function}({inner})" if function else inner
        if node is None:
            raise UserError("filter: compare with NULL through IS NULL")
        raise UserError(f"filter: {type(node).__name__} is not supported as a value")

    def _like(self, node: ast.Like) -> str:
        pattern = node.pattern
        if node.wildcard != "%" or node.singlechar not in ("_", "."):
            raise UserError("filter: LIKE takes % and _ as wildcards")
        if node.singlechar == ".":  # pygeofilter's default: CQL2 has _ only, so a '.' is a dot
            pattern = pattern.replace("\\", "\\\\")
        operator = "ILIKE" if node.nocase else "LIKE"
        return f"({self.value(node.lhs)} {'NOT ' if node.not_ else ''}{operator} {self._bind(pattern)})"

    def _geometry(self, node: object) -> str:
        """SQL of a geometry operand: the layer's geometry or a literal in filter-crs, in the store CRS."""
        if isinstance(node, ast.Attribute):
            if node.name != GEOMETRY:
                raise UserError(f"filter: {node.name!r} is not a geometry; the geometry queryable is {GEOMETRY!r}")
            return geom_sql(self.layer)
        if isinstance(node, values.Envelope):
            corners = ", ".join(self._bind(float(v)) for v in (node.x1, node.y1, node.x2, node.y2))
            return crs_.to_store_sql(f"ST_MakeEnvelope({corners})", self.filter_crs)
        if isinstance(node, values.Geometry):
            geojson = {k: v for k, v in node.geometry.items() if k != "crs"}
            literal = f"ST_Force2D(ST_GeomFromGeoJSON({self._bind(json.dumps(geojson))}))"
            return crs_.to_store_sql(literal, self.filter_crs)
        if isinstance(node, ast.Function) and node.name.lower() == "bbox" and len(node.arguments) == 4:
            minx, miny, maxx, maxy = node.arguments
            return self._geometry(values.Envelope(minx, maxx, miny, maxy))
        raise UserError(f"filter: {type(node).__name__} is not a geometry")

    def _spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        return self._spatial_sql(_SPATIAL[type(node)], node.lhs, node.rhs, indexed=isinstance(node, _INDEXED))

    def _spatial_sql(self, function: str, lhs: object, rhs: object, indexed: bool) -> str:
        left, right = self._geometry(lhs), self._geometry(rhs)
        test = f"{function}({left}, {right})"
        own = geom_sql(self.layer)
        if indexed and left == own and right != own:  # the GiST index finds the candidates first
            return f"({overlaps_sql(self.layer, right)} AND {test})"
        return f"({test})"

    def _temporal(self, node: ast.TemporalPredicate) -> str:
        if not isinstance(node.lhs, ast.Attribute) or self._types.get(node.lhs.name) not in ("date", "datetime"):
            dated = [n for n, t in self._types.items() if t in ("date", "datetime")]
            raise UserError(
                f"filter: temporal operators compare a date or time property ({', '.join(dated) or 'none here'}) "
                "with a DATE, TIMESTAMP or INTERVAL"
            )
        column = self.attribute(node.lhs.name)
        start, end = self._bounds(node.rhs, as_dates=self._types[node.lhs.name] == "date")
        conditions = {
            ast.TimeAfter: f"{column} > {end}",
            ast.TimeBefore: f"{column} < {start}",
            ast.TimeDuring: f"({column} > {start} AND {column} < {end})",
            ast.TimeOverlaps: f"({column} >= {start} AND {column} <= {end})",  # T_INTERSECTS
            ast.TimeEquals: f"({column} >= {start} AND {column} <= {end})",
            ast.TimeDisjoint: f"NOT ({column} >= {start} AND {column} <= {end})",
        }
        if type(node) not in conditions:
            offered = "T_AFTER, T_BEFORE, T_DURING, T_INTERSECTS, T_EQUALS, T_DISJOINT"
            raise UserError(f"filter: {node.op.value} is not offered; temporal operators: {offered}")
        return f"({conditions[type(node)]})"

    def _bounds(self, node: object, as_dates: bool) -> tuple[str, str]:
        """Bound SQL of the first and last moment (or day, for a date property) a DATE, TIMESTAMP or
        INTERVAL covers; a date is a UTC day, an open bound is far away."""
        if isinstance(node, values.Interval):
            low, high = _moment(node.start, first=True), _moment(node.end, first=False)
        elif isinstance(node, date):
            low, high = _moment(node, first=True), _moment(node, first=False)
        else:
            raise UserError("filter: a temporal operator needs a DATE, TIMESTAMP or INTERVAL")
        if as_dates:
            return self._bind(low.astimezone(UTC).date()), self._bind(high.astimezone(UTC).date())
        return self._bind(low), self._bind(high)


def _moment(value: object, first: bool) -> datetime:
    """A date as its first or last moment (UTC), a datetime as given, an open bound far away."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        start = datetime.combine(value, time(), tzinfo=UTC)
        return start if first else start + timedelta(days=1) - timedelta(microseconds=1)
    return datetime.min.replace(tzinfo=UTC) if first else datetime.max.replace(tzinfo=UTC)


def to_sql(layer: Layer, node: ast.Node, filter_crs: crs_.Crs) -> tuple[str, dict[str, Any]]:
    """The filter as a SQL condition over ``layer`` (alias ``t``) and its parameters."""
    translator = Translator(layer, filter_crs)
    return translator.sql(node), translator.params
