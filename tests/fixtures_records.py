"""Test fixtures for the records tests (loaded by tests/conftest.py): codes with check characters
computed here from the standards, files in the formats a bureau sends, role tokens."""

from __future__ import annotations

import csv
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, text

from tests.fixtures_bim import _token_of

USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def uscc_for(first17: str) -> str:
    """GB 32100-2015: the check character is 31 - (weighted sum mod 31), over the 31-character set."""
    total = sum(USCC_CHARS.index(c) * w for c, w in zip(first17, USCC_WEIGHTS, strict=True))
    return first17 + USCC_CHARS[(31 - total % 31) % 31]


def id_for(first17: str) -> str:
    """GB 11643-1999: ISO 7064 MOD 11-2."""
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, ID_WEIGHTS, strict=True)) % 11]


class Codes:
    """Fresh codes for one test module: never used before in this session's database."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6].upper()
        self._n = itertools.count(1)
        self._region = int(self.tag, 16) % 900000 + 100000

    def uscc(self) -> str:
        return uscc_for(f"91{self._region:06d}{next(self._n):09d}")

    def id_number(self, born: str = "19800101") -> str:
        return id_for(f"{self._region:06d}{born}{next(self._n) % 1000:03d}")

    def code(self, prefix: str) -> str:
        return f"{prefix}-{self.tag}-{next(self._n):04d}"


@pytest.fixture(scope="module")
def codes(database: Engine) -> Iterator[Codes]:
    """The module's codes; the buildings it imported under them leave with the module, as the tile
    tests count every building in the shared session database."""
    fresh = Codes()
    yield fresh
    with database.begin() as conn:
        conn.execute(text("DELETE FROM building WHERE code LIKE :pattern"), {"pattern": f"%-{fresh.tag}-%"})


@pytest.fixture(scope="module")
def write_csv(tmp_path_factory) -> Callable[..., Path]:
    folder = tmp_path_factory.mktemp("records-files")

    def write(name: str, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
        path = folder / name
        with path.open("w", encoding=encoding, newline="") as out:
            csv.writer(out).writerows([header, *rows])
        return path

    return write


@pytest.fixture(scope="module")
def write_xlsx(tmp_path_factory) -> Callable[..., Path]:
    folder = tmp_path_factory.mktemp("records-xlsx")

    def write(name: str, header: list[str], rows: list[list]) -> Path:
        book = openpyxl.Workbook()
        sheet = book.active
        for line in [header, *rows]:
            sheet.append(line)
        path = folder / name
        book.save(path)
        return path

    return write


@pytest.fixture(scope="module")
def write_jsonl(tmp_path_factory) -> Callable[..., Path]:
    folder = tmp_path_factory.mktemp("records-jsonl")

    def write(name: str, rows: list[dict]) -> Path:
        path = folder / name
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def token_headers(database) -> Callable[[str], dict[str, str]]:
    """Bearer headers for a user of a role (the user is made in the user table; no login needed)."""
    return lambda role: _token_of(f"{role}-tester", role)


@pytest.fixture(scope="session")
def sql(database: Engine) -> Callable[..., list[dict]]:
    def run(statement: str, **params) -> list[dict]:
        with database.connect() as conn:
            return [dict(r) for r in conn.execute(text(statement), params).mappings()]

    return run


@pytest.fixture(scope="session")
def record_versions(database: Engine) -> Callable[[str, str], list[dict]]:
    """Every version of a record, oldest first (``records.history.versions``); [] for a key never on record."""
    from core.errors import NotFound
    from records import history

    def run(kind: str, key: str) -> list[dict]:
        with database.connect() as conn:
            try:
                return history.versions(conn, kind, key)
            except NotFound:
                return []

    return run
