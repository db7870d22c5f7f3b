"""Task wiring: importing this module registers every queue task with ``core.jobs``.
The server and ``cim worker`` import it before they open the queue."""

from spatial_api import pipelines
from tiles import jobs as tiles_jobs

__all__ = ["pipelines", "tiles_jobs"]
