"""Sample IFC buildings authored with ifcopenshell.api: storeys of walls, slabs, columns, a door
and windows in openings, a space per storey, property sets, materials, a classification, and
georeferencing onto the sample city (IfcMapConversion in IFC4, ePSet_MapConversion in IFC2X3).

The project unit is the millimetre and the map unit the metre, so the map conversion's Scale is
0.001; the rotation turns the local x axis from grid east, counter-clockwise.
"""

from __future__ import annotations

import math
from pathlib import Path

import ifcopenshell
import ifcopenshell.api
import ifcopenshell.api.owner.settings
import numpy as np

# A point of the sample city's default extent (EPSG:4549, CGCS2000 3-degree GK, CM 120°E).
DEFAULT_EASTINGS = 497_500.0
DEFAULT_NORTHINGS = 3_520_000.0

WALL_THICKNESS = 0.24
SLAB_DEPTH = 0.2


def _place(model: ifcopenshell.file, product, x: float, y: float, z: float, angle_deg: float = 0.0) -> None:
    """Put a product at (x, y, z) metres, turned about z."""
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    matrix = np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, z], [0, 0, 0, 1.0]])
    ifcopenshell.api.run("geometry.edit_object_placement", model, product=product, matrix=matrix, is_si=True)


def _compound_angle(degrees: float) -> tuple[int, int, int, int]:
    """Decimal degrees as IfcCompoundPlaneAngleMeasure (degrees, minutes, seconds, millionths)."""
    sign = -1 if degrees < 0 else 1
    millionths = round(abs(degrees) * 3600e6)
    d, rest = divmod(millionths, 3600 * 10**6)
    m, rest = divmod(rest, 60 * 10**6)
    sec, micro = divmod(rest, 10**6)
    return (sign * d, sign * m, sign * sec, sign * micro)


def _owner_history(model: ifcopenshell.file) -> None:
    """IFC2X3 requires owner history on rooted entities: make this process's user and application."""
    person = model.create_entity("IfcPerson", FamilyName="CIM Server")
    organisation = model.create_entity("IfcOrganization", Name="CIM Server")
    user = model.create_entity("IfcPersonAndOrganization", ThePerson=person, TheOrganization=organisation)
    application = model.create_entity(
        "IfcApplication",
        ApplicationDeveloper=organisation,
        Version="0.1",
        ApplicationFullName="CIM Server",
        ApplicationIdentifier="cim-server",
    )
    ifcopenshell.api.owner.settings.get_user = lambda file: user if file is model else None
    ifcopenshell.api.owner.settings.get_application = lambda file: application if file is model else None


def _georeference(
    model: ifcopenshell.file, crs: str, eastings: float, northings: float, height: float, rotation_deg: float, site
) -> None:
    rotation = math.radians(rotation_deg)
    conversion = {
        "Eastings": eastings,
        "Northings": northings,
        "OrthogonalHeight": height,
        "XAxisAbscissa": math.cos(rotation),
        "XAxisOrdinate": math.sin(rotation),
        "Scale": 0.001,
    }
    projected = {"Name": crs, "VerticalDatum": "EPSG:5773", "GeodeticDatum": "CGCS2000"}
    if model.schema == "IFC2X3":
        for name, values in (("ePSet_MapConversion", conversion), ("ePSet_ProjectedCRS", projected)):
            pset = ifcopenshell.api.run("pset.add_pset", model, product=site, name=name)
            ifcopenshell.api.run("pset.edit_pset", model, pset=pset, properties=values)
        return
    ifcopenshell.api.run("georeference.add_georeferencing", model, ifc_class="IfcMapConversion", name=crs)
    ifcopenshell.api.run(
        "georeference.edit_georeferencing", model, projected_crs=projected, coordinate_operation=conversion
    )


def author_building(
    path: str | Path,
    *,
    eastings: float = DEFAULT_EASTINGS,
    northings: float = DEFAULT_NORTHINGS,
    height: float = 8.0,
    rotation_deg: float = 30.0,
    storeys: int = 3,
    width: float = 12.0,
    depth: float = 8.0,
    storey_height: float = 3.0,
    schema: str = "IFC4",
    crs: str = "EPSG:4549",
    name: str = "Sample building",
    fire_rating: str = "REI90",
    site_lonlat: tuple[float, float] | None = None,
    epset_too: bool = False,
) -> Path:
    """Write a small georeferenced building to ``path`` and return the path.

    ``eastings``/``northings`` (metres in ``crs``) and ``height`` (orthometric, EGM96) place the
    local origin, the building's south-west outer corner; ``rotation_deg`` turns it.
    ``site_lonlat`` also gives IfcSite RefLongitude/RefLatitude (degrees; the site's placement is
    the local origin); ``epset_too`` (IFC4) adds the IFC2X3-style ePSet_MapConversion to the site
    as well, a double georeferencing.
    """
    model = ifcopenshell.api.run("project.create_file", version=schema)
    if schema == "IFC2X3":
        _owner_history(model)
    project = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcProject", name=name)
    ifcopenshell.api.run("unit.assign_unit", model)  # millimetres
    context = ifcopenshell.api.run("context.add_context", model, context_type="Model")
    body = ifcopenshell.api.run(
        "context.add_context",
        model,
        context_type="Model",
        context_identifier="Body",
        target_view="MODEL_VIEW",
        parent=context,
    )
    site = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSite", name="Site")
    building = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuilding", name=name)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[site], relating_object=project)
    ifcopenshell.api.run("aggregate.assign_object", model, products=[building], relating_object=site)
    for product in (site, building):
        _place(model, product, 0, 0, 0)
    _georeference(model, crs, eastings, northings, height, rotation_deg, site)
    if epset_too and schema != "IFC2X3":
        pset = ifcopenshell.api.run("pset.add_pset", model, product=site, name="ePSet_MapConversion")
        ifcopenshell.api.run(
            "pset.edit_pset", model, pset=pset, properties={"Eastings": eastings, "Northings": northings}
        )
    if site_lonlat is not None:
        site.RefLongitude, site.RefLatitude = (_compound_angle(v) for v in site_lonlat)
        site.RefElevation = height * 1000.0

    concrete = ifcopenshell.api.run("material.add_material", model, name="Concrete C30")
    glass = ifcopenshell.api.run("material.add_material", model, name="Glass")
    classification = ifcopenshell.api.run("classification.add_classification", model, classification="GB/T 51269-2017")

    t = WALL_THICKNESS
    walls_layout = [  # x, y, angle, length: outer faces on the rectangle (0, 0)-(width, depth)
        (0.0, 0.0, 0.0, width),
        (width, 0.0, 90.0, depth),
        (width, depth, 180.0, width),
        (0.0, depth, 270.0, depth),
    ]
    for level in range(storeys):
        z = level * storey_height
        storey = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcBuildingStorey", name=f"F{level + 1}")
        storey.Elevation = z * 1000.0
        _place(model, storey, 0, 0, z)
        ifcopenshell.api.run("aggregate.assign_object", model, products=[storey], relating_object=building)
        contained = []

        walls = []
        for i, (x, y, angle, length) in enumerate(walls_layout):
            wall = ifcopenshell.api.run(
                "root.create_entity", model, ifc_class="IfcWall", name=f"F{level + 1} wall {i + 1}"
            )
            if schema != "IFC2X3":
                wall.PredefinedType = "SOLIDWALL"
            rep = ifcopenshell.api.run(
                "geometry.add_wall_representation",
                model,
                context=body,
                length=length,
                height=storey_height - SLAB_DEPTH,
                thickness=t,
            )
            ifcopenshell.api.run("geometry.assign_representation", model, product=wall, representation=rep)
            # the wall's local y points into the building: offset the thickness inwards
            _place(model, wall, x, y, z + SLAB_DEPTH, angle)
            pset = ifcopenshell.api.run("pset.add_pset", model, product=wall, name="Pset_WallCommon")
            ifcopenshell.api.run(
                "pset.edit_pset",
                model,
                pset=pset,
                properties={"IsExternal": True, "FireRating": fire_rating, "LoadBearing": True},
            )
            ifcopenshell.api.run("material.assign_material", model, products=[wall], material=concrete)
            walls.append(wall)
        contained += walls
        ifcopenshell.api.run(
            "classification.add_reference",
            model,
            products=walls,
            identification="30-01.10.10",
            name="外墙 external wall",
            classification=classification,
        )

        slab = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSlab", name=f"F{level + 1} floor")
        slab.PredefinedType = "FLOOR"
        rep = ifcopenshell.api.run(
            "geometry.add_slab_representation",
            model,
            context=body,
            depth=SLAB_DEPTH,
            polyline=[(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth)],
        )
        ifcopenshell.api.run("geometry.assign_representation", model, product=slab, representation=rep)
        _place(model, slab, 0, 0, z)
        ifcopenshell.api.run("material.assign_material", model, products=[slab], material=concrete)
        contained.append(slab)

        for i, (x, y) in enumerate([(t, t), (width - t, t), (width - t, depth - t), (t, depth - t)]):
            column = ifcopenshell.api.run(
                "root.create_entity", model, ifc_class="IfcColumn", name=f"F{level + 1} column {i + 1}"
            )
            centre = model.create_entity(
                "IfcAxis2Placement2D", Location=model.create_entity("IfcCartesianPoint", (0.0, 0.0))
            )
            profile = model.create_entity(
                "IfcRectangleProfileDef", ProfileType="AREA", Position=centre, XDim=400.0, YDim=400.0
            )
            rep = ifcopenshell.api.run(
                "geometry.add_profile_representation",
                model,
                context=body,
                profile=profile,
                depth=storey_height - SLAB_DEPTH,
            )
            ifcopenshell.api.run("geometry.assign_representation", model, product=column, representation=rep)
            _place(
                model,
                column,
                x + (0.2 if x < width / 2 else -0.2),
                y + (0.2 if y < depth / 2 else -0.2),
                z + SLAB_DEPTH,
            )
            ifcopenshell.api.run("material.assign_material", model, products=[column], material=concrete)
            contained.append(column)

        # a window (and on the ground floor a door) in the south wall, each in an opening
        fillings = [("IfcWindow", 1.5, 1.2, 2.0, 0.9)] + ([("IfcDoor", 1.0, 2.1, 6.0, 0.0)] if level == 0 else [])
        for ifc_class, w, h, along, sill in fillings:
            opening = ifcopenshell.api.run(
                "root.create_entity", model, ifc_class="IfcOpeningElement", name=f"{ifc_class} opening"
            )
            rep = ifcopenshell.api.run(
                "geometry.add_wall_representation", model, context=body, length=w, height=h, thickness=t + 0.2
            )
            ifcopenshell.api.run("geometry.assign_representation", model, product=opening, representation=rep)
            _place(model, opening, along, -0.1, z + SLAB_DEPTH + sill)
            ifcopenshell.api.run("feature.add_feature", model, feature=opening, element=walls[0])
            filling = ifcopenshell.api.run(
                "root.create_entity", model, ifc_class=ifc_class, name=f"F{level + 1} {ifc_class[3:].lower()}"
            )
            maker = (
                "geometry.add_window_representation" if ifc_class == "IfcWindow" else "geometry.add_door_representation"
            )
            rep = ifcopenshell.api.run(maker, model, context=body, overall_height=h, overall_width=w)
            ifcopenshell.api.run("geometry.assign_representation", model, product=filling, representation=rep)
            filling.OverallHeight, filling.OverallWidth = h * 1000.0, w * 1000.0
            _place(model, filling, along, 0.0, z + SLAB_DEPTH + sill)
            ifcopenshell.api.run("feature.add_filling", model, opening=opening, element=filling)
            if ifc_class == "IfcWindow":
                ifcopenshell.api.run("material.assign_material", model, products=[filling], material=glass)
            contained.append(filling)

        space = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSpace", name=f"F{level + 1}-01")
        rep = ifcopenshell.api.run(
            "geometry.add_slab_representation",
            model,
            context=body,
            depth=storey_height - SLAB_DEPTH,
            polyline=[(t, t), (width - t, t), (width - t, depth - t), (t, depth - t)],
        )
        ifcopenshell.api.run("geometry.assign_representation", model, product=space, representation=rep)
        _place(model, space, 0, 0, z + SLAB_DEPTH)
        ifcopenshell.api.run("aggregate.assign_object", model, products=[space], relating_object=storey)
        pset = ifcopenshell.api.run("pset.add_pset", model, product=space, name="Pset_SpaceCommon")
        ifcopenshell.api.run(
            "pset.edit_pset", model, pset=pset, properties={"IsExternal": False, "Reference": "office"}
        )

        ifcopenshell.api.run("spatial.assign_container", model, products=contained, relating_structure=storey)

    roof = ifcopenshell.api.run("root.create_entity", model, ifc_class="IfcSlab", name="Roof")
    roof.PredefinedType = "ROOF"
    rep = ifcopenshell.api.run(
        "geometry.add_slab_representation",
        model,
        context=body,
        depth=SLAB_DEPTH,
        polyline=[(0.0, 0.0), (width, 0.0), (width, depth), (0.0, depth)],
    )
    ifcopenshell.api.run("geometry.assign_representation", model, product=roof, representation=rep)
    _place(model, roof, 0, 0, storeys * storey_height)
    ifcopenshell.api.run("spatial.assign_container", model, products=[roof], relating_structure=storey)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.write(str(path))
    return path
