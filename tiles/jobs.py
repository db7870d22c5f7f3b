"""Background tasks of this package (registered with core.jobs.task). Each runs in a spawned process
of its own (its native calls cannot starve the worker's heartbeat; it forks its mesh pool)."""

from __future__ import annotations

from functools import partial
from typing import Any

from core import jobs


def _layer(params: dict[str, Any]) -> str:
    return str(params["layer"])


@jobs.task("tiles.build", rerun_if_lost=True, serial=_layer)
def build(job_id: str) -> None:
    """Rebuild one layer's tileset (params: ``layer``, optional ``formats``: glb, b3dm or both); a large
    layer by parts (``tiles.part`` jobs), see tiles.parts. A layer's builds run one at a time, in order
    of submission (a build handed on to parts until its last part ends), and never beside one outside the
    queue (``tiles.build.holding``), so the tileset a build writes is never older than the one before
    it, and builds never share leaf files or part folders. So a lost build is run again: one lost before
    it handed on left leaves (written atomically) its rerun checks again and a part folder its rerun
    writes anew; one lost after is finished by its parts."""
    from tiles import parts

    jobs.run(job_id, partial(parts.build, job_id), own_process=True)


@jobs.task("tiles.part", rerun_if_lost=True)
def part(job_id: str) -> None:
    """One part of a layer's tileset (params: ``layer``, ``build``: the layer's job, ``part``): its
    leaves written atomically, so a part lost with its worker is run again."""
    from tiles import parts

    jobs.run(job_id, partial(parts.part, job_id), own_process=True)
