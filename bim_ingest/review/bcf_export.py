"""The review as a BCF 2.1 zip: one topic per failing element, with its GlobalId, a viewpoint at
the element (model coordinates), the issues in the description and reviewers' comments."""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bcf.v2 import model as mdl
from bcf.v2.bcfxml import BcfXml
from xsdata.models.datatype import XmlDateTime

AUTHOR = "review@cim.example"


def _when(text: str | None) -> XmlDateTime:
    moment = datetime.fromisoformat(text) if text else datetime.now(UTC)
    return XmlDateTime.from_datetime(moment)


def review_bcf(document: dict[str, Any]) -> bytes:
    """BCF 2.1 bytes for a review document (see :func:`service.review_document`)."""
    bcf = BcfXml.create_new(f"{document['project_code']} review {document['id']} round {document['round']}")
    by_element: dict[str, list[dict[str, Any]]] = {}
    for issue in document["issues"]:
        if issue["global_id"]:
            by_element.setdefault(issue["global_id"], []).append(issue)
    for global_id, issues in by_element.items():
        first = issues[0]
        title = f"{first['ifc_class'] or 'element'} {first['name'] or global_id}: " + ", ".join(
            sorted({i["rule"] for i in issues})
        )
        lines = [
            f"- [{i['severity']}] {i['rule']}: {i['message']}"
            + (
                f" (measured {i['measured']} {i['unit'] or ''}, limit {i['limit']})"
                if i["measured"] is not None
                else ""
            )
            for i in issues
        ]
        status = "Resolved" if all(i["resolved"] for i in issues) else "Open"
        kind = "Error" if any(i["severity"] == "error" for i in issues) else "Warning"
        topic = bcf.add_topic(title[:250], f"GlobalId {global_id}\n" + "\n".join(lines), AUTHOR, kind, status)
        topic.topic.labels = sorted({i["rule"] for i in issues})
        point = next((i["details"].get("point_local") for i in issues if i["details"].get("point_local")), [0, 0, 0])
        others = sorted({i["details"]["other_global_id"] for i in issues if i["details"].get("other_global_id")})
        topic.add_viewpoint_from_point_and_guids(np.array(point, dtype=float), global_id, *others)
        for issue in issues:
            for entry in issue["comments"]:
                if entry.get("text"):
                    topic.comments.append(
                        mdl.Comment(
                            date=_when(entry["at"]),
                            author=entry["by"] or AUTHOR,
                            comment=f"{issue['rule']}: {entry['text']}",
                            guid=str(uuid.uuid4()),
                        )
                    )
    with tempfile.TemporaryDirectory(prefix="cim-bcf-") as tmp:
        target = Path(tmp) / "review.bcf"
        bcf.save(target)
        return target.read_bytes()
