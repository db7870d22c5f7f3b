"""Bulk export (Exchange out): a query's rows to CSV, XLSX or GeoPackage as a job with progress."""
