"""GIS core: CRS handling, vector and DEM import, pipe and tunnel solids, the pipe network graph."""
