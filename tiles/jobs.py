"""Background tasks of this package (registered with core.jobs.task)."""

from __future__ import annotations

from typing import Any

from core import jobs


@jobs.task("tiles.build")
def build(job_id: str) -> None:
    """Rebuild one layer's tileset (params: ``layer``, optional ``formats``: glb, b3dm or both)."""
    from tiles.build import build_layer

    def work(params: dict[str, Any], progress: jobs.Progress) -> dict[str, Any]:
        return build_layer(params["layer"], progress, formats=params.get("formats", "glb"))

    jobs.run(job_id, work)
