"""IDS information checks: the city's default IDS, an uploaded one, a malformed one."""

from __future__ import annotations

import ifcopenshell
import ifcopenshell.util.element
import pytest

from bim_ingest.review import rules
from bim_ingest.review.information import DEFAULT_IDS, check_information, load_ids
from core.errors import UserError


def test_default_ids_is_valid_ids_1_0():
    spec = load_ids()
    assert DEFAULT_IDS.is_file()
    assert len(spec.specifications) == 4


@pytest.mark.parametrize(
    "text", ["<ids><oops", "<?xml version='1.0'?><ids xmlns='http://standards.buildingsmart.org/IDS'/>"]
)
def test_malformed_ids_is_a_clear_error(tmp_path, text):
    bad = tmp_path / "bad.ids"
    bad.write_text(text)
    with pytest.raises(UserError, match="not a valid IDS"):
        load_ids(bad)


def test_walls_without_fire_rating_are_found_per_element(shared_datasets):
    model = ifcopenshell.open(str(shared_datasets / "ifc" / "AC20-FZK-Haus.ifc"))
    issues, summary = check_information(model, load_ids())
    walls = [w for w in model.by_type("IfcWall")]
    expected = {
        w.GlobalId
        for w in walls
        if not {"FireRating", "IsExternal"} <= set(ifcopenshell.util.element.get_psets(w).get("Pset_WallCommon", {}))
    }
    found = {i.global_id for i in issues if i.rule == rules.IDS_PREFIX + "CIM-03 walls: fire rating and exterior flag"}
    assert expected and found == expected
    storeys = {s.GlobalId for s in model.by_type("IfcBuildingStorey") if s.Name not in ("RF",)}
    found_storeys = {i.global_id for i in issues if i.rule.startswith(rules.IDS_PREFIX + "CIM-02")}
    assert found_storeys == storeys  # German storey names do not follow B<n>/F<n>/RF
    assert {s["rule"]: s["passed"] for s in summary}[rules.IDS_PREFIX + "CIM-01 required classes: building"]
