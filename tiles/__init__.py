"""3D Tiles 1.1 from PostGIS rows: glb writer, spatial hierarchy, layer sources."""
