"""Georeferencing of an IFC model: find how its local coordinates map to the earth, transform
every vertex exactly with pyproj, and report what was found.

Local coordinates are the iterator's world coordinates in metres. Methods, in order:

- ``IfcMapConversion`` (IFC4, IFC4X3): map = (E, N) + k·R(θ)·(x, y), height = H + z, where
  θ = atan2(XAxisOrdinate, XAxisAbscissa) and k = Scale / project unit (map units per metre).
  Scale converts project length units to map units (IFC4 ADD2). Files get the units wrong:
  Eastings/Northings written in the project unit, Scale omitted, or a Scale that inverts the unit
  conversion. Every reading is tried and judged by evidence: it must land inside the map CRS's
  area of use (origin and the model's extent), then the nearest to IfcSite's lat/lon and the
  closest to the plain unit conversion wins; a reading other than the file's literal one is
  reported, and a file no reading places inside the area of use is refused.
- ``ePSet_MapConversion`` / ``ePSet_ProjectedCRS`` (IFC2X3, on IfcProject or IfcSite): the same.
- ``IfcSite`` RefLatitude/RefLongitude/RefElevation: a local east-north-up frame at the site's
  placement, turned by the context's TrueNorth, taken to ECEF by PROJ's topocentric conversion.
- an explicit override (CRS, origin E,N,H in map units, rotation of the local x axis from grid
  east, counter-clockwise) which replaces whatever the file says.

Without any of these the model cannot be placed on the city map: :class:`NoGeoreferencing`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import ifcopenshell
import ifcopenshell.util.element
import ifcopenshell.util.placement
import ifcopenshell.util.unit
import numpy as np
import pyproj
from pyproj import CRS, Transformer
from pyproj.crs import CompoundCRS

from core.errors import UserError
from core.settings import get_settings
from gis.crs import (
    ECEF,
    GEOGRAPHIC_3D,
    parse_crs,
    pinned_transformer,
    store_crs,
    store_crs_3d,
    transform_columns,
    transformer,
)

WGS84 = CRS.from_epsg(4326)
RESIDUAL_WARN_M = 1.0
# A reading of a map conversion may land this far (degrees) outside its CRS's area of use: the
# zones' edges are conventions, a unit mistake lands hundreds of kilometres off.
AREA_MARGIN_DEG = 1.0
# Placements sampled for the model's extent when judging a map conversion's Scale.
EXTENT_SAMPLE = 500
# An OrthogonalHeight beyond this (metres) was written in the project unit.
MAX_HEIGHT_M = 10_000.0
LARGE_LOCAL_M = 100_000.0


class NoGeoreferencing(UserError):
    status_code = 422


@dataclass(frozen=True)
class Override:
    """A user's placement: CRS, origin (E, N in map units, H orthometric metres), rotation in degrees."""

    crs: str
    origin: tuple[float, float, float]
    rotation_deg: float = 0.0

    def as_params(self) -> dict[str, Any]:
        """The placement as a job's JSON parameters (read back by :meth:`from_params`)."""
        return {"crs": self.crs, "origin": list(self.origin), "rotation_deg": self.rotation_deg}

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> Override | None:
        """The placement a job's parameters hold, if any."""
        if not params:
            return None
        east, north, height = (float(v) for v in params["origin"])
        return cls(params["crs"], (east, north, height), float(params.get("rotation_deg") or 0.0))


def parse_override(crs: str | None, origin: str | None, rotation: float | None) -> Override | None:
    """A placement from the command line or an upload form: all or nothing of CRS and E,N,H origin
    (rotation only with them); None when neither CRS nor origin is given."""
    if crs is None and origin is None:
        if rotation:
            raise UserError("--rotation needs --crs and --origin")
        return None
    if crs is None or origin is None:
        raise UserError("give both --crs EPSG:n and --origin E,N,H to place a model by hand")
    try:
        east, north, height = (float(v) for v in origin.split(","))
    except ValueError as exc:
        raise UserError(f"--origin {origin!r} is not E,N,H (three numbers separated by commas)") from exc
    return Override(crs, (east, north, height), rotation or 0.0)


@dataclass
class Georef:
    """How local metres become coordinates of ``source_crs`` (map CRS with heights, or ECEF)."""

    method: str
    source_crs: CRS
    report: dict[str, Any]
    # map frame: origin, rotation, map units per local metre
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    theta: float = 0.0
    k: float = 1.0
    # topocentric frame (IfcSite): ENU -> ECEF pipeline, applied after rotating about the site point
    topocentric: Transformer | None = None
    site_local: np.ndarray = field(default_factory=lambda: np.zeros(3))
    _transformers: dict[str, Transformer] = field(default_factory=dict, repr=False, compare=False)

    def to_source(self, xyz: np.ndarray) -> np.ndarray:
        """Local metres (n, 3) to ``source_crs`` coordinates (n, 3)."""
        c, s = math.cos(self.theta), math.sin(self.theta)
        if self.topocentric is not None:
            d = xyz - self.site_local
            east, north = c * d[:, 0] - s * d[:, 1], s * d[:, 0] + c * d[:, 1]
            return transform_columns(self.topocentric, east, north, d[:, 2])
        x = self.origin[0] + self.k * (c * xyz[:, 0] - s * xyz[:, 1])
        y = self.origin[1] + self.k * (s * xyz[:, 0] + c * xyz[:, 1])
        return np.column_stack((x, y, self.origin[2] + xyz[:, 2]))

    def _transformer(self, target: CRS) -> Transformer:
        """gis.crs's pinned transformer (PROJ's best operation, searched once per machine), kept
        here too: looking it up hashes both CRSs' definitions."""
        key = target.srs
        found = self._transformers.get(key)
        if found is None:
            found = self._transformers[key] = pinned_transformer(self.source_crs.srs, target.srs)
        return found

    def to_store(self, xyz: np.ndarray) -> np.ndarray:
        """Local metres to the store CRS with orthometric heights."""
        src = self.to_source(xyz)
        return transform_columns(self._transformer(store_crs_3d()), *src.T)

    def to_ecef(self, xyz: np.ndarray) -> np.ndarray:
        """Local metres to ECEF (EPSG:4978), straight from the model's own CRS."""
        src = self.to_source(xyz)
        if self.source_crs == ECEF:
            return src
        return transform_columns(self._transformer(ECEF), *src.T)

    def to_lonlat_h(self, xyz: np.ndarray) -> np.ndarray:
        """Local metres to lon, lat, ellipsoidal height (EPSG:4979)."""
        ecef = self.to_ecef(xyz)
        return transform_columns(transformer(ECEF, GEOGRAPHIC_3D), *ecef.T)


def _dms(value: Any) -> float | None:
    """IfcCompoundPlaneAngleMeasure (deg, min, sec, millionths) to decimal degrees."""
    if not value:
        return None
    parts = [*value, 0, 0, 0][:4]
    return parts[0] + parts[1] / 60 + (parts[2] + parts[3] / 1e6) / 3600


def _vertical_crs(name: str | None, warnings: list[str]) -> CRS:
    if name:
        try:
            vertical = parse_crs(name)
            if vertical.is_vertical:
                return vertical
        except UserError:
            pass
    srid = get_settings().store_vertical_srid
    warnings.append(f"vertical datum {name or 'not given'}: heights taken as EPSG:{srid} orthometric")
    return CRS.from_epsg(srid)


def _map_crs(name: str | None, vertical: str | None, warnings: list[str]) -> tuple[CRS, CRS]:
    """The horizontal map CRS and the 3D CRS its coordinates with heights are in."""
    if not name:
        raise UserError("the model's projected CRS has no name: give --crs EPSG:n")
    horizontal = parse_crs(name)
    if horizontal.is_compound:
        return horizontal.sub_crs_list[0], horizontal
    if not horizontal.is_projected:
        raise UserError(f"the model's map CRS {name} is not projected: give a projected --crs EPSG:n")
    return horizontal, CompoundCRS(f"{horizontal.name} + height", [horizontal, _vertical_crs(vertical, warnings)])


def _map_unit_m(crs: CRS) -> float:
    return float(crs.axis_info[0].unit_conversion_factor)


@dataclass
class _MapConversion:
    source: str
    crs_name: str | None
    vertical: str | None
    eastings: float
    northings: float
    height: float
    abscissa: float
    ordinate: float
    scale: float | None


def _ifc_map_conversion(model: ifcopenshell.file) -> list[_MapConversion]:
    if model.schema == "IFC2X3":
        return []
    found = []
    for op in model.by_type("IfcMapConversion"):
        target = op.TargetCRS
        found.append(
            _MapConversion(
                "IfcMapConversion",
                getattr(target, "Name", None),
                getattr(target, "VerticalDatum", None),
                float(op.Eastings),
                float(op.Northings),
                float(op.OrthogonalHeight),
                float(op.XAxisAbscissa if op.XAxisAbscissa is not None else 1.0),
                float(op.XAxisOrdinate if op.XAxisOrdinate is not None else 0.0),
                None if op.Scale is None else float(op.Scale),
            )
        )
    return found


def _epset_map_conversion(model: ifcopenshell.file) -> list[_MapConversion]:
    found = []
    for holder in model.by_type("IfcProject") + model.by_type("IfcSite"):
        psets = ifcopenshell.util.element.get_psets(holder)
        conv = psets.get("ePSet_MapConversion")
        if not conv:
            continue
        crs = psets.get("ePSet_ProjectedCRS", {})
        found.append(
            _MapConversion(
                f"ePSet_MapConversion on {holder.is_a()}",
                crs.get("Name"),
                crs.get("VerticalDatum"),
                float(conv.get("Eastings", 0.0)),
                float(conv.get("Northings", 0.0)),
                float(conv.get("OrthogonalHeight", 0.0)),
                float(conv.get("XAxisAbscissa", 1.0)),
                float(conv.get("XAxisOrdinate", 0.0)),
                None if conv.get("Scale") is None else float(conv["Scale"]),
            )
        )
    return found


@dataclass
class _Site:
    lon: float
    lat: float
    elevation: float
    local: np.ndarray  # the site placement's origin, local metres


def _site(model: ifcopenshell.file, unit: float) -> _Site | None:
    for site in model.by_type("IfcSite"):
        lat, lon = _dms(site.RefLatitude), _dms(site.RefLongitude)
        if lat is None or lon is None:
            continue
        local = np.zeros(3)
        if site.ObjectPlacement is not None:
            local = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)[:3, 3] * unit
        return _Site(lon, lat, float(site.RefElevation or 0.0) * unit, local)
    return None


def _true_north_rad(model: ifcopenshell.file) -> float:
    """Angle turning local axes to east-north-up (counter-clockwise), from the model context's TrueNorth."""
    for context in model.by_type("IfcGeometricRepresentationContext"):
        if context.is_a("IfcGeometricRepresentationSubContext") or context.ContextType != "Model":
            continue
        if context.TrueNorth is not None:
            a, b = context.TrueNorth.DirectionRatios[:2]
            return math.atan2(a, b)
    return 0.0


def _residual_m(g: Georef, site: _Site, map_crs: CRS) -> float:
    """Horizontal distance between the site point by the map conversion and by IfcSite lat/lon, metres."""
    e, n = transformer(WGS84, map_crs).transform(site.lon, site.lat)
    placed = g.to_source(site.local[None, :])[0]
    return math.hypot(placed[0] - e, placed[1] - n) * _map_unit_m(map_crs)


@dataclass
class _Reading:
    """One way of reading a map conversion's numbers: where its origin and extent land."""

    label: str
    scale: float  # project length unit -> map unit
    georef: Georef
    inside: bool
    residual: float | None
    lonlat: tuple[float, float]

    def describe(self) -> str:
        where = f"origin at {self.lonlat[0]:.5f}°E {self.lonlat[1]:.5f}°N"
        fit = "inside" if self.inside else "outside"
        near = f", {self.residual:.1f} m from IfcSite" if self.residual is not None else ""
        return f"{self.label} → {where}, the model {fit} the CRS's area of use{near}"


def _local_extent(model: ifcopenshell.file, unit: float) -> np.ndarray:
    """The local origin and the corners of where the model's storeys and first elements are placed
    (local metres): what a wrong Scale would throw out of the map CRS's area of use."""
    points = [np.zeros(3)]
    products = model.by_type("IfcBuildingStorey") + model.by_type("IfcElement")[:EXTENT_SAMPLE]
    for product in products:
        if product.ObjectPlacement is not None:
            points.append(ifcopenshell.util.placement.get_local_placement(product.ObjectPlacement)[:3, 3] * unit)
    xyz = np.asarray(points)
    (x0, y0, _), (x1, y1, _) = xyz.min(axis=0), xyz.max(axis=0)
    return np.array([[0.0, 0.0, 0.0], [x0, y0, 0.0], [x1, y0, 0.0], [x1, y1, 0.0], [x0, y1, 0.0]])


def _inside_area_of_use(lonlat: np.ndarray, crs: CRS) -> bool:
    area = crs.area_of_use
    if area is None:
        return True
    west, south, east, north = area.bounds
    m = AREA_MARGIN_DEG
    lon, lat = lonlat[:, 0], lonlat[:, 1]
    return bool(
        np.isfinite(lonlat).all()
        and ((lon >= west - m) & (lon <= east + m) & (lat >= south - m) & (lat <= north + m)).all()
    )


def _scale_readings(mc: _MapConversion, nominal: float) -> list[tuple[str, float]]:
    """Scales (project unit -> map unit) to try: the file's, and the unit mistakes tools make."""
    if mc.scale is None:
        readings = [(f"Scale omitted, unit-converted {nominal:g}", nominal), ("Scale omitted, literal 1", 1.0)]
    else:
        readings = [(f"Scale {mc.scale:g} as given", mc.scale)]
        if mc.scale != 0:
            readings.append((f"Scale {mc.scale:g} inverted to {1 / mc.scale:g}", 1 / mc.scale))
        readings.append((f"Scale {mc.scale:g} times the unit conversion = {mc.scale * nominal:g}", mc.scale * nominal))
    unique: dict[float, str] = {}
    for label, scale in readings:
        if scale > 0:
            unique.setdefault(round(scale, 15), label)
    return [(label, scale) for scale, label in unique.items()]


def _from_map_conversion(
    mc: _MapConversion, unit: float, site: _Site | None, extent: np.ndarray, warnings: list[str]
) -> Georef:
    """The reading of the map conversion that lands inside the map CRS's area of use, nearest to
    IfcSite's lat/lon and closest to the plain unit conversion; UserError when none lands inside."""
    map_crs, source = _map_crs(mc.crs_name, mc.vertical, warnings)
    theta = math.atan2(mc.ordinate, mc.abscissa)
    map_unit = _map_unit_m(map_crs)
    nominal = unit / map_unit
    origins = [("E/N in map units", 1.0)]
    if not math.isclose(unit, map_unit, rel_tol=1e-9):
        origins.append((f"E/N in project units (× {nominal:g})", nominal))
    height = mc.height if abs(mc.height * map_unit) <= MAX_HEIGHT_M else mc.height * nominal
    if height != mc.height:
        warnings.append(f"OrthogonalHeight {mc.height:g} is no height on earth: read in project units as {height:g}")
    to_lonlat = transformer(map_crs, WGS84)
    readings: list[_Reading] = []
    for origin_label, factor in origins:
        origin = (mc.eastings * factor, mc.northings * factor, height)
        for scale_label, scale in _scale_readings(mc, nominal):
            g = Georef(mc.source, source, {}, origin=origin, theta=theta, k=scale / unit)
            placed = g.to_source(extent)
            lonlat = np.column_stack(to_lonlat.transform(placed[:, 0], placed[:, 1]))
            residual = _residual_m(g, site, map_crs) if site else None
            label = f"{origin_label}, {scale_label}"
            inside = _inside_area_of_use(lonlat, map_crs)
            readings.append(_Reading(label, scale, g, inside, residual, (float(lonlat[0, 0]), float(lonlat[0, 1]))))

    def rank(item: tuple[int, _Reading]) -> tuple:
        i, r = item
        return (
            not r.inside,
            round(r.residual, 2) if r.residual is not None else 0.0,
            abs(math.log(r.scale / nominal)),
            i,
        )

    _, chosen = min(enumerate(readings), key=rank)
    tried = "; ".join(r.describe() for r in readings)
    if not chosen.inside and len(readings) > 1:
        raise UserError(
            f"the map conversion ({mc.source}, {_crs_label(map_crs)}) places the model outside the CRS's area of "
            f"use in every reading tried: {tried}. Correct Eastings/Northings/Scale or give --crs/--origin"
        )
    if chosen is not readings[0]:
        warnings.append(
            f"map conversion in the wrong unit: read as {chosen.label} (inside {_crs_label(map_crs)}'s area of use"
            + (", nearest to IfcSite" if chosen.residual is not None else "")
            + f", closest to the unit conversion); readings tried: {tried}"
        )
    elif mc.scale is None and len(_scale_readings(mc, nominal)) > 1:
        warnings.append(
            f"ambiguous units: Scale omitted, project unit {unit} m, map unit {map_unit} m; "
            f"used Scale {chosen.scale:g}, the reading that agrees with IfcSite"
            + (
                f" (residual {chosen.residual:.3f} m)"
                if chosen.residual is not None
                else " (no IfcSite lat/lon to confirm)"
            )
        )
    g, residual = chosen.georef, chosen.residual
    if residual is not None and residual > RESIDUAL_WARN_M:
        warnings.append(f"the map conversion and IfcSite lat/lon disagree by {residual:.2f} m")
    g.report = {
        "crs": _crs_label(map_crs),
        "vertical_crs": _crs_label(source.sub_crs_list[1]) if source.is_compound else None,
        "origin_map": list(g.origin),
        "rotation_deg": math.degrees(theta),
        "scale": chosen.scale,
        "residual_site_m": residual,
        "grid_convergence_deg": None,
        "declared": {
            "eastings": mc.eastings,
            "northings": mc.northings,
            "orthogonal_height": mc.height,
            "scale": mc.scale,
            "crs": mc.crs_name,
        },
        "reading": chosen.label,
    }
    return g


def _from_override(override: Override, unit: float, warnings: list[str]) -> Georef:
    map_crs, source = _map_crs(override.crs, f"EPSG:{get_settings().store_vertical_srid}", warnings)
    map_unit = _map_unit_m(map_crs)
    origin = (float(override.origin[0]), float(override.origin[1]), float(override.origin[2]))
    g = Georef("override", source, {}, origin=origin, theta=math.radians(override.rotation_deg), k=1.0 / map_unit)
    g.report = {
        "crs": _crs_label(map_crs),
        "vertical_crs": _crs_label(source.sub_crs_list[1]),
        "origin_map": list(g.origin),
        "rotation_deg": override.rotation_deg,
        "scale": unit / map_unit,
        "residual_site_m": None,
    }
    return g


@lru_cache(maxsize=8)
def _geoid_to_ellipsoidal(vertical_srid: int) -> Transformer:
    """WGS 84 lon/lat with orthometric heights to ellipsoidal heights (pinned: PROJ's operation
    search for it, ~0.05 s, is paid once per machine)."""
    vertical = CRS.from_epsg(vertical_srid)
    return pinned_transformer(CompoundCRS("WGS 84 + height", [WGS84, vertical]).srs, GEOGRAPHIC_3D.srs)


@lru_cache(maxsize=16)
def _proj(label: str) -> pyproj.Proj:
    return pyproj.Proj(parse_crs(label))


def _from_site(site: _Site, model: ifcopenshell.file) -> Georef:
    to_ellipsoidal = _geoid_to_ellipsoidal(get_settings().store_vertical_srid)
    _, _, h_ellipsoidal = to_ellipsoidal.transform(site.lon, site.lat, site.elevation - site.local[2])
    pipeline = Transformer.from_pipeline(
        f"+proj=pipeline +step +inv +proj=topocentric +lon_0={site.lon!r} +lat_0={site.lat!r} "
        f"+h_0={h_ellipsoidal!r} +ellps=WGS84"
    )
    theta = _true_north_rad(model)
    g = Georef("IfcSite", ECEF, {}, theta=theta, topocentric=pipeline, site_local=site.local * np.array([1, 1, 0]))
    g.report = {
        "crs": "EPSG:4326",
        "vertical_crs": f"EPSG:{get_settings().store_vertical_srid}",
        "origin_map": None,
        "rotation_deg": math.degrees(theta),
        "scale": 1.0,
        "residual_site_m": None,
        "site_lonlat_elevation": [site.lon, site.lat, site.elevation],
    }
    return g


def _crs_label(crs: CRS) -> str:
    code = crs.to_authority()
    return f"{code[0]}:{code[1]}" if code else crs.name


def _local_store(unit: float) -> Georef:
    """No georeferencing, placement not required: local metres taken as store coordinates."""
    g = Georef("none", store_crs_3d(), {})
    g.report = {
        "crs": _crs_label(store_crs()),
        "vertical_crs": None,
        "origin_map": [0.0, 0.0, 0.0],
        "rotation_deg": 0.0,
        "scale": unit,
        "residual_site_m": None,
    }
    return g


def georeference(model: ifcopenshell.file, override: Override | None = None, *, require: bool = True) -> Georef:
    """Find the model's placement on the earth and report it."""
    unit = ifcopenshell.util.unit.calculate_unit_scale(model)
    warnings: list[str] = []
    conversions = _ifc_map_conversion(model) + _epset_map_conversion(model)
    site = _site(model, unit)
    if len(conversions) > 1:
        warnings.append(f"double georeferencing: {', '.join(c.source for c in conversions)}; used the first")
    if override is not None:
        found = conversions[0].source if conversions else ("IfcSite" if site else None)
        if found:
            warnings.append(f"the override replaces the model's own georeferencing ({found})")
        g = _from_override(override, unit, warnings)
    elif conversions:
        g = _from_map_conversion(conversions[0], unit, site, _local_extent(model, unit), warnings)
    elif site is not None:
        g = _from_site(site, model)
    elif require:
        raise NoGeoreferencing(
            "no georeferencing: the model has no IfcMapConversion, ePSet_MapConversion or IfcSite lat/lon; "
            "give --crs/--origin (and --rotation), or crs/origin/rotation in the upload form"
        )
    else:
        warnings.append("no georeferencing found: local coordinates taken as store CRS coordinates")
        g = _local_store(unit)
    if site is not None and conversions and float(np.linalg.norm(site.local[:2])) > LARGE_LOCAL_M:
        warnings.append("double georeferencing: the site placement is already far from the local origin")
    origin = g.to_lonlat_h(np.zeros((1, 3)))[0]
    lon, lat = float(origin[0]), float(origin[1])
    convergence_crs = parse_crs(g.report["crs"]) if g.source_crs != ECEF else store_crs()
    if convergence_crs.is_projected:
        g.report["grid_convergence_deg"] = float(
            _proj(_crs_label(convergence_crs)).get_factors(lon, lat).meridian_convergence
        )
        g.report["grid_convergence_crs"] = _crs_label(convergence_crs)
    area = store_crs().area_of_use
    assert area is not None, "an EPSG projected CRS has an area of use"
    west, south, east, north = area.bounds
    if not (west <= lon <= east and south <= lat <= north):
        warnings.append(
            f"the model lies outside the store CRS's area of use ({_crs_label(store_crs())}, {west}..{east}°E): "
            "its stored coordinates are exact but far from the projection's zone; tiles are placed from its own CRS"
        )
    g.report = {
        "method": g.method,
        **g.report,
        "origin_lonlat_h": [lon, lat, float(origin[2])],
        "project_unit_m": unit,
        "warnings": warnings,
    }
    return g
