"""BIM ingest: read IFC, georeference exactly, triangulate per element, store in PostGIS; drawing review."""
