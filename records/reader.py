"""Read a records file: CSV (UTF-8 or GB18030, detected), XLSX (the first sheet) or JSON Lines, as
rows of header -> raw value, each with its row number in the file, streamed (never all in memory)."""

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
Rows = Iterator[tuple[int, dict[str, object]]]  # (row number in the file, header -> value)


@dataclass
class Source:
    name: str
    format: str
    encoding: str | None
    headers: list[str]
    rows: Rows
    estimated_rows: int  # for progress


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


def _csv(body: str) -> tuple[list[str], Rows]:
    try:
        dialect = csv.Sniffer().sniff(body[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(body), dialect)
    headers = [h.strip() for h in next(reader, [])]

    def rows() -> Rows:
        for values in reader:
            if any(v.strip() for v in values):
                yield reader.line_num, dict(zip(headers, values, strict=False))

    return headers, rows()


def _xlsx(path: Path) -> tuple[list[str], Rows, int]:
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError or its own errors on a broken file
        raise UserError(f"{path.name} is not a readable XLSX workbook ({type(exc).__name__})") from exc
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    headers = [str(h).strip() if h is not None else "" for h in next(lines, ())]

    def rows() -> Rows:
        try:
            for number, values in enumerate(lines, start=2):
                if any(v not in (None, "") for v in values):
                    yield number, dict(zip(headers, values, strict=False))
        finally:
            book.close()

    return headers, rows(), (sheet.max_row or 1) - 1


def _json_lines(body: str) -> Rows:
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"line {number} is not JSON ({exc.msg}): give one JSON object per line") from exc
        if not isinstance(row, dict):
            raise UserError(f"line {number} is not a JSON object: give one object per line")
        yield number, row


def read(path: str | Path) -> Source:
    """The file's rows as a stream; the format from the suffix (.csv, .xlsx, .jsonl)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UserError(f"{path.name}: use a .csv, .xlsx or .jsonl file")
    if fmt == "xlsx":
        headers, rows, estimate = _xlsx(path)
        return Source(path.name, fmt, None, headers, rows, estimate)
    body, encoding = _decode(path.read_bytes())
    estimate = body.count("\n")
    if fmt == "csv":
        headers, rows = _csv(body)
        return Source(path.name, fmt, encoding, headers, rows, estimate)
    # JSON Lines: one pass for the keys (the headers), the rows streamed on a second
    headers = list(dict.fromkeys(key for _, row in _json_lines(body) for key in row))
    return Source(path.name, fmt, encoding, headers, _json_lines(body), estimate)
