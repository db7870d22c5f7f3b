"""What one click on an element should show (class, type, storey, materials, property sets,
quantities, classification) and the spatial tree."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import ifcopenshell
import ifcopenshell.util.classification
import ifcopenshell.util.element
import ifcopenshell.util.unit

from bim_ingest.forked import CAN_FORK, ForkedPipe, dump


def _jsonable(value: Any) -> Any:
    """A property value as JSON: IfcOpenShell's entity ids dropped, tuples as lists, the rest as text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if k != "id"}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


def _clean(psets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Property sets without IfcOpenShell's entity ids, with JSON-safe values."""
    return _jsonable(psets)


def _definitions(obj: ifcopenshell.entity_instance) -> list[ifcopenshell.entity_instance]:
    if obj.is_a("IfcTypeObject"):
        return list(obj.HasPropertySets or ())
    found: list[ifcopenshell.entity_instance] = []
    for rel in getattr(obj, "IsDefinedBy", None) or ():
        if rel.is_a("IfcRelDefinesByProperties"):
            definition = rel.RelatingPropertyDefinition
            found += definition.wrappedValue if definition.is_a("IfcPropertySetDefinitionSet") else [definition]
    return found


def _property_sets(element: ifcopenshell.entity_instance) -> tuple[dict[str, Any], dict[str, Any]]:
    """Property sets and quantity sets in one pass (what ``get_psets(psets_only)`` and
    ``get_psets(qtos_only)`` give, at half the cost): the type's first, the occurrence's win."""
    psets: dict[str, Any] = {}
    qtos: dict[str, Any] = {}
    element_type = ifcopenshell.util.element.get_type(element)
    for obj in (element_type, element) if element_type is not None else (element,):
        for definition in _definitions(obj):
            if definition.is_a("IfcElementQuantity"):
                target = qtos
            elif definition.is_a("IfcPropertySet") or definition.is_a("IfcPreDefinedPropertySet"):
                target = psets
            else:
                continue
            target.setdefault(definition.Name, {}).update(ifcopenshell.util.element.get_property_definition(definition))
    return psets, qtos


@dataclass
class ElementInfo:
    ifc_class: str
    predefined_type: str | None
    name: str | None
    storey: str | None
    materials: list[str] | None
    properties: dict[str, Any]
    quantities: dict[str, Any]


def describe(element: ifcopenshell.entity_instance) -> ElementInfo:
    """Semantic data of a product; type property sets are inherited, occurrence values win."""
    storey = ifcopenshell.util.element.get_container(element, ifc_class="IfcBuildingStorey")
    parent = ifcopenshell.util.element.get_aggregate(element)
    while storey is None and parent is not None:
        storey = parent if parent.is_a("IfcBuildingStorey") else None  # spaces are parts of their storey
        parent = ifcopenshell.util.element.get_aggregate(parent)
    materials = sorted({m.Name for m in ifcopenshell.util.element.get_materials(element) if getattr(m, "Name", None)})
    psets, qtos = _property_sets(element)
    properties = _clean(psets)
    predefined = ifcopenshell.util.element.get_predefined_type(element)
    references = ifcopenshell.util.classification.get_references(element)
    if references:
        properties["Classification"] = {
            "references": [
                {
                    "system": getattr(ifcopenshell.util.classification.get_classification(r), "Name", None),
                    "identification": getattr(r, "Identification", None) or getattr(r, "ItemReference", None),
                    "name": r.Name,
                }
                for r in references
            ]
        }
    return ElementInfo(
        ifc_class=element.is_a(),
        predefined_type=str(predefined) if predefined else None,
        name=getattr(element, "Name", None),
        storey=storey.Name if storey is not None else None,
        materials=materials or None,
        properties=properties,
        quantities=_clean(qtos),
    )


Describe = Callable[[ifcopenshell.entity_instance], ElementInfo]


_ID = struct.Struct("<i")


class Descriptions:
    """The products' descriptions, made by a forked child: they do not depend on the geometry, so
    the child describes the products the ingest asks for (:meth:`request`, as their meshes arrive) while
    the ingest places their geometry, and :meth:`of` takes each one (duplex.ifc: 1.2 ms per product
    off the ingest's own core). The child describes in the order asked, so no more than the
    requested products' descriptions are ever held (describing ahead in the file's order held most of
    a large model's descriptions until the kernel reached them). Without ``os.fork`` (or with
    ``separate_process=False``) products are described here, when taken.
    """

    def __init__(
        self,
        products: dict[int, ifcopenshell.entity_instance],
        describe_product: Describe = describe,
        *,
        separate_process: bool = True,
    ) -> None:
        self._products = products
        self._describe = describe_product
        self._requested: set[int] = set()
        self._pipe: ForkedPipe | None = None
        if separate_process and CAN_FORK:
            self._requests_in, self._requests_out = os.pipe()
            self._pipe = ForkedPipe(self._produce, "description")
            os.close(self._requests_in)

    def __enter__(self) -> Descriptions:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pipe is not None:
            os.close(self._requests_out)
            self._pipe.close()

    def _produce(self, out: BinaryIO) -> None:
        os.close(self._requests_out)
        try:
            with os.fdopen(self._requests_in, "rb") as requests:
                while request := requests.read(_ID.size):
                    (product_id,) = _ID.unpack(request)
                    dump((product_id, self._describe(self._products[product_id])), out)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
            dump((None, f"{type(exc).__name__}: {exc}"), out)

    def request(self, product_ids: list[int]) -> None:
        """Ask the child to describe these products next (taken with :meth:`of`, in this order)."""
        if self._pipe is None:
            return
        wanted = [i for i in product_ids if i in self._products and i not in self._requested]
        self._requested.update(wanted)
        if wanted:
            os.write(self._requests_out, b"".join(_ID.pack(i) for i in wanted))

    def of(self, product: ifcopenshell.entity_instance) -> ElementInfo:
        """The product's description: the child's if requested (in the order requested), else made here."""
        product_id = product.id()
        if self._pipe is None or product_id not in self._requested:
            return self._describe(product)
        self._requested.discard(product_id)
        key, value = self._pipe.load()
        if key is None:
            raise RuntimeError(f"describing the products failed: {value}")
        if key != product_id:
            raise RuntimeError(f"descriptions taken out of order: #{product_id} asked, #{key} came")
        return value


@dataclass
class SpatialNode:
    global_id: str
    parent_global_id: str | None
    ifc_class: str
    name: str | None
    elevation_m: float | None


def spatial_tree(model: ifcopenshell.file) -> list[SpatialNode]:
    """Project, sites, buildings (facilities), storeys and spaces, parents first."""
    unit = ifcopenshell.util.unit.calculate_unit_scale(model)
    spatial = "IfcSpatialStructureElement" if model.schema == "IFC2X3" else "IfcSpatialElement"
    nodes: list[SpatialNode] = []
    seen: set[str] = set()

    def visit(obj: ifcopenshell.entity_instance, parent: str | None) -> None:
        if obj.GlobalId in seen:
            return
        seen.add(obj.GlobalId)
        elevation = getattr(obj, "Elevation", None) if obj.is_a("IfcBuildingStorey") else None
        nodes.append(
            SpatialNode(
                obj.GlobalId, parent, obj.is_a(), obj.Name, None if elevation is None else float(elevation) * unit
            )
        )
        for rel in getattr(obj, "IsDecomposedBy", ()):
            for child in rel.RelatedObjects:
                if child.is_a(spatial):
                    visit(child, obj.GlobalId)

    for project in model.by_type("IfcProject"):
        visit(project, None)
    return nodes
