"""Open an uploaded IFC safely: check the STEP header, the schema, truncation and zip bombs
before ifcopenshell parses anything.

IfcOpenShell 0.9 knows IFC2X3, IFC4 and IFC4X3_ADD2. Files declaring another IFC4X3 release
(IFC4X3, IFC4X3_RC1..4, ADD1, TC1) are read as IFC4X3_ADD2; entities that release does not know
are dropped by the parser and counted in ``lost_entities``.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import ifcopenshell

from core.errors import UserError
from core.settings import get_settings

KNOWN_SCHEMAS = ("IFC2X3", "IFC4", "IFC4X3_ADD2")
STEP_MAGIC = b"ISO-10303-21;"
STEP_END = b"END-ISO-10303-21;"
# An .ifczip member whose uncompressed size exceeds this many times its compressed size is a bomb.
MAX_ZIP_RATIO = 200
_SCHEMA_RE = re.compile(rb"FILE_SCHEMA\s*\(\s*\(\s*'([^']*)'", re.IGNORECASE)
_LOST_RE = re.compile(r"Entity with name '(\w+)' not found in schema")


class BadIfc(UserError):
    """The upload is not an IFC model IfcOpenShell can read."""

    status_code = 422


class TooLarge(UserError):
    status_code = 413


@dataclass
class OpenedIfc:
    """A parsed model and what reading it cost."""

    file: ifcopenshell.file
    declared_schema: str
    schema: str
    lost_entities: dict[str, int] = field(default_factory=dict)

    @property
    def warnings(self) -> list[str]:
        if self.declared_schema == self.schema:
            return []
        lost = ", ".join(f"{n} {name}" for name, n in sorted(self.lost_entities.items())) or "no entities"
        return [f"schema {self.declared_schema} read as {self.schema} (IfcOpenShell 0.9's IFC4X3): lost {lost}"]


def declared_schema(head: bytes) -> str:
    """The FILE_SCHEMA of a STEP header, upper case; BadIfc when there is no STEP header."""
    if not head.strip():
        raise BadIfc("the file is empty: upload an .ifc or .ifczip model")
    if not head.lstrip().startswith(STEP_MAGIC):
        raise BadIfc("not an IFC file: it has no ISO-10303-21 (STEP) header; upload an .ifc or .ifczip model")
    match = _SCHEMA_RE.search(head)
    if match is None:
        raise BadIfc("the IFC header has no FILE_SCHEMA: the file is damaged or not an IFC model")
    return match.group(1).decode("ascii", "replace").upper()


def schema_to_read(declared: str) -> str:
    """The schema IfcOpenShell reads a declared schema as; BadIfc for schemas it does not know."""
    if declared in KNOWN_SCHEMAS:
        return declared
    if declared.startswith("IFC4X3"):
        return "IFC4X3_ADD2"
    raise BadIfc(
        f"schema {declared} is not supported: IfcOpenShell 0.9 reads {', '.join(KNOWN_SCHEMAS)} (and IFC4X3 drafts)"
    )


def check_ifc(path: Path) -> str:
    """Check a plain .ifc file's header, schema and ending without parsing it; returns the declared schema."""
    with path.open("rb") as fh:
        head = fh.read(65536)
        schema = declared_schema(head)
        schema_to_read(schema)
        fh.seek(max(path.stat().st_size - 4096, 0))
        tail = fh.read()
    if STEP_END not in tail:
        raise BadIfc("the IFC file is truncated: it does not end with END-ISO-10303-21; upload the whole file")
    return schema


def check_zip(path: Path) -> zipfile.ZipInfo:
    """The one .ifc member of an .ifczip, after checking its sizes against the zip-bomb limits."""
    limit = get_settings().ifc_max_uncompressed_bytes
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise BadIfc("not an .ifczip: the file is not a zip archive") from exc
    with archive:
        members = [m for m in archive.infolist() if m.filename.lower().endswith(".ifc") and not m.is_dir()]
        if len(members) != 1:
            raise BadIfc(f"an .ifczip must hold exactly one .ifc file; this one holds {len(members)}")
        member = members[0]
    if member.file_size > limit:
        raise TooLarge(f"the .ifczip unpacks to {member.file_size} bytes, over the limit of {limit}")
    if member.file_size > MAX_ZIP_RATIO * max(member.compress_size, 1):
        raise TooLarge(
            f"the .ifczip compresses {member.file_size / max(member.compress_size, 1):.0f}:1: refused as a zip bomb"
        )
    return member


def _unzip(path: Path, member: zipfile.ZipInfo, target: Path) -> None:
    """Extract with a byte count, not trusting the sizes the archive claims."""
    limit = min(get_settings().ifc_max_uncompressed_bytes, MAX_ZIP_RATIO * max(member.compress_size, 1))
    written = 0
    with zipfile.ZipFile(path) as archive, archive.open(member) as src, target.open("wb") as dst:
        while chunk := src.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise TooLarge("the .ifczip unpacks to more than its declared size: refused as a zip bomb")
            dst.write(chunk)


def _rewrite_schema(src: Path, dst: Path, declared: str, schema: str) -> None:
    """Copy a file with its FILE_SCHEMA replaced (streamed; only the header changes)."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        head = fin.read(65536)
        fout.write(_SCHEMA_RE.sub(lambda m: m.group(0).replace(m.group(1), schema.encode()), head, count=1))
        shutil.copyfileobj(fin, fout, 1 << 20)


def is_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


def check_upload(path: Path) -> str:
    """All the checks that need no parsing (for answering an upload at once); returns the declared schema."""
    if path.stat().st_size == 0:
        raise BadIfc("the file is empty: upload an .ifc or .ifczip model")
    if not is_zip(path):
        return check_ifc(path)
    member = check_zip(path)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        plain = Path(tmp) / "model.ifc"
        _unzip(path, member, plain)
        return check_ifc(plain)


@contextmanager
def open_ifc(path: Path) -> Iterator[OpenedIfc]:
    """Check and parse an .ifc or .ifczip; temporary files live as long as the context."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no such file: {path}")
    with tempfile.TemporaryDirectory(prefix="cim-ifc-") as tmp:
        plain = path
        if path.stat().st_size and is_zip(path):
            plain = Path(tmp) / "model.ifc"
            _unzip(path, check_zip(path), plain)
        declared = check_ifc(plain)
        schema = schema_to_read(declared)
        if schema != declared:
            rewritten = Path(tmp) / "model-schema.ifc"
            _rewrite_schema(plain, rewritten, declared, schema)
            plain = rewritten
        ifcopenshell.get_log()  # drop earlier messages: the parse log below is this file's
        try:
            model = ifcopenshell.open(str(plain))
        except (RuntimeError, OSError, ifcopenshell.Error) as exc:
            raise BadIfc(f"IfcOpenShell cannot read the file: {exc}") from exc
        lost = Counter(_LOST_RE.findall(ifcopenshell.get_log()))
        yield OpenedIfc(model, declared, model.schema_identifier, dict(lost))
