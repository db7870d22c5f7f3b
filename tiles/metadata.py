"""EXT_structural_metadata: property types after the registry's property types, and binary
property tables (numbers little-endian, strings with UINT32 offsets, booleans as bitstreams) that
hold every column their class declares (noData where a value is missing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np

# The registry's property types (core.registry.PropertyType) to the metadata type.
REGISTRY_TYPES: dict[str, str] = {
    "text": "STRING",
    "date": "STRING",
    "datetime": "STRING",
    "bool": "BOOLEAN",
    "int": "INT32",
    "float": "FLOAT64",
}
NUMPY = {"INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "FLOAT32": "<f4", "FLOAT64": "<f8"}
# Values that stand for NULL (a property is optional unless it is the id).
NO_DATA = {
    "INT16": -32768,
    "INT32": -2147483648,
    "INT64": -9223372036854775808,
    "FLOAT32": -3.4028234663852886e38,
    "FLOAT64": -1.7976931348623157e308,
    "STRING": "",
}


@dataclass(frozen=True)
class Column:
    """A property column: its name and metadata type (``STRING``, ``BOOLEAN`` or a number)."""

    name: str
    type: str

    def schema(self) -> dict[str, Any]:
        if self.type in ("STRING", "BOOLEAN"):
            out: dict[str, Any] = {"type": self.type}
        else:
            out = {"type": "SCALAR", "componentType": self.type}
        if self.name == "id":
            out["required"] = True
        elif self.type != "BOOLEAN":
            out["noData"] = NO_DATA[self.type]
        return out


def column_for(name: str, registry_type: str) -> Column:
    """The metadata column of a property of the registry (text and dates are strings)."""
    return Column(name, REGISTRY_TYPES[registry_type])


def class_schema(class_name: str, columns: list[Column]) -> dict[str, Any]:
    return {"id": f"cim_{class_name}", "classes": {class_name: {"properties": {c.name: c.schema() for c in columns}}}}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)


class PropertyTable:
    """A layer's property columns, encoded once; tiles take their rows by index."""

    def __init__(self, columns: list[Column], values: dict[str, list[Any]]) -> None:
        self.columns = columns
        self._null = {c.name: np.array([v is None for v in values[c.name]], bool) for c in columns}
        self._data: dict[str, Any] = {}
        for c in columns:
            vals = values[c.name]
            if c.type == "STRING":
                texts = vals if set(map(type, vals)) <= {str} else [_text(v) for v in vals]
                encoded = np.empty(len(vals), dtype=object)
                encoded[:] = list(map(str.encode, texts))
                self._data[c.name] = (encoded, np.fromiter(map(len, encoded), np.int64, len(encoded)))
            elif c.type == "BOOLEAN":
                self._data[c.name] = np.array([bool(v) for v in vals], bool)
            else:
                no_data = NO_DATA[c.type]
                self._data[c.name] = np.array([no_data if v is None else v for v in vals], dtype=NUMPY[c.type])

    def json_values(self, column: Column, idx: np.ndarray) -> list[Any]:
        """One property of rows ``idx`` as JSON values (a 3D Tiles 1.0 batch table), NULL as None."""
        null = self._null[column.name][idx]
        data = self._data[column.name]
        if column.type == "STRING":
            values: list[Any] = [b.decode() for b in data[0][idx]]
        else:
            values = data[idx].tolist()
        return [None if n else v for v, n in zip(values, null.tolist(), strict=True)]

    def buffers(self, column: Column, idx: np.ndarray) -> list[bytes]:
        """The buffers of one property for rows ``idx``: ``[values]``, or ``[values, offsets]`` for
        strings (``values`` empty when every string is: noData)."""
        data = self._data[column.name]
        if column.type == "STRING":
            encoded, lengths = data
            offsets = np.zeros(len(idx) + 1, "<u4")
            offsets[1:] = np.cumsum(lengths[idx])
            return [b"".join(encoded[idx]), offsets.tobytes()]
        if column.type == "BOOLEAN":
            return [np.packbits(data[idx], bitorder="little").tobytes()]
        return [data[idx].tobytes()]
