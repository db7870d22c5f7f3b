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
        """The file's ``.gz`` sibling with ``Content-Encoding: gzip`` when there is one, as new as
        the file, and the client accepts gzip (the gzip middleware leaves encoded answers alone);
        else the file."""
        request_headers = Headers(scope=scope)
        compressed = f"{os.fspath(full_path)}.gz"
        try:
            compressed_stat = os.stat(compressed)
        except OSError:
            compressed_stat = None
        if (
            compressed_stat is None
            or compressed_stat.st_mtime < stat_result.st_mtime
            or "gzip" not in request_headers.get("accept-encoding", "")  # as the gzip middleware reads it
        ):
            return super().file_response(full_path, stat_result, scope, status_code)  # Vary: from the middleware
        response = FileResponse(
            compressed,
            status_code=status_code,
            stat_result=compressed_stat,
            media_type=mimetypes.guess_type(os.fspath(full_path))[0] or "application/octet-stream",
            headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"},
        )
        if self.is_not_modified(response.headers, request_headers):
            return NotModifiedResponse(response.headers)
        return response
