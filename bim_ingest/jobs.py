"""Background tasks of this package (registered with core.jobs.task)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bim_ingest.georef import Override
from bim_ingest.ingest import ingest_file
from core import jobs


def _ingest(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
    override = None
    if params.get("override"):
        o = params["override"]
        override = Override(o["crs"], tuple(o["origin"]), float(o.get("rotation_deg") or 0.0))
    path = Path(params["path"])
    try:
        return ingest_file(
            path,
            project_code=params.get("project_code"),
            override=override,
            progress=progress,
            publish=params.get("publish", True),
            model_name=params.get("model_name"),
        )
    finally:
        path.unlink(missing_ok=True)


@jobs.task("bim.ingest")
def ingest(job_id: str) -> None:
    """Ingest an uploaded IFC file (params: path, project_code, override, model_name, publish)."""
    jobs.run(job_id, _ingest)
