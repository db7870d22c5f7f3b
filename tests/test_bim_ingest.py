"""Ingest into PostGIS: exact vertices, counts against products with a body, .ifczip, the CLI,
versions, diff, atomicity."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.geom
import ifcopenshell.util.unit
import numpy as np
import pytest
import shapely
from pyproj import CRS, Transformer
from sqlalchemy import text

from bim_ingest import ingest as ingest_module
from bim_ingest.georef import Override
from bim_ingest.ingest import ingest_file
from core.settings import get_settings
from tests.fixtures_bim import UTM51


def _stored_points(database, version_id: int) -> dict[str, np.ndarray]:
    with database.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT global_id, ST_X(d.geom), ST_Y(d.geom), ST_Z(d.geom) FROM bim_element e, "
                "LATERAL ST_DumpPoints(e.geom) d WHERE e.version_id = :v"
            ),
            {"v": version_id},
        ).all()
    points: dict[str, list] = {}
    for gid, x, y, z in rows:
        points.setdefault(gid, []).append((x, y, z))
    return {gid: np.array(p) for gid, p in points.items()}


def _bare_meshes(path) -> dict[str, np.ndarray]:
    """World vertices (metres) per GlobalId from IfcOpenShell's own world-coordinate output."""
    settings = ifcopenshell.geom.settings()
    settings.set("use-world-coords", True)
    model = ifcopenshell.open(str(path))
    it = ifcopenshell.geom.iterator(
        settings, model, 1, exclude=["IfcOpeningElement"], geometry_library="hybrid-cgal-simple-opencascade"
    )
    out = {}
    assert it.initialize()
    while True:
        shape = it.get()
        out[shape.guid] = np.frombuffer(shape.geometry.verts_buffer, "d").reshape(-1, 3).copy()
        if not it.next():
            break
    return out


def _max_nearest(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance from a point of ``a`` to its nearest point of ``b``, both ways."""
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2)
    return float(max(d.min(axis=1).max(), d.min(axis=0).max()))


def test_every_vertex_within_1cm_of_pyproj(database, sample_ifc_utm):
    """MapConversion into UTM 51N (rotation 37.5°, Scale 0.001, height 12.25): every stored vertex
    equals a hand-written map conversion followed by pyproj UTM 51N + EGM96 -> EPSG:4549 + EGM96."""
    result = ingest_file(sample_ifc_utm)
    model = ifcopenshell.open(str(sample_ifc_utm))
    conversion = model.by_type("IfcMapConversion")[0]
    unit = ifcopenshell.util.unit.calculate_unit_scale(model)
    theta = math.atan2(conversion.XAxisOrdinate, conversion.XAxisAbscissa)
    assert math.degrees(theta) == pytest.approx(37.5)
    to_store = Transformer.from_crs(
        CRS.from_user_input(f"{UTM51}+5773"), CRS.from_user_input("EPSG:4549+5773"), always_xy=True
    )
    stored = _stored_points(database, result["version_id"])
    expected_meshes = _bare_meshes(sample_ifc_utm)
    assert set(stored) == set(expected_meshes)
    worst = 0.0
    for gid, local in expected_meshes.items():
        s = conversion.Scale / unit  # map metres per local metre
        e = conversion.Eastings + s * (math.cos(theta) * local[:, 0] - math.sin(theta) * local[:, 1])
        n = conversion.Northings + s * (math.sin(theta) * local[:, 0] + math.cos(theta) * local[:, 1])
        h = conversion.OrthogonalHeight + local[:, 2]
        expected = np.column_stack(to_store.transform(e, n, h))
        worst = max(worst, _max_nearest(stored[gid], expected))
    assert worst < 0.01
    assert result["georef"]["method"] == "IfcMapConversion"
    assert result["georef"]["crs"] == UTM51


def test_sample_building_stored_with_semantics(database, sample_ifc):
    result = ingest_file(sample_ifc)
    assert result["elements"] == 35
    with database.connect() as conn:
        walls = conn.execute(
            text(
                "SELECT count(*) FROM bim_element WHERE version_id = :v AND ifc_class = 'IfcWall' "
                'AND properties @> \'{"Pset_WallCommon": {"IsExternal": true, "FireRating": "REI90"}}\' '
                "AND 'Concrete C30' = ANY(materials) AND storey IS NOT NULL"
            ),
            {"v": result["version_id"]},
        ).scalar_one()
        tree = dict(
            conn.execute(
                text("SELECT ifc_class, count(*) FROM bim_spatial_node WHERE version_id = :v GROUP BY 1"),
                {"v": result["version_id"]},
            ).all()
        )
        # the ground slab's footprint is the 12 m x 8 m outline
        area = conn.execute(
            text("SELECT ST_Area(footprint) FROM bim_element WHERE version_id = :v AND name = 'F1 floor'"),
            {"v": result["version_id"]},
        ).scalar_one()
    assert walls == 12
    assert tree == {"IfcProject": 1, "IfcSite": 1, "IfcBuilding": 1, "IfcBuildingStorey": 3, "IfcSpace": 3}
    assert area == pytest.approx(96.0, rel=1e-6)


def _products_with_body(path) -> int:
    """Products (openings aside) with a body representation, counted from the model itself."""
    from bim_ingest.source import open_ifc

    with open_ifc(path) as opened:
        return sum(
            1
            for p in opened.file.by_type("IfcProduct")
            if not p.is_a("IfcOpeningElement")
            and p.Representation is not None
            and any(
                r.RepresentationIdentifier in (None, "Body", "Facetation") for r in p.Representation.Representations
            )
        )


def _bare_count(path) -> int:
    """Products the bare iterator triangulates with the ingest's settings."""
    from bim_ingest.geometry import iterator
    from bim_ingest.source import open_ifc

    with open_ifc(path) as opened:
        it = iterator(opened.file)
        if not it.initialize():
            return 0
        n = 1
        while it.next():
            n += 1
        return n


@pytest.mark.parametrize(
    "name",
    [
        "AC20-FZK-Haus.ifc",
        "duplex.ifc",
        "IfcOpenHouse_IFC4.ifc",
        "KIT-Simple-Road-Test-Web-IFC4x3_RC2.ifc",
        "example.ifc",
        "tested_sample_project.ifc",
        "Sample_entities.ifc",
        "geographic-referencing.ifc",
    ],
)
def test_shared_ifc_ingests(database, shared_datasets, name):
    path = shared_datasets / "ifc" / name
    override = Override("EPSG:4549", (497_600.0, 3_520_100.0, 9.0), 0.0) if "OpenHouse" in name else None
    result = ingest_file(path, override=override, model_name=f"shared {name}")
    # every product with a body is an element, except those reported as not triangulated (with a reason)
    assert result["elements"] == _products_with_body(path) - len(result["untriangulated"])
    assert result["untriangulated"] == []  # IfcOpenShell (with the CSG fallback) triangulates all shared files
    assert result["elements"] >= _bare_count(path)
    with database.connect() as conn:
        stored, z_extent = conn.execute(
            text("SELECT count(*), max(z_max - z_min) FROM bim_element WHERE version_id = :v"),
            {"v": result["version_id"]},
        ).one()
    assert stored == result["elements"] > 0
    warnings = result["georef"]["warnings"]
    if "RC2" in name:
        assert any("IFC4X3_RC2 read as IFC4X3_ADD2" in w for w in warnings)
    if name == "geographic-referencing.ifc":
        # a CSG cone (0.5 m) under a cylinder (0.5 m): IfcOpenShell 0.9 maps neither primitive, the
        # ingest triangulates the equal swept solids and says so
        assert _bare_count(path) == 0
        assert any("IfcRightCircularCone, IfcRightCircularCylinder" in w and "swept solid" in w for w in warnings)
        assert z_extent == pytest.approx(1.0, abs=1e-6)


def _plan_of_triangles(tin_wkb: bytes) -> shapely.Geometry:
    """The union of a stored TIN's triangles seen from above (the footprint computed from scratch)."""
    records = np.frombuffer(
        tin_wkb[9:], np.dtype([("o", "u1"), ("t", "<u4"), ("r", "<u4"), ("p", "<u4"), ("xyz", "<f8", (4, 3))])
    )
    rings = records["xyz"][:, :, :2]
    return shapely.union_all(shapely.polygons(rings)[shapely.area(shapely.polygons(rings)) > 1e-8])


def test_footprints_of_shared_representations(database, shared_datasets):
    """Footprints are computed once per shared representation and moved with each product's
    placement (tested_sample_project: 93 products, 28 representations): each equals, within
    0.1 mm, the plan view of the product's own stored triangles."""
    path = shared_datasets / "ifc" / "tested_sample_project.ifc"
    result = ingest_file(path, model_name="shared footprints")
    with database.connect() as conn:
        rows = conn.execute(
            text("SELECT ST_AsBinary(geom), ST_AsBinary(footprint) FROM bim_element WHERE version_id = :v"),
            {"v": result["version_id"]},
        ).all()
    assert len(rows) == 93
    for tin, outline in rows:
        plan, footprint = _plan_of_triangles(bytes(tin)), shapely.from_wkb(bytes(outline))
        assert footprint.is_valid
        assert shapely.difference(plan, footprint.buffer(1e-4)).area < 1e-9
        assert shapely.difference(footprint, plan.buffer(1e-4)).area < 1e-9


def test_untriangulated_product_is_reported(database, bim_dir, sample_ifc):
    """A body no kernel can triangulate (a zero-size profile) is listed with IfcOpenShell's reason."""
    model = ifcopenshell.open(str(sample_ifc))
    body = next(c for c in model.by_type("IfcGeometricRepresentationSubContext") if c.ContextIdentifier == "Body")
    proxy = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingElementProxy", name="flat nothing")
    profile = model.createIfcRectangleProfileDef("AREA", None, None, 0.0, 0.0)
    solid = model.createIfcExtrudedAreaSolid(profile, None, model.createIfcDirection((0.0, 0.0, 1.0)), 1000.0)
    representation = model.createIfcShapeRepresentation(body, "Body", "SweptSolid", [solid])
    ifcopenshell.api.run("geometry.assign_representation", model, product=proxy, representation=representation)
    ifcopenshell.api.run("geometry.edit_object_placement", model, product=proxy)
    path = bim_dir / "sample-untriangulated.ifc"
    model.write(str(path))
    result = ingest_file(path, model_name="untriangulated sample")
    assert _products_with_body(path) == 36
    assert result["elements"] == 35
    assert result["untriangulated"] == [
        {
            "global_id": proxy.GlobalId,
            "ifc_class": "IfcBuildingElementProxy",
            "name": "flat nothing",
            "reason": result["untriangulated"][0]["reason"],
        }
    ]
    assert "IfcRectangleProfileDef" in result["untriangulated"][0]["reason"]
    assert any(
        w.startswith(f"not triangulated: IfcBuildingElementProxy {proxy.GlobalId}")
        for w in result["georef"]["warnings"]
    )


def _hashes(database, version_id: int) -> dict[str, str]:
    with database.connect() as conn:
        return dict(
            conn.execute(
                text("SELECT global_id, geom_hash FROM bim_element WHERE version_id = :v"), {"v": version_id}
            ).all()
        )


def test_ifczip_ingests_like_the_plain_file(database, bim_dir, sample_ifc):
    packed = bim_dir / "sample.ifczip"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(sample_ifc, "sample.ifc")
    plain = ingest_file(sample_ifc, model_name="zip plain")
    zipped = ingest_file(packed, model_name="zip packed")
    assert zipped["elements"] == plain["elements"] == 35
    assert zipped["schema"] == "IFC4"
    assert _hashes(database, zipped["version_id"]) == _hashes(database, plain["version_id"])


def test_cli_ingest_json(database, sample_ifc):
    """`cim bim ingest FILE --json` prints one JSON object with DESIGN.md section 2's keys."""
    cim = Path(sys.executable).parent / "cim"
    done = subprocess.run(
        [str(cim), "bim", "ingest", str(sample_ifc), "--name", "cli sample", "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),  # the session's DATABASE_URL and CIM_DATA_DIR
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert {"model_id", "schema", "elements", "georef", "tileset", "seconds"} <= summary.keys()
    georef = summary["georef"]
    assert {"method", "crs", "origin_lonlat_h", "rotation_deg", "scale", "warnings"} <= georef.keys()
    assert summary["schema"] == "IFC4"
    assert summary["elements"] == 35
    assert georef["method"] == "IfcMapConversion"
    assert georef["crs"] == "EPSG:4549"
    lon, lat, h_ellipsoidal = georef["origin_lonlat_h"]
    assert 119.9 < lon < 120.1 and 31.7 < lat < 31.9 and -50 < h_ellipsoidal < 50
    assert georef["rotation_deg"] == pytest.approx(30.0)
    assert georef["scale"] == pytest.approx(0.001)
    assert isinstance(georef["warnings"], list)
    assert summary["tileset"] == f"/api/v1/tiles/bim-{summary['version_id']}/tileset.json"
    assert isinstance(summary["seconds"], float) and summary["seconds"] > 0
    with database.connect() as conn:
        stored = conn.execute(
            text("SELECT count(*) FROM bim_element WHERE version_id = :v"), {"v": summary["version_id"]}
        ).scalar_one()
    assert stored == 35


def test_new_version_and_diff(database, bim_dir, sample_ifc):
    v1 = ingest_file(sample_ifc, model_name="diff sample")
    model = ifcopenshell.open(str(sample_ifc))
    columns = model.by_type("IfcColumn")
    removed, moved = columns[0].GlobalId, columns[1].GlobalId
    wall = model.by_type("IfcWall")[0]
    pset = ifcopenshell.util.element.get_psets(wall)["Pset_WallCommon"]
    ifcopenshell.api.run("pset.edit_pset", model, pset=model.by_id(pset["id"]), properties={"FireRating": "REI120"})
    ifcopenshell.api.run("root.remove_product", model, product=columns[0])
    placement = columns[1].ObjectPlacement.RelativePlacement.Location
    placement.Coordinates = (placement.Coordinates[0] + 500.0, *placement.Coordinates[1:])
    body = next(c for c in model.by_type("IfcGeometricRepresentationSubContext") if c.ContextIdentifier == "Body")
    proxy = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingElementProxy", name="new box")
    representation = ifcopenshell.api.run("geometry.add_wall_representation", model, context=body, length=1.0)
    ifcopenshell.api.run("geometry.assign_representation", model, product=proxy, representation=representation)
    ifcopenshell.api.run("geometry.edit_object_placement", model, product=proxy)
    added = proxy.GlobalId
    v2_path = bim_dir / "sample-v2.ifc"
    model.write(str(v2_path))
    v2 = ingest_file(v2_path, model_name="diff sample")
    assert v2["model_id"] == v1["model_id"]
    assert v2["version_no"] == v1["version_no"] + 1
    from bim_ingest.store import diff_versions
    from core.db import session_scope

    with session_scope() as session:
        diff = diff_versions(session, v1["version_id"], v2["version_id"])
    assert diff["removed"] == [removed]
    assert diff["added"] == [added]
    changed = {c["global_id"]: c["geometry"] for c in diff["changed"]}
    assert changed == {moved: True, wall.GlobalId: False}
    assert v2["diff"] == {"added": 1, "removed": 1, "changed": 2, "from_version_id": v1["version_id"]}


def test_failed_ingest_leaves_nothing(database, sample_ifc, monkeypatch):
    def count() -> tuple[int, int, int, int]:
        with database.connect() as conn:
            return tuple(
                conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("bim_model", "bim_model_version", "bim_element", "bim_spatial_node")
            )

    before = count()
    calls = {"n": 0}
    real = ingest_module.describe

    def failing(element):
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("disk full")
        return real(element)

    monkeypatch.setattr(ingest_module, "describe", failing)
    # products may be described in a forked child (ingest.DESCRIBE_APART_FROM), which then does the
    # counting; only the 20th call raises, so the error itself says the ingest failed midway
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(sample_ifc, model_name="atomic sample")
    assert count() == before


def _glb_ids(path) -> list[str]:
    """The ``id`` property of every feature in a glb's EXT_structural_metadata property tables."""
    data = path.read_bytes()
    length = struct.unpack_from("<I", data, 12)[0]
    gltf = json.loads(data[20 : 20 + length])
    binary = data[20 + length + 8 :]
    ids = []
    for table in gltf["extensions"]["EXT_structural_metadata"]["propertyTables"]:
        prop = table["properties"]["id"]
        values = gltf["bufferViews"][prop["values"]]
        offsets_view = gltf["bufferViews"][prop["stringOffsets"]]
        kind = {"UINT32": "<u4", "UINT64": "<u8", "UINT16": "<u2", "UINT8": "u1"}[
            prop.get("stringOffsetType", "UINT32")
        ]
        offsets = np.frombuffer(binary, kind, table["count"] + 1, offsets_view.get("byteOffset", 0))
        raw = binary[values.get("byteOffset", 0) : values.get("byteOffset", 0) + values["byteLength"]]
        ids += [raw[offsets[i] : offsets[i + 1]].decode() for i in range(table["count"])]
    return ids


def test_published_version_has_tileset_with_global_ids(database, sample_ifc):
    from spatial_api.pipelines import ingest_and_publish

    result = ingest_and_publish(sample_ifc, model_name="tiled sample")
    assert result["tileset"] == f"/api/v1/tiles/bim-{result['version_id']}/tileset.json"
    folder = get_settings().tiles_dir / f"bim-{result['version_id']}"
    assert (folder / "tileset.json").is_file()
    ids = [i for glb in sorted(folder.rglob("*.glb")) for i in _glb_ids(glb)]
    with database.connect() as conn:
        expected = (
            conn.execute(text("SELECT global_id FROM bim_element WHERE version_id = :v"), {"v": result["version_id"]})
            .scalars()
            .all()
        )
        status = conn.execute(
            text("SELECT status FROM bim_model_version WHERE id = :v"), {"v": result["version_id"]}
        ).scalar_one()
    assert sorted(ids) == sorted(expected)
    assert status == "published"


def test_descriptions_follow_the_order_asked(sample_ifc):
    """The describing child describes the products in the order the ingest asks (the kernel's, not
    the file's), each as describing it here would."""
    from bim_ingest import geometry
    from bim_ingest.elements import Descriptions, describe

    model = ifcopenshell.open(str(sample_ifc))
    bodies = geometry.body_products(model)
    order = list(reversed(bodies))  # not the file's order
    with Descriptions(bodies) as descriptions:
        descriptions.request(order[: len(order) // 2])
        descriptions.request(order[len(order) // 2 :])
        taken = [descriptions.of(model.by_id(product_id)) for product_id in order]
    assert taken == [describe(model.by_id(product_id)) for product_id in order]
