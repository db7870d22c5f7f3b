"""Column mappings: a file's headers (e.g. the 四库一平台 export names) -> the fields of a kind."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

MAPPINGS_DIR = Path(__file__).with_name("mappings")
DEFAULT = "siku"


@dataclass(frozen=True)
class Mapping:
    name: str
    kinds: dict[str, dict[str, str]]  # kind -> header -> field

    def columns(self, kind: str, headers: list[str], fields: set[str]) -> tuple[dict[str, str], list[str]]:
        """header -> field for the headers this kind knows (a field's own name always maps to itself),
        and the headers it ignores."""
        known = self.kinds.get(kind, {})
        mapped, ignored = {}, []
        for header in headers:
            name = known.get(header, header if header in fields else None)
            if name is None or name not in fields:
                ignored.append(header)
            else:
                mapped[header] = name
        return mapped, ignored

    def labels(self) -> dict[str, dict[str, str]]:
        """kind -> field -> the first header that maps to it (the field's name in this mapping's files)."""
        out: dict[str, dict[str, str]] = {}
        for kind, headers in self.kinds.items():
            for header, name in headers.items():
                out.setdefault(kind, {}).setdefault(name, header)
        return out


def shipped(name: str) -> str:
    """A shipped mapping's name, or a UserError (uploads may not name files on the server)."""
    names = sorted(p.stem for p in MAPPINGS_DIR.glob("*.json"))
    if name not in names:
        raise UserError(f"no shipped mapping {name!r}: use one of {', '.join(names)}")
    return name


def load_mapping(name_or_path: str | Path | None = None) -> Mapping:
    """A shipped mapping by name (``siku``) or a JSON file of the same shape."""
    path = Path(name_or_path) if name_or_path else MAPPINGS_DIR / f"{DEFAULT}.json"
    if not path.suffix:
        path = MAPPINGS_DIR / f"{path}.json"
    if not path.is_file():
        shipped = ", ".join(p.stem for p in MAPPINGS_DIR.glob("*.json"))
        raise UserError(f"mapping {name_or_path} not found: give a JSON file or one of {shipped}")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return Mapping(raw.get("name", path.stem), {k: dict(v) for k, v in raw["kinds"].items()})
    except (json.JSONDecodeError, KeyError, AttributeError, TypeError) as exc:
        raise UserError(f"mapping {path.name} is not a mapping: a JSON object with kinds -> header -> field") from exc
