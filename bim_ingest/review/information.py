"""Information checks with buildingSMART IDS (ifctester): the city's default delivery standard or
an IDS uploaded with the submission."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ifcopenshell
from ifctester import ids

from bim_ingest.review import rules
from bim_ingest.review.ids_words import requirement_zh
from bim_ingest.review.issues import Issue
from core.errors import UserError

DEFAULT_IDS = Path(__file__).parent / "rule_sets" / "city_delivery.ids"


def load_ids(path: str | Path | None = None) -> ids.Ids:
    """The IDS at ``path`` (validated against the IDS 1.0 XSD), or the city's default."""
    source = Path(path) if path is not None else DEFAULT_IDS
    if not source.is_file():
        raise UserError(f"IDS file {source} does not exist")
    try:
        spec = ids.open(str(source), validate=True)
    except ids.IdsXmlValidationError as exc:
        reason = str(exc.xml_error.reason or exc.xml_error.message).strip().splitlines()[0]
        raise UserError(f"{source.name} is not a valid IDS 1.0 document ({reason}): fix it or leave it out") from exc
    except Exception as exc:  # noqa: BLE001 - broken XML raises ParseError and friends
        raise UserError(f"{source.name} is not a valid IDS 1.0 document ({exc}): fix it or leave it out") from exc
    if not spec.specifications:
        raise UserError(f"{source.name} has no specifications: an IDS must say what to check")
    return spec


def check_information(model: ifcopenshell.file, spec: ids.Ids) -> tuple[list[Issue], list[dict[str, Any]]]:
    """One issue per element that fails a specification (its reasons joined); a required
    specification with nothing to apply to is an issue on the IfcProject."""
    spec.validate(model)
    project = model.by_type("IfcProject")
    project_id = project[0].GlobalId if project else None
    issues: list[Issue] = []
    summary: list[dict[str, Any]] = []
    for specification in spec.specifications:
        rule = (rules.IDS_PREFIX + specification.name)[:64]
        reasons: dict[int, list[tuple[str, str]]] = {}
        elements: dict[int, ifcopenshell.entity_instance] = {}
        for facet in specification.requirements:
            for failure in facet.failures:
                element = failure["element"]
                elements[element.id()] = element
                reasons.setdefault(element.id(), []).append(
                    (requirement_zh(facet), f"{facet.to_string('requirement')}: {failure['reason']}")
                )
        for key, element in elements.items():
            issues.append(
                Issue(
                    rule=rule,
                    severity=rules.ERROR,
                    message="；".join(zh for zh, _ in reasons[key]) + " / " + "; ".join(en for _, en in reasons[key]),
                    global_id=getattr(element, "GlobalId", None),
                    ifc_class=element.is_a(),
                    name=getattr(element, "Name", None),
                    details={"instructions": specification.instructions or None},
                )
            )
        if specification.minOccurs != 0 and not specification.applicable_entities:
            issues.append(
                Issue(
                    rule=rule,
                    severity=rules.ERROR,
                    message=(
                        f"模型中没有本条必需规定所适用的对象 / the model has nothing this required specification "
                        f"applies to: {specification.name}"
                    ),
                    global_id=project_id,
                    ifc_class="IfcProject",
                    details={"instructions": specification.instructions or None},
                )
            )
        summary.append(
            {
                "rule": rule,
                "description": specification.description or None,
                "passed": bool(specification.status),
                "applicable": len(specification.applicable_entities),
                "failed": len(elements) + int(specification.minOccurs != 0 and not specification.applicable_entities),
            }
        )
    return issues, summary
