"""Read a records file: CSV (UTF-8 or GB18030, detected), XLSX (the first sheet) or JSON Lines, as
rows of header -> raw value, each with its row number in the file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openpyxl

from core.errors import UserError

FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


@dataclass
class Source:
    name: str
    format: str
    encoding: str | None
    headers: list[str]
    rows: list[tuple[int, dict[str, object]]]  # (row number in the file, header -> value)


def _decode(data: bytes) -> tuple[str, str]:
    """UTF-8 (with or without BOM) when the bytes are valid UTF-8, else GB18030 (a superset of GBK/GB2312)."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise UserError("the CSV is neither UTF-8 nor GB18030: save it in one of these encodings") from exc


def _csv(data: bytes) -> tuple[str, list[str], list[tuple[int, dict[str, object]]]]:
    body, encoding = _decode(data)
    try:
        dialect = csv.Sniffer().sniff(body[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(body), dialect)
    headers = [h.strip() for h in next(reader, [])]
    rows = []
    for values in reader:
        if any(v.strip() for v in values):
            rows.append((reader.line_num, dict(zip(headers, values, strict=False))))
    return encoding, headers, rows


def _xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError or its own errors on a broken file
        raise UserError(f"{path.name} is not a readable XLSX workbook ({type(exc).__name__})") from exc
    try:
        sheet = book.worksheets[0]
        lines: Iterator[tuple] = sheet.iter_rows(values_only=True)
        headers = [str(h).strip() if h is not None else "" for h in next(lines, ())]
        rows = []
        for number, values in enumerate(lines, start=2):
            if any(v not in (None, "") for v in values):
                rows.append((number, dict(zip(headers, values, strict=False))))
        return headers, rows
    finally:
        book.close()


def _jsonl(data: bytes) -> tuple[list[str], list[tuple[int, dict[str, object]]]]:
    body, _ = _decode(data)
    headers: dict[str, None] = {}
    rows = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"line {number} is not JSON ({exc.msg}): give one JSON object per line") from exc
        if not isinstance(row, dict):
            raise UserError(f"line {number} is not a JSON object: give one object per line")
        headers.update(dict.fromkeys(row))
        rows.append((number, row))
    return list(headers), rows


def read(path: str | Path) -> Source:
    """The file's rows; the format from the suffix (.csv, .xlsx, .jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path.name}: use a .csv, .xlsx or .jsonl file")
    encoding = None
    if fmt == "csv":
        encoding, headers, rows = _csv(path.read_bytes())
    elif fmt == "xlsx":
        headers, rows = _xlsx(path)
    else:
        headers, rows = _jsonl(path.read_bytes())
    return Source(path.name, fmt, encoding, headers, rows)
