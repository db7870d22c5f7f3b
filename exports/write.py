"""Writers: rows in batches to CSV (UTF-8 with BOM, for Excel), XLSX (openpyxl write-only: rows go
to disk as they come) or GeoPackage (pyogrio, appended batch by batch). Geometry arrives as CRS84
WKB in the ``_wkb`` column: a GeoPackage stores it (as EPSG:4326, x = longitude), CSV and XLSX get
its WKT."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import shapely

from core.errors import UserError
from exports.labels import GEOMETRY

FORMATS = ("csv", "xlsx", "gpkg")
XLSX_CELL_MAX = 32_767


class Writer(Protocol):
    one_header_row: bool  # a GeoPackage names each column once

    def sheet(self, name: str, columns: list[str], headers: list[list[str]]) -> None: ...
    def rows(self, batch: Sequence[Sequence[Any]]) -> None: ...
    def close(self) -> None: ...


PLAIN_TYPES = (str, int, float, bool, type(None))


def _plain(value: Any) -> Any:
    """A value every format takes: numbers as float, dates as ISO text, lists joined."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return str(value)
    return value


def _wkt(column: Sequence[Any]) -> list[str | None]:
    geoms = shapely.from_wkb(np.array([None if v is None else bytes(v) for v in column], dtype=object))
    return shapely.to_wkt(geoms, rounding_precision=8).tolist()


def _columns(names: list[str], batch: Sequence[Sequence[Any]], wkt: bool) -> list[list[Any]]:
    """A batch column by column, each made plain (a column is converted only when it needs it);
    the geometry as WKT when ``wkt``, else as WKB bytes."""
    out = []
    for name, column in zip(names, zip(*batch, strict=True), strict=True):
        if name == GEOMETRY:
            out.append(_wkt(column) if wkt else [None if v is None else bytes(v) for v in column])
        elif all(type(v) in PLAIN_TYPES for v in column):
            out.append(list(column))
        else:
            out.append([_plain(v) for v in column])
    return out


class CsvWriter:
    one_header_row = False

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", newline="", encoding="utf-8-sig")
        self._csv = csv.writer(self._file)
        self._columns: list[str] = []
        self._sheets = 0

    def sheet(self, name: str, columns: list[str], headers: list[list[str]]) -> None:
        self._sheets += 1
        if self._sheets > 1:
            raise UserError("CSV holds one table: export this to xlsx, which has a sheet for each")
        self._columns = columns
        self._csv.writerows(headers)

    def rows(self, batch: Sequence[Sequence[Any]]) -> None:
        if batch:
            self._csv.writerows(zip(*_columns(self._columns, batch, wkt=True), strict=True))

    def close(self) -> None:
        self._file.close()


class XlsxWriter:
    one_header_row = False

    def __init__(self, path: Path) -> None:
        self._path = path
        self._book = openpyxl.Workbook(write_only=True)
        self._sheet: Any = None  # an openpyxl write-only sheet (openpyxl has no type hints)
        self._columns: list[str] = []

    def sheet(self, name: str, columns: list[str], headers: list[list[str]]) -> None:
        self._sheet = self._book.create_sheet(title=name[:31])
        self._columns = columns
        self._sheet.freeze_panes = f"A{len(headers) + 1}"
        for row in headers:
            self._sheet.append(row)

    def rows(self, batch: Sequence[Sequence[Any]]) -> None:
        if not batch:
            return
        columns = _columns(self._columns, batch, wkt=True)
        if GEOMETRY in self._columns:
            # A cell holds at most 32,767 characters: the GeoPackage keeps larger shapes.
            at = self._columns.index(GEOMETRY)
            columns[at] = [None if w is not None and len(w) > XLSX_CELL_MAX else w for w in columns[at]]
        append = self._sheet.append
        for row in zip(*columns, strict=True):
            append(row)

    def close(self) -> None:
        self._book.save(self._path)


class GpkgWriter:
    one_header_row = True

    def __init__(self, path: Path) -> None:
        self._path = path
        self._layer = ""
        self._columns: list[str] = []
        self._names: list[str] = []
        self._written: set[str] = set()

    def sheet(self, name: str, columns: list[str], headers: list[list[str]]) -> None:
        self._layer, self._columns, self._names = name, columns, headers[0]

    def rows(self, batch: Sequence[Sequence[Any]]) -> None:
        if not batch:
            return
        values = _columns(self._columns, batch, wkt=False)
        wkb = values[self._columns.index(GEOMETRY)] if GEOMETRY in self._columns else None
        data = {n: v for n, c, v in zip(self._names, self._columns, values, strict=True) if c != GEOMETRY}
        frame = pd.DataFrame(data)
        if wkb is not None:
            frame = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries.from_wkb(wkb, crs="EPSG:4326"))
        append = self._layer in self._written
        pyogrio.write_dataframe(frame, self._path, layer=self._layer, driver="GPKG", append=append)
        self._written.add(self._layer)

    def close(self) -> None:
        """Nothing to flush: each batch is written when it comes."""


WRITERS: dict[str, type] = {"csv": CsvWriter, "xlsx": XlsxWriter, "gpkg": GpkgWriter}


def writer(fmt: str, path: Path) -> Writer:
    if fmt not in WRITERS:
        raise UserError(f"unknown export format {fmt!r}: use {', '.join(FORMATS)}")
    return WRITERS[fmt](path)
