"""The profiles' labels (Chinese with English): kinds, sections and field formats from ``labels.json``;
coded values from the core vocabularies its ``value_vocabularies`` name (the first naming a code wins),
plus the profile-only values (validity, statuses) it lists itself."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from core import vocab

LABELS_FILE = Path(__file__).with_name("labels.json")


def _vocabulary_values(names: list[str]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for name in names:
        for term in vocab.get(name).entries:
            values.setdefault(term.code, [term.label.zh, term.label.en])
    return values


@lru_cache(maxsize=1)
def labels() -> dict[str, Any]:
    """kinds (title, record label, section order), sections, fields (zh, en, format), values (zh, en)."""
    document = json.loads(LABELS_FILE.read_text(encoding="utf-8"))
    from_vocab = {field: _vocabulary_values(names) for field, names in document.pop("value_vocabularies").items()}
    return document | {"values": from_vocab | document["values"]}
