"""Background tasks of this package (registered with core.jobs.task)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import jobs


@jobs.task("records.import", rerun_if_lost=True)
def import_records(job_id: str) -> None:
    """Import an uploaded records file (params: ``path``, ``kind``, ``mapping``, ``all_or_nothing``,
    ``username``, ``file_name``); the result is the import summary. The upload is removed after."""
    from records.importer import import_file

    def work(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
        path = Path(params["path"])
        try:
            summary = import_file(
                path,
                params["kind"],
                mapping=params.get("mapping"),
                all_or_nothing=params.get("all_or_nothing", False),
                username=params.get("username"),
                progress=progress,
            )
        finally:
            path.unlink(missing_ok=True)
        return summary | {"file": params.get("file_name", summary["file"])}

    jobs.run(job_id, work)
