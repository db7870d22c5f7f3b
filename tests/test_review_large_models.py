"""The generated large models are what they claim: the element count per storey, types with
shared geometry, doors and windows filling openings, property sets the default rule sets ask."""

from __future__ import annotations

from collections import Counter

import ifcopenshell
import ifcopenshell.util.element

from bim_ingest.review import rule_sets
from bim_ingest.review.information import check_information, load_ids
from sample_models.large_models import FITTINGS, campus, elements_per_storey, tower


def test_tower_counts_openings_and_property_sets(tmp_path):
    storeys, rooms, fittings = 2, 3, 4
    result = tower(tmp_path / "tower.ifc", storeys=storeys, rooms=rooms, fittings=fittings)
    model = ifcopenshell.open(str(result["path"]))
    counts = Counter(e.is_a() for e in model.by_type("IfcElement"))
    per_storey = {
        "IfcWall": 2 * rooms * (rooms + 1),
        "IfcColumn": (rooms + 1) ** 2,
        "IfcSlab": 1,
        "IfcDoor": rooms * rooms,
        "IfcWindow": 4 * rooms,
        "IfcOpeningElement": rooms * rooms + 4 * rooms,
    }
    for f in range(fittings):
        per_storey[FITTINGS[f % len(FITTINGS)][0]] = per_storey.get(FITTINGS[f % len(FITTINGS)][0], 0) + rooms * rooms
    assert dict(counts) == {k: v * storeys for k, v in per_storey.items()}
    assert sum(counts.values()) == storeys * elements_per_storey(rooms, fittings) == result["elements"]
    # every door and window fills an opening that voids a wall
    for filling in model.by_type("IfcDoor") + model.by_type("IfcWindow"):
        [fills] = filling.FillsVoids
        assert fills.RelatingOpeningElement.VoidsElements[0].RelatingBuildingElement.is_a("IfcWall")
    # geometry shared through types: every wall's body maps its type's representation
    for wall in model.by_type("IfcWall"):
        [item] = wall.Representation.Representations[0].Items
        assert item.MappingSource in ifcopenshell.util.element.get_type(wall).RepresentationMaps
    assert ifcopenshell.util.element.get_psets(model.by_type("IfcWall")[0])["Pset_WallCommon"]["FireRating"]
    # it passes every default rule set
    for rule_set in rule_sets.rule_sets().values():
        if rule_set.ids_path:
            issues, _ = check_information(model, load_ids(rule_set.ids_path))
            assert issues == [], (rule_set.drawing_type, issues[:3])


def test_campus_has_its_buildings(tmp_path):
    result = campus(tmp_path / "campus.ifc", buildings=3, storeys=1, rooms=2, fittings=1)
    model = ifcopenshell.open(str(result["path"]))
    assert [b.Name for b in model.by_type("IfcBuilding")] == ["B1", "B2", "B3"]
    assert result["elements"] == 3 * elements_per_storey(2, 1)
