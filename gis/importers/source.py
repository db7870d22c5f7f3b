"""Read a vector file (GeoJSON, GeoPackage, Shapefile) and bring its geometry into the store CRS."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import ProjError

from core.errors import UserError
from gis.crs import parse_crs, store_crs, transform_columns, transformer

SUFFIXES = {".geojson", ".json", ".gpkg", ".shp", ".zip"}


@dataclass
class Source:
    name: str
    crs: str  # the source CRS as EPSG:n or its name
    properties: list[dict]
    geometry: np.ndarray  # shapely geometries in the store CRS (2D), None where the row had none


def read_source(path: str | Path, crs: str | None = None) -> Source:
    """Rows and store-CRS geometry of a vector file; ``crs`` overrides the file's CRS (required when it has none)."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"no such file: {path}")
    if path.suffix.lower() not in SUFFIXES:
        raise UserError(f"{path.name}: give a GeoJSON, GeoPackage or Shapefile ({', '.join(sorted(SUFFIXES))})")
    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise UserError(f"cannot read {path.name}: {exc}") from exc
    if crs:
        source_crs = parse_crs(crs)
    elif frame.crs is not None:
        source_crs = CRS.from_user_input(frame.crs)
    else:
        raise UserError(f"{path.name} says nothing about its CRS: pass --crs EPSG:n")
    if source_crs.is_compound:
        source_crs = source_crs.sub_crs_list[0]
    geometry = np.asarray(frame.geometry.values, dtype=object)
    to_store = transformer(source_crs, store_crs())

    def project(coords: np.ndarray) -> np.ndarray:
        return transform_columns(to_store, coords[:, 0], coords[:, 1], errcheck=True)

    present = np.array([g is not None for g in geometry], dtype=bool)
    flat = shapely.force_2d(geometry[present].astype(object))
    try:
        geometry[present] = shapely.transform(flat, project)
    except ProjError as exc:
        raise UserError(
            f"{path.name}: coordinates do not transform from {source_crs.name} to the store CRS ({exc})"
        ) from exc
    properties = frame.drop(columns=frame.geometry.name).to_dict(orient="records")
    label = f"EPSG:{source_crs.to_epsg()}" if source_crs.to_epsg() else source_crs.name
    return Source(path.name, label, properties, geometry)
