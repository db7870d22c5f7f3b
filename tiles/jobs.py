"""Background tasks of this package (registered on spatial_api.jobs.tasks)."""
