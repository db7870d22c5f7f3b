"""Task wiring: importing this module registers every package's queue tasks with ``core.jobs``.
The server and ``cim worker`` import it before they open the queue."""

from bim_ingest import jobs as bim_jobs
from bim_ingest.review import jobs as review_jobs
from credit import jobs as credit_jobs
from records import jobs as records_jobs
from tiles import jobs as tiles_jobs

__all__ = ["bim_jobs", "credit_jobs", "records_jobs", "review_jobs", "tiles_jobs"]
