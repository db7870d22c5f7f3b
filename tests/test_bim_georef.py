"""Georeferencing reports, checked against independent pyproj computations (no database)."""

from __future__ import annotations

import math

import ifcopenshell
import numpy as np
import pytest
from pyproj import Geod, Proj, Transformer

from bim_ingest.georef import NoGeoreferencing, Override, georeference
from bim_ingest.source import open_ifc

GEOD = Geod(ellps="WGS84")


def _dms(parts) -> float:
    parts = [*parts, 0, 0, 0][:4]
    return parts[0] + parts[1] / 60 + (parts[2] + parts[3] / 1e6) / 3600


def test_geographic_referencing_flags_units_and_lands_on_site(shared_datasets):
    path = shared_datasets / "ifc" / "geographic-referencing.ifc"
    with open_ifc(path) as opened:
        g = georeference(opened.file)
        site = opened.file.by_type("IfcSite")[0]
        lat, lon = _dms(site.RefLatitude), _dms(site.RefLongitude)
    report = g.report
    assert report["method"] == "IfcMapConversion"
    assert report["crs"] == "EPSG:25832"
    assert any(w.startswith("ambiguous units") for w in report["warnings"])
    assert report["scale"] == pytest.approx(0.001)
    assert report["rotation_deg"] == pytest.approx(math.degrees(math.atan2(0.962691746426, 0.270600445976)))
    _, _, distance = GEOD.inv(report["origin_lonlat_h"][0], report["origin_lonlat_h"][1], lon, lat)
    assert distance < 0.05
    assert report["residual_site_m"] == pytest.approx(distance, abs=0.005)
    # 1000 mm along local x is 1 m on the map, turned 74.3° from grid east
    ends = g.to_source(np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]))
    assert np.hypot(*(ends[1, :2] - ends[0, :2])) == pytest.approx(1.0, abs=1e-9)


def test_no_georeferencing_needs_an_override(shared_datasets):
    with open_ifc(shared_datasets / "ifc" / "IfcOpenHouse_IFC4.ifc") as opened:
        with pytest.raises(NoGeoreferencing, match="--crs/--origin"):
            georeference(opened.file)
        g = georeference(opened.file, Override("EPSG:4549", (497_500.0, 3_520_000.0, 10.0), 90.0))
    assert g.report["method"] == "override"
    store = g.to_store(np.array([[0.0, 0.0, 0.0], [2.0, 0.0, 1.0]]))
    # local x turned 90°: 2 m east in the model is 2 m north on the grid
    assert store[1] - store[0] == pytest.approx([0.0, 2.0, 1.0], abs=1e-9)


def test_ifcsite_lat_lon_places_the_site(shared_datasets):
    with open_ifc(shared_datasets / "ifc" / "AC20-FZK-Haus.ifc") as opened:
        g = georeference(opened.file)
        site = opened.file.by_type("IfcSite")[0]
        lat, lon = _dms(site.RefLatitude), _dms(site.RefLongitude)
        placement = ifcopenshell.util.placement.get_local_placement(site.ObjectPlacement)[:3, 3]
    assert g.report["method"] == "IfcSite"
    got = g.to_lonlat_h(placement[None, :])[0]
    _, _, distance = GEOD.inv(got[0], got[1], lon, lat)
    assert distance < 0.001
    # TrueNorth (0.766, 0.643): 10 m along local +y points 50° west of true north
    a = g.to_lonlat_h(np.array([[0.0, 0.0, 0.0], [0.0, 10.0, 0.0]]))
    azimuth, _, length = GEOD.inv(a[0, 0], a[0, 1], a[1, 0], a[1, 1])
    assert length == pytest.approx(10.0, abs=1e-3)
    assert azimuth == pytest.approx(-50.0, abs=0.01)


def test_ifc2x3_epset_map_conversion(sample_ifc_2x3):
    with open_ifc(sample_ifc_2x3) as opened:
        g = georeference(opened.file)
    assert g.report["method"].startswith("ePSet_MapConversion")
    assert g.report["rotation_deg"] == pytest.approx(-15.0)
    assert g.report["origin_map"] == pytest.approx([497_500.0, 3_520_000.0, 8.0])
    assert not g.report["warnings"]


def _approx_convergence_deg(lon: float, lat: float, central_meridian: float) -> float:
    """First-order Transverse Mercator grid convergence, (λ - λ0)·sin φ: an independent sanity bound."""
    return (lon - central_meridian) * math.sin(math.radians(lat))


@pytest.mark.parametrize(
    ("fixture", "crs", "central_meridian"),
    [("sample_ifc", "EPSG:4549", 120.0), ("sample_ifc_utm", "EPSG:32651", 123.0)],
)
def test_grid_convergence_at_the_origin(request, fixture, crs, central_meridian):
    with open_ifc(request.getfixturevalue(fixture)) as opened:
        report = georeference(opened.file).report
    lon, lat, _ = report["origin_lonlat_h"]
    expected = Proj(crs).get_factors(lon, lat).meridian_convergence
    assert report["grid_convergence_crs"] == crs
    assert report["grid_convergence_deg"] == pytest.approx(expected, abs=1e-9)
    assert abs(report["grid_convergence_deg"]) == pytest.approx(
        abs(_approx_convergence_deg(lon, lat, central_meridian)), abs=0.01
    )
    if fixture == "sample_ifc_utm":  # 3° west of UTM 51N's central meridian: about 1.6° of convergence
        assert abs(report["grid_convergence_deg"]) > 1.5


def test_geographic_referencing_convergence(shared_datasets):
    with open_ifc(shared_datasets / "ifc" / "geographic-referencing.ifc") as opened:
        report = georeference(opened.file).report
    lon, lat, _ = report["origin_lonlat_h"]
    assert report["grid_convergence_deg"] == pytest.approx(
        Proj("EPSG:25832").get_factors(lon, lat).meridian_convergence, abs=1e-9
    )


def _origin_lonlat(eastings: float, northings: float) -> tuple[float, float]:
    return Transformer.from_crs("EPSG:4549", "EPSG:4326", always_xy=True).transform(eastings, northings)


def test_double_georeferencing_warned(bim_dir):
    from sample_models.ifc_models import author_building

    path = author_building(bim_dir / "double.ifc", storeys=1, epset_too=True)
    with open_ifc(path) as opened:
        report = georeference(opened.file).report
    assert report["method"] == "IfcMapConversion"  # the first, IFC4's own, is used
    doubles = [w for w in report["warnings"] if w.startswith("double georeferencing")]
    assert len(doubles) == 1
    assert "IfcMapConversion" in doubles[0] and "ePSet_MapConversion on IfcSite" in doubles[0]


def test_residual_over_1m_warned(bim_dir):
    from sample_models.ifc_models import DEFAULT_EASTINGS, DEFAULT_NORTHINGS, author_building

    lon, lat = _origin_lonlat(DEFAULT_EASTINGS, DEFAULT_NORTHINGS)
    agreeing = author_building(bim_dir / "site-agrees.ifc", storeys=1, site_lonlat=(lon, lat))
    # the site's lat/lon 5 m north of where the map conversion puts the site
    north = GEOD.fwd(lon, lat, 0.0, 5.0)
    disagreeing = author_building(bim_dir / "site-5m-off.ifc", storeys=1, site_lonlat=(north[0], north[1]))
    with open_ifc(agreeing) as opened:
        good = georeference(opened.file).report
    with open_ifc(disagreeing) as opened:
        bad = georeference(opened.file).report
    assert good["residual_site_m"] < 0.01
    assert not [w for w in good["warnings"] if "disagree" in w]
    assert bad["residual_site_m"] == pytest.approx(5.0, abs=0.05)
    assert [w for w in bad["warnings"] if "disagree" in w] == [
        f"the map conversion and IfcSite lat/lon disagree by {bad['residual_site_m']:.2f} m"
    ]
