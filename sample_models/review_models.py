"""Models for the drawing review with known defects, built on :func:`author_building`.

Each is a georeferenced building that meets the city's delivery standard (the default IDS), then
gets exactly one defect: a wall without FireRating, a height over the parcel's limit (author it
taller), a basement through a gas main (:func:`add_basement`), a corner over the parcel line (place
it so), a face within the setback from a road red line (place it so), a plot ratio or building
density over the parcel's limit (storeys or footprint for the parcel), an underground structure
within a utility tunnel's clearance (:func:`author_underground_structure`). What each function
returns lets a test name the elements it expects.
"""

from __future__ import annotations

from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.classification
import ifcopenshell.api.geometry
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.util.element
import ifcopenshell.util.placement
import ifcopenshell.util.representation
import ifcopenshell.util.unit
import numpy as np

from sample_models.ifc_models import author_building

CLASSIFICATION = "GB/T 51269-2017"
RESIDENTIAL_CODE = "11-13 10 00"  # GB/T 51269 table 11 (by function): residential building


def conform_to_city_ids(model: ifcopenshell.file) -> None:
    """Fill what the city's default IDS asks: wall fire rating and exterior flag, storeys named
    F1..Fn bottom up (B1.. below ground), a GB/T 51269 classification on the building."""
    for wall in model.by_type("IfcWall"):
        common = ifcopenshell.util.element.get_pset(wall, "Pset_WallCommon")
        pset = model.by_id(common["id"]) if common else ifcopenshell.api.pset.add_pset(model, wall, "Pset_WallCommon")
        is_external = common.get("IsExternal", True) if common else True
        ifcopenshell.api.pset.edit_pset(model, pset, properties={"FireRating": "REI 120", "IsExternal": is_external})
    storeys = sorted(model.by_type("IfcBuildingStorey"), key=_elevation)
    for i, storey in enumerate(reversed([s for s in storeys if _elevation(s) < 0])):
        storey.Name = f"B{i + 1}"
    for i, storey in enumerate(s for s in storeys if _elevation(s) >= 0):
        storey.Name = f"F{i + 1}"
    systems = [c for c in model.by_type("IfcClassification") if c.Name == CLASSIFICATION]
    system = systems[0] if systems else ifcopenshell.api.classification.add_classification(model, CLASSIFICATION)
    ifcopenshell.api.classification.add_reference(
        model,
        products=model.by_type("IfcBuilding"),
        identification=RESIDENTIAL_CODE,
        name="居住建筑",
        classification=system,
    )


def conform_to_joint_review(model: ifcopenshell.file) -> None:
    """Fill what the fire, civil defence and lightning agencies' default rule sets ask: door fire
    ratings (every door an escape door), spaces in a fire compartment, the building's lightning
    protection category, basement slabs and storeys in a protective unit."""

    def fill(product, name: str, properties: dict) -> None:
        existing = ifcopenshell.util.element.get_pset(product, name)
        pset = model.by_id(existing["id"]) if existing else ifcopenshell.api.pset.add_pset(model, product, name)
        ifcopenshell.api.pset.edit_pset(model, pset, properties=properties)

    for door in model.by_type("IfcDoor"):
        fill(door, "Pset_DoorCommon", {"FireRating": "乙级 FD1.0", "FireExit": True})
    for space in model.by_type("IfcSpace"):
        fill(space, "CNPset_FireCompartment", {"CompartmentId": "FC-1", "FireRating": "一级"})
    for building in model.by_type("IfcBuilding"):
        fill(building, "CNPset_LightningProtection", {"Category": "第二类"})
    civil_defence = {"ProtectiveUnit": "PU-1", "ProtectionClass": "核6级", "WartimeUse": "二等人员掩蔽所"}
    for slab in model.by_type("IfcSlab"):
        if slab.PredefinedType == "BASESLAB":
            fill(slab, "CNPset_CivilDefence", civil_defence)
    for storey in model.by_type("IfcBuildingStorey"):
        if (storey.Name or "").startswith("B"):
            fill(storey, "CNPset_CivilDefence", {"ProtectiveUnit": "PU-1"})


def _elevation(storey: ifcopenshell.entity_instance) -> float:
    placement = storey.ObjectPlacement
    return float(ifcopenshell.util.placement.get_local_placement(placement)[2, 3]) if placement else 0.0


def remove_fire_rating(model: ifcopenshell.file) -> str:
    """Drop Pset_WallCommon.FireRating from one wall (the first by GlobalId); returns its GlobalId."""
    wall = min(model.by_type("IfcWall"), key=lambda w: w.GlobalId)
    pset = model.by_id(ifcopenshell.util.element.get_pset(wall, "Pset_WallCommon")["id"])
    ifcopenshell.api.pset.edit_pset(model, pset, properties={"FireRating": None})
    return wall.GlobalId


def _body_context(model: ifcopenshell.file) -> ifcopenshell.entity_instance:
    context = ifcopenshell.util.representation.get_context(model, "Model", "Body", "MODEL_VIEW")
    return context or model.by_type("IfcGeometricRepresentationContext")[0]


def _place(model: ifcopenshell.file, product, x: float, y: float, z: float, angle_deg: float = 0.0) -> None:
    c, s = np.cos(np.radians(angle_deg)), np.sin(np.radians(angle_deg))
    matrix = np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, z], [0, 0, 0, 1]], dtype=float)
    ifcopenshell.api.geometry.edit_object_placement(model, product=product, matrix=matrix, is_si=True)


def add_basement(
    model: ifcopenshell.file,
    *,
    x0: float,
    y0: float,
    width: float,
    depth: float,
    floor_z: float,
    height: float,
    thickness: float = 0.3,
    cover: bool = False,
) -> dict[str, str]:
    """A basement storey B1: a base slab (BASESLAB, ``thickness`` under ``floor_z``) and four
    walls from ``floor_z`` up ``height``, over the local rectangle x0..x0+width, y0..y0+depth
    (metres, model coordinates); with ``cover``, a cover slab (``thickness``) on the walls.
    Returns {"slab": GlobalId, "wall_south"..., "cover": GlobalId}."""
    body = _body_context(model)
    building = model.by_type("IfcBuilding")[0]
    storey = ifcopenshell.api.root.create_entity(model, ifc_class="IfcBuildingStorey", name="B1")
    storey.Elevation = floor_z / ifcopenshell.util.unit.calculate_unit_scale(model)
    _place(model, storey, 0.0, 0.0, floor_z)
    ifcopenshell.api.aggregate.assign_object(model, products=[storey], relating_object=building)
    created: dict[str, str] = {}
    slab = ifcopenshell.api.root.create_entity(
        model, ifc_class="IfcSlab", name="B1 base slab", predefined_type="BASESLAB"
    )
    outline = [(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth), (0.0, 0.0)]
    representation = ifcopenshell.api.geometry.add_slab_representation(model, body, depth=thickness, polyline=outline)
    ifcopenshell.api.geometry.assign_representation(model, product=slab, representation=representation)
    _place(model, slab, x0, y0, floor_z - thickness)
    created["slab"] = slab.GlobalId
    if cover:
        top = ifcopenshell.api.root.create_entity(
            model, ifc_class="IfcSlab", name="B1 cover slab", predefined_type="FLOOR"
        )
        representation = ifcopenshell.api.geometry.add_slab_representation(
            model, body, depth=thickness, polyline=outline
        )
        ifcopenshell.api.geometry.assign_representation(model, product=top, representation=representation)
        _place(model, top, x0, y0, floor_z + height)
        created["cover"] = top.GlobalId
    sides = {
        "wall_south": (x0, y0, 0.0, width),
        "wall_east": (x0 + width, y0, 90.0, depth),
        "wall_north": (x0 + width, y0 + depth, 180.0, width),
        "wall_west": (x0, y0 + depth, 270.0, depth),
    }
    for key, (x, y, angle, length) in sides.items():
        wall = ifcopenshell.api.root.create_entity(model, ifc_class="IfcWall", name=f"B1 {key.split('_')[1]} wall")
        representation = ifcopenshell.api.geometry.add_wall_representation(
            model, body, length=length, height=height, thickness=thickness
        )
        ifcopenshell.api.geometry.assign_representation(model, product=wall, representation=representation)
        _place(model, wall, x, y, floor_z, angle)
        created[key] = wall.GlobalId
    products = [model.by_guid(g) for g in created.values()]
    ifcopenshell.api.spatial.assign_container(model, products=products, relating_structure=storey)
    return created


def author_review_model(
    path: str | Path,
    *,
    missing_fire_rating: bool = False,
    basement: dict | None = None,
    joint_review: bool = False,
    **building,
) -> dict:
    """Author a building with :func:`author_building` (``building`` are its keyword arguments),
    make it conform to the city's IDS (and with ``joint_review`` to every agency's default rule
    set), then add the defects asked for. Returns the path and the GlobalIds of what was added or
    broken."""
    path = Path(path)
    author_building(path, **building)
    model = ifcopenshell.open(str(path))
    result: dict = {"path": path}
    if basement is not None:
        result["basement"] = add_basement(model, **basement)
    conform_to_city_ids(model)
    if joint_review:
        conform_to_joint_review(model)
    if missing_fire_rating:
        result["wall_without_fire_rating"] = remove_fire_rating(model)
    model.write(str(path))
    return result


def author_underground_structure(path: str | Path, *, basement: dict, **building) -> dict:
    """A structure wholly below the ground (an underground pump room or substation beside a utility
    tunnel): the georeferenced project of :func:`author_building` (``building`` its placement)
    without its storeys above ground, and one storey B1 from :func:`add_basement` (``basement``
    its arguments; a cover slab unless ``cover=False``), conforming to the city's IDS. Returns the
    path and {"basement": {"slab", "wall_south"..., "cover": GlobalId}}."""
    path = Path(path)
    author_building(path, storeys=1, **building)
    model = ifcopenshell.open(str(path))
    for ifc_class in ("IfcOpeningElement", "IfcElement", "IfcSpace", "IfcBuildingStorey"):
        for product in model.by_type(ifc_class):
            ifcopenshell.api.root.remove_product(model, product=product)
    result: dict = {"path": path, "basement": add_basement(model, **({"cover": True} | basement))}
    conform_to_city_ids(model)
    model.write(str(path))
    return result
