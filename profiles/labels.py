"""The profiles' labels (Chinese with English), field formats and value vocabularies: ``labels.json``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

LABELS_FILE = Path(__file__).with_name("labels.json")


@lru_cache(maxsize=1)
def labels() -> dict[str, Any]:
    """kinds (title, record label, section order), sections, fields (zh, en, format), values (zh, en)."""
    return json.loads(LABELS_FILE.read_text(encoding="utf-8"))
