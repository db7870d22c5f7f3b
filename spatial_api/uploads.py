"""Receive a multipart upload by streaming its file part to disk with a size limit (the body is
never held in memory, and an oversized upload is cut off as soon as it passes the limit)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from bim_ingest.source import TooLarge
from core.errors import UserError

MAX_FIELD_BYTES = 4096
SUFFIXES = (".ifc", ".ifczip")


class BadUpload(UserError):
    status_code = 415


class MalformedUpload(UserError):
    """A multipart body that cannot be parsed."""


def safe_filename(name: str | None, default: str, max_chars: int = 80) -> str:
    """A client's file name fit to store: its last path part, letters, digits, CJK and ._- only, no
    leading dots, at most ``max_chars`` (240 bytes in UTF-8; the extension kept); ``default`` when nothing is left."""
    base = re.sub(r"[^\w.\-]", "_", (name or "").replace("\\", "/").rsplit("/", 1)[-1]).lstrip(".")
    if len(base) > max_chars:
        stem, dot, suffix = base.rpartition(".")
        base = stem[: max_chars - len(suffix) - 1] + dot + suffix if dot and len(suffix) < 16 else base[:max_chars]
    return base or default


class _Receiver:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory, self.max_bytes = directory, max_bytes
        self.fields: dict[str, str] = {}
        self.path: Path | None = None
        self.filename: str | None = None
        self.size = 0
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self._name: str | None = None
        self._file = None
        self._data = bytearray()

    def on_part_begin(self) -> None:
        self._headers, self._name, self._data = {}, None, bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self._headers[self._field.lower()] = self._value
        self._field, self._value = b"", b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        if filename is None:
            return
        if self._file is not None:
            raise BadUpload("send one file per upload")
        self.filename = Path(filename.decode("utf-8", "replace")).name
        suffix = Path(self.filename).suffix.lower()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / f"{uuid.uuid4().hex}{suffix if suffix in SUFFIXES else '.upload'}"
        self._file = self.path.open("wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None and not self._file.closed:
            self.size += end - start
            if self.size > self.max_bytes:
                raise TooLarge(f"the upload is over the limit of {self.max_bytes} bytes")
            self._file.write(data[start:end])
            return
        self._data += data[start:end]
        if len(self._data) > MAX_FIELD_BYTES:
            raise BadUpload(f"form field {self._name!r} is over {MAX_FIELD_BYTES} bytes")

    def on_part_end(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        elif self._name:
            self.fields[self._name] = self._data.decode("utf-8", "replace").strip()

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


async def receive_file(request: Request, directory: Path, max_bytes: int) -> tuple[Path, str, dict[str, str]]:
    """Stream a multipart/form-data body: the file part to ``directory``, the small fields to a dict.

    Returns (stored path, the client's file name, fields). TooLarge (413) past ``max_bytes``.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadUpload("send the model as multipart/form-data with a 'file' field")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes + 64 * 1024:
        raise TooLarge(f"the upload ({declared} bytes) is over the limit of {max_bytes} bytes")
    receiver = _Receiver(directory, max_bytes)
    callbacks = {name: getattr(receiver, name) for name in dir(receiver) if name.startswith("on_")}
    parser = MultipartParser(params[b"boundary"], callbacks)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        receiver.discard()
        raise MalformedUpload(
            f"the multipart body is malformed ({exc}): send it as a browser or curl -F would"
        ) from None
    except BaseException:
        receiver.discard()
        raise
    if receiver.path is None or receiver.filename is None:
        receiver.discard()
        raise BadUpload("the form has no file: send the model in a 'file' field")
    return receiver.path, receiver.filename, receiver.fields
