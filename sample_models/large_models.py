"""Models at real size for benchmarks: a tower (30 storeys) and a campus (several buildings),
100k–300k elements with property sets, types and openings, written with ``ifcopenshell.api``.

Each storey is a grid of ``rooms`` × ``rooms`` rooms of ROOM metres: walls on the grid lines (one
per room side, external ones with a window), columns at the nodes, a floor slab, a space per room
with its fire compartment, a door per room in an opening of its south wall, and ``fittings`` per
room (furniture, light fixtures, pipe segments in turn). Geometry is shared through types
(mapped representations); property sets sit on the types and, shared per storey, on the spaces.
The model is georeferenced like :func:`sample_models.ifc_models.author_building` and conforms to
the city's default IDS and the joint review's rule sets.

Projects, types, storeys, openings and relationships go through ``ifcopenshell.api``; the
per-element placements and mapped representations are written as plain entities (the API's
placement and type mapping cost ~10 ms per element, hours for 100k), each products placed
relative to its storey and contained before it is placed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.aggregate
import ifcopenshell.api.classification
import ifcopenshell.api.context
import ifcopenshell.api.feature
import ifcopenshell.api.geometry
import ifcopenshell.api.project
import ifcopenshell.api.pset
import ifcopenshell.api.root
import ifcopenshell.api.spatial
import ifcopenshell.api.unit
import ifcopenshell.guid

from sample_models.ifc_models import DEFAULT_EASTINGS, DEFAULT_NORTHINGS, _georeference, _place

ROOM = 6.0
STOREY_HEIGHT = 3.6
SLAB = 0.2
WALL = 0.2
COLUMN = 0.4  # square columns centred on the grid nodes; walls run between their faces
CLASSIFICATION = "GB/T 51269-2017"
FITTINGS = (  # class, type class, predefined type, size (x, y, z), height above the floor
    ("IfcFurniture", "IfcFurnitureType", "TABLE", (1.2, 0.8, 0.75), 0.0),
    ("IfcLightFixture", "IfcLightFixtureType", "DIRECTIONSOURCE", (0.6, 0.6, 0.1), 3.1),
    ("IfcPipeSegment", "IfcPipeSegmentType", "RIGIDSEGMENT", (1.0, 0.1, 0.1), 2.9),
)


@dataclass(frozen=True)
class Building:
    name: str
    x: float  # local metres of the building's south-west corner
    y: float
    storeys: int


def elements_per_storey(rooms: int, fittings: int) -> int:
    """IfcElements (openings included) one storey gets."""
    walls = 2 * rooms * (rooms + 1)
    return walls + (rooms + 1) ** 2 + 1 + 2 * rooms * rooms + 2 * 4 * rooms + fittings * rooms * rooms


class _Types:
    """The element types with their shared (mapped) geometry and property sets."""

    def __init__(self, model: ifcopenshell.file, body) -> None:
        self.model, self.body = model, body
        self.wall = {
            external: self._type(
                "IfcWallType",
                f"{'外墙' if external else '内墙'} wall 200",
                ifcopenshell.api.geometry.add_wall_representation(
                    model, context=body, length=ROOM - COLUMN, height=STOREY_HEIGHT - SLAB, thickness=WALL
                ),
                {"Pset_WallCommon": {"FireRating": "REI 120", "IsExternal": external, "LoadBearing": True}},
                "SOLIDWALL",
            )
            for external in (True, False)
        }
        self.column = self._type(
            "IfcColumnType", "柱 column 400", self._box(COLUMN, COLUMN, STOREY_HEIGHT - SLAB, True), {}, "COLUMN"
        )
        self.door = self._type(
            "IfcDoorType",
            "防火门 fire door 1000",
            self._box(1.0, WALL, 2.1),
            {"Pset_DoorCommon": {"FireRating": "乙级 FD1.0", "FireExit": True}},
            "DOOR",
        )
        self.window = self._type("IfcWindowType", "窗 window 1500", self._box(1.5, 0.08, 1.5), {}, "WINDOW")
        self.space = self._type(
            "IfcSpaceType", "房间 room", self._box(ROOM - WALL, ROOM - WALL, STOREY_HEIGHT - SLAB), {}, "INTERNAL"
        )
        self.fittings = [
            self._type(type_class, f"{cls[3:]} {i}", self._box(*size), {}, predefined)
            for i, (cls, type_class, predefined, size, _) in enumerate(FITTINGS)
        ]
        self.placer = _Placer(model)
        self.door_opening = self._box(1.0, WALL + 0.1, 2.1)
        self.window_opening = self._box(1.5, WALL + 0.1, 1.5)

    def _box(self, x: float, y: float, z: float, centred: bool = False):
        """An extruded rectangle x × y, z high (metres), from the local origin or centred on it."""
        points = [(0.0, 0.0), (x, 0.0), (x, y), (0.0, y)]
        if centred:
            points = [(px - x / 2, py - y / 2) for px, py in points]
        return ifcopenshell.api.geometry.add_slab_representation(
            self.model, context=self.body, depth=z, polyline=points
        )

    def _type(self, ifc_class: str, name: str, representation, psets: dict, predefined: str):
        element_type = ifcopenshell.api.root.create_entity(
            self.model, ifc_class=ifc_class, name=name, predefined_type=predefined
        )
        ifcopenshell.api.geometry.assign_representation(self.model, product=element_type, representation=representation)
        for pset_name, properties in psets.items():
            pset = ifcopenshell.api.pset.add_pset(self.model, product=element_type, name=pset_name)
            ifcopenshell.api.pset.edit_pset(self.model, pset=pset, properties=properties)
        return element_type


def author_large(
    path: str | Path,
    buildings: list[Building],
    *,
    rooms: int = 13,
    fittings: int = 13,
    eastings: float = DEFAULT_EASTINGS,
    northings: float = DEFAULT_NORTHINGS,
    height: float = 8.0,
    rotation_deg: float = 0.0,
) -> dict:
    """Write the buildings to ``path``; returns the path and the count of each IFC class written."""
    model = ifcopenshell.api.project.create_file(version="IFC4")
    project = ifcopenshell.api.root.create_entity(model, ifc_class="IfcProject", name="Large model")
    ifcopenshell.api.unit.assign_unit(model)  # millimetres
    context = ifcopenshell.api.context.add_context(model, context_type="Model")
    body = ifcopenshell.api.context.add_context(
        model, context_type="Model", context_identifier="Body", target_view="MODEL_VIEW", parent=context
    )
    site = ifcopenshell.api.root.create_entity(model, ifc_class="IfcSite", name="Site")
    ifcopenshell.api.aggregate.assign_object(model, products=[site], relating_object=project)
    _place(model, site, 0, 0, 0)
    _georeference(model, "EPSG:4549", eastings, northings, height, rotation_deg, site)
    system = ifcopenshell.api.classification.add_classification(model, classification=CLASSIFICATION)
    types = _Types(model, body)
    typed: dict = {}
    for building_spec in buildings:
        building = ifcopenshell.api.root.create_entity(model, ifc_class="IfcBuilding", name=building_spec.name)
        ifcopenshell.api.aggregate.assign_object(model, products=[building], relating_object=site)
        _place(model, building, building_spec.x, building_spec.y, 0)
        ifcopenshell.api.classification.add_reference(
            model, products=[building], identification="11-13 10 00", name="居住建筑", classification=system
        )
        lightning = ifcopenshell.api.pset.add_pset(model, product=building, name="CNPset_LightningProtection")
        ifcopenshell.api.pset.edit_pset(model, pset=lightning, properties={"Category": "第二类"})
        for level in range(building_spec.storeys):
            _storey(model, types, typed, building, building_spec, level, rooms, fittings)
    for element_type, members in typed.items():
        model.create_entity(
            "IfcRelDefinesByType",
            GlobalId=ifcopenshell.guid.new(),
            RelatedObjects=members,
            RelatingType=element_type,
        )
    path = Path(path)
    model.write(str(path))
    counts: dict[str, int] = {}
    for product in model.by_type("IfcProduct"):
        counts[product.is_a()] = counts.get(product.is_a(), 0) + 1
    return {"path": path, "counts": counts, "elements": len(model.by_type("IfcElement"))}


class _Placer:
    """Local placements relative to a storey (millimetres) and mapped type geometry, as plain entities."""

    def __init__(self, model: ifcopenshell.file) -> None:
        self.model = model
        self.axes = {
            angle: model.create_entity("IfcDirection", DirectionRatios=direction)
            for angle, direction in ((0.0, (1.0, 0.0, 0.0)), (90.0, (0.0, 1.0, 0.0)))
        }
        self.origin = model.create_entity("IfcCartesianPoint", Coordinates=(0.0, 0.0, 0.0))
        self.identity = model.create_entity("IfcCartesianTransformationOperator3D", LocalOrigin=self.origin)

    def place(self, product, relative_to, x: float, y: float, z: float, angle: float = 0.0) -> None:
        point = self.model.create_entity("IfcCartesianPoint", Coordinates=(x * 1000.0, y * 1000.0, z * 1000.0))
        axes = self.model.create_entity("IfcAxis2Placement3D", Location=point, RefDirection=self.axes[angle])
        product.ObjectPlacement = self.model.create_entity(
            "IfcLocalPlacement", PlacementRelTo=relative_to, RelativePlacement=axes
        )

    def mapped(self, product, element_type, context) -> None:
        """The product's body: an instance of its type's representation map."""
        source = element_type.RepresentationMaps[0]
        item = self.model.create_entity("IfcMappedItem", MappingSource=source, MappingTarget=self.identity)
        representation = self.model.create_entity(
            "IfcShapeRepresentation",
            ContextOfItems=context,
            RepresentationIdentifier="Body",
            RepresentationType="MappedRepresentation",
            Items=[item],
        )
        product.Representation = self.model.create_entity("IfcProductDefinitionShape", Representations=[representation])


def _storey(model, types: _Types, typed: dict, building, spec: Building, level: int, rooms: int, fittings: int) -> None:
    z = level * STOREY_HEIGHT
    storey = ifcopenshell.api.root.create_entity(model, ifc_class="IfcBuildingStorey", name=f"F{level + 1}")
    storey.Elevation = z * 1000.0
    ifcopenshell.api.aggregate.assign_object(model, products=[storey], relating_object=building)
    _place(model, storey, spec.x, spec.y, z)
    base = storey.ObjectPlacement
    placer = types.placer
    created = []

    def element(ifc_class: str, name: str, element_type, x: float, y: float, dz: float, angle: float = 0.0):
        product = ifcopenshell.api.root.create_entity(model, ifc_class=ifc_class, name=name)
        created.append((product, x, y, dz, angle))
        typed.setdefault(element_type, []).append(product)
        placer.mapped(product, element_type, types.body)
        return product

    openings = []

    def opening(wall, representation, x: float, y: float, dz: float, angle: float, filling) -> None:
        hole = ifcopenshell.api.root.create_entity(model, ifc_class="IfcOpeningElement", name="opening")
        mapped = ifcopenshell.api.geometry.map_representation(model, representation=representation)
        hole.Representation = model.create_entity("IfcProductDefinitionShape", Representations=[mapped])
        openings.append((hole, wall, filling, x, y, dz, angle))

    tag = f"F{level + 1}"
    slab = ifcopenshell.api.root.create_entity(model, ifc_class="IfcSlab", name=f"{tag} floor", predefined_type="FLOOR")
    side = rooms * ROOM
    representation = ifcopenshell.api.geometry.add_slab_representation(
        model, context=types.body, depth=SLAB, polyline=[(0.0, 0.0), (side, 0.0), (side, side), (0.0, side)]
    )
    ifcopenshell.api.geometry.assign_representation(model, product=slab, representation=representation)
    created.append((slab, 0.0, 0.0, 0.0, 0.0))
    for i in range(rooms + 1):
        for j in range(rooms + 1):
            element("IfcColumn", f"{tag} column {i}-{j}", types.column, i * ROOM, j * ROOM, SLAB)
    for line in range(rooms + 1):
        external = line in (0, rooms)
        for k in range(rooms):
            # along x on y = line·ROOM, along y on x = line·ROOM (turned 90°)
            start = k * ROOM + COLUMN / 2
            south = element("IfcWall", f"{tag} wall x{line}-{k}", types.wall[external], start, line * ROOM, SLAB)
            west = element("IfcWall", f"{tag} wall y{line}-{k}", types.wall[external], line * ROOM, start, SLAB, 90.0)
            if external:
                for wall, (x, y, angle) in (
                    (south, (k * ROOM + 2.2, line * ROOM - 0.05, 0.0)),
                    (west, (line * ROOM + 0.05, k * ROOM + 2.2, 90.0)),
                ):
                    window = element("IfcWindow", f"{tag} window", types.window, x, y, SLAB + 0.9, angle)
                    opening(wall, types.window_opening, x, y, SLAB + 0.9, angle, window)
            if line < rooms:  # each room's door in its south wall
                x, y = k * ROOM + 0.8, line * ROOM - 0.05
                door = element("IfcDoor", f"{tag} door", types.door, x, y, SLAB)
                opening(south, types.door_opening, x, y, SLAB, 0.0, door)
    spaces = []
    for i in range(rooms):
        for j in range(rooms):
            space = ifcopenshell.api.root.create_entity(model, ifc_class="IfcSpace", name=f"{tag}-{i}{j}")
            placer.mapped(space, types.space, types.body)
            spaces.append((space, i * ROOM + WALL / 2, j * ROOM + WALL / 2))
            typed.setdefault(types.space, []).append(space)
            for f in range(fittings):
                ifc_class, _, _, _, dz = FITTINGS[f % len(FITTINGS)]
                element(
                    ifc_class,
                    f"{tag} {ifc_class[3:]} {f}",
                    types.fittings[f % len(FITTINGS)],
                    i * ROOM + 0.6 + (f % 4) * 1.2,
                    j * ROOM + 0.6 + (f // 4) * 1.2,
                    SLAB + dz,
                )
    # contained and aggregated before they are placed: the API then has no placement to localise
    ifcopenshell.api.spatial.assign_container(model, products=[c[0] for c in created], relating_structure=storey)
    ifcopenshell.api.aggregate.assign_object(model, products=[s[0] for s in spaces], relating_object=storey)
    for product, x, y, dz, angle in created:
        placer.place(product, base, x, y, dz, angle)
    for space, x, y in spaces:
        placer.place(space, base, x, y, SLAB)
    for hole, wall, filling, x, y, dz, angle in openings:
        ifcopenshell.api.feature.add_feature(model, feature=hole, element=wall)
        ifcopenshell.api.feature.add_filling(model, opening=hole, element=filling)
        placer.place(hole, wall.ObjectPlacement, *_in_wall(x, y, dz, angle, wall))
    compartment = ifcopenshell.api.pset.add_pset(model, product=spaces[0][0], name="CNPset_FireCompartment")
    ifcopenshell.api.pset.edit_pset(
        model, pset=compartment, properties={"CompartmentId": f"{spec.name}-{tag}", "FireRating": "一级"}
    )
    ifcopenshell.api.pset.assign_pset(model, products=[s[0] for s in spaces[1:]], pset=compartment)


def _in_wall(x: float, y: float, dz: float, angle: float, wall) -> tuple[float, float, float, float]:
    """An opening's storey coordinates in its wall's frame (walls lie along x, or along y at 90°)."""
    location = wall.ObjectPlacement.RelativePlacement.Location.Coordinates
    wx, wy, wz = (c / 1000.0 for c in location)
    if angle == 0.0:
        return x - wx, y - wy, dz - wz, 0.0
    return y - wy, -(x - wx), dz - wz, 0.0


def tower(path: str | Path, storeys: int = 30, rooms: int = 13, fittings: int = 13) -> dict:
    """A tower of ``storeys`` storeys (30 × 13 × 13 rooms: about 100k elements)."""
    return author_large(path, [Building("Tower", 0.0, 0.0, storeys)], rooms=rooms, fittings=fittings)


def campus(path: str | Path, buildings: int = 8, storeys: int = 12, rooms: int = 12, fittings: int = 12) -> dict:
    """A campus of ``buildings`` buildings in a row of pairs, 30 m apart."""
    side = rooms * ROOM + 30.0
    layout = [Building(f"B{i + 1}", (i // 2) * side, (i % 2) * side, storeys) for i in range(buildings)]
    return author_large(path, layout, rooms=rooms, fittings=fittings)
