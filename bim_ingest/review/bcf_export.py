"""The review as a BCF zip, 3.0 (default) or 2.1: one topic per failing element, with its
GlobalId, a viewpoint at the element (model coordinates) and a snapshot (a plan with the element
in red), the issues in the description, reviewers' comments, and (3.0) the IFC file in the
topic's header."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
from bcf.v2 import bcfxml as bcf2
from bcf.v2 import model as mdl2
from bcf.v2.topic import TopicHandler as Topic2
from bcf.v3 import bcfxml as bcf3
from bcf.v3 import model as mdl3
from bcf.v3.topic import TopicHandler as Topic3
from xsdata.models.datatype import XmlDateTime

from bim_ingest.review.bcf_topics import review_topics

AUTHOR = "review@cim.example"
BcfVersion = Literal["2.1", "3.0"]


def _when(text: str | None) -> XmlDateTime:
    moment = datetime.fromisoformat(text) if text else datetime.now(UTC)
    return XmlDateTime.from_datetime(moment)


def _last_viewpoint(topic: Topic2 | Topic3) -> mdl2.ViewPoint | mdl3.ViewPoint:
    """The reference to the topic's newest viewpoint (BCF 3 keeps them in the topic, 2.1 in the markup)."""
    if isinstance(topic, Topic3):
        entries: list[mdl2.ViewPoint] | list[mdl3.ViewPoint] = (
            topic.topic.viewpoints.view_point if topic.topic.viewpoints else []
        )
    else:
        entries = topic.markup.viewpoints if topic.markup else []
    if not entries:
        raise ValueError(f"BCF topic {topic.guid} has no viewpoint")
    return entries[-1]


def review_bcf(
    document: dict[str, Any],
    version: BcfVersion = "3.0",
    snapshots: dict[str, bytes] | None = None,
    ifc_project: str | None = None,
) -> bytes:
    """BCF bytes for a review document (see :func:`service.review_document`); ``snapshots`` are
    PNGs by topic GlobalId, ``ifc_project`` the model's IfcProject GlobalId for the header."""
    v3 = version == "3.0"
    bcfxml, mdl, handler = (bcf3, mdl3, Topic3) if v3 else (bcf2, mdl2, Topic2)
    bcf = bcfxml.BcfXml.create_new(f"{document['project_code']} review {document['id']} round {document['round']}")
    for item in review_topics(document):
        # bcf's own TopicHandler.create_new passes a pathlib.Path too: its zipfile.Path annotation is too narrow
        topic = handler(topic_dir=Path(item.guid), xml_handler=bcf._xml_handler)  # type: ignore[arg-type]
        fields = dict(
            guid=item.guid,
            title=item.title,
            description=item.description,
            creation_author=AUTHOR,
            creation_date=_when(item.created),
            topic_type=item.topic_type,
            topic_status=item.status,
        )
        if v3:
            topic.markup = mdl.Markup(topic=mdl.Topic(**fields, labels=mdl.TopicLabels(label=item.labels)))
        else:
            topic.markup = mdl.Markup(topic=mdl.Topic(**fields, labels=item.labels))
        if v3 and document.get("file_name"):
            topic.header = mdl.Header(
                files=mdl.HeaderFiles(
                    file=[
                        mdl.File(
                            filename=document["file_name"],
                            date=_when(document.get("created_at")),
                            reference=f"/api/v1/bim/versions/{document['model_version_id']}",
                            ifc_project=ifc_project,
                            is_external=True,
                        )
                    ]
                )
            )
        viewpoint = topic.add_viewpoint_from_point_and_guids(
            np.array(item.point, dtype=float), item.global_id, *item.other_global_ids
        )
        png = (snapshots or {}).get(item.global_id)
        if png:
            viewpoint.snapshot = png
            _last_viewpoint(topic).snapshot = f"{viewpoint.guid}.png"
        comments = [
            mdl.Comment(date=_when(c.date), author=c.author, comment=c.comment, guid=c.guid) for c in item.comments
        ]
        topic.comments = comments
        bcf.topics[item.guid] = topic
    with tempfile.TemporaryDirectory(prefix="cim-bcf-") as tmp:
        target = Path(tmp) / "review.bcf"
        bcf.save(target)
        return target.read_bytes()


def stored_review_bcf(review_id: int, version: BcfVersion = "3.0") -> bytes:
    """The stored review as BCF, with a plan snapshot per topic and the model's IfcProject."""
    from sqlalchemy import select

    from bim_ingest.review.service import review_document
    from bim_ingest.review.snapshot import plan_snapshots
    from core.db import session_scope
    from core.models import BimSpatialNode

    document = review_document(review_id)
    topics = review_topics(document)
    snapshots: dict[str, bytes] = {}
    project = None
    if document["model_version_id"] is not None:
        with session_scope() as session:
            wanted = {t.global_id: [t.global_id, *t.other_global_ids] for t in topics}
            snapshots = plan_snapshots(session, document["model_version_id"], wanted)
            project = session.scalar(
                select(BimSpatialNode.global_id).where(
                    BimSpatialNode.version_id == document["model_version_id"], BimSpatialNode.ifc_class == "IfcProject"
                )
            )
    return review_bcf(document, version, snapshots, project)
