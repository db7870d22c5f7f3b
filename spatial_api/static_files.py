"""Static files served from their gzip siblings (``name.gz``, made when the front end is installed)
to clients that accept gzip: CesiumJS's 6 MB are then sent as 1.7 MB with no compression per request."""

from __future__ import annotations

import mimetypes
import os
from os import PathLike

from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import Scope


class PrecompressedStaticFiles(StaticFiles):
    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        """The file's ``.gz`` sibling with ``Content-Encoding: gzip`` when there is one and the client
        accepts it (the gzip middleware leaves encoded answers alone), else the file."""
        request_headers = Headers(scope=scope)
        compressed = f"{os.fspath(full_path)}.gz"
        if "gzip" not in request_headers.get("accept-encoding", "") or not os.path.isfile(compressed):
            return super().file_response(full_path, stat_result, scope, status_code)  # Vary: from the middleware
        media_type = mimetypes.guess_type(os.fspath(full_path))[0] or "application/octet-stream"
        response = FileResponse(
            compressed,
            status_code=status_code,
            media_type=media_type,
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
