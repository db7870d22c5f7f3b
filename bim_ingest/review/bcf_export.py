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
from bcf.v2.visinfo import VisualizationInfoHandler as Visinfo2
from bcf.v3 import bcfxml as bcf3
from bcf.v3 import model as mdl3
from bcf.v3.topic import TopicHandler as Topic3
from bcf.v3.visinfo import VisualizationInfoHandler as Visinfo3
from xsdata.models.datatype import XmlDateTime

from bim_ingest.review.bcf_topics import Topic, bcf_project_id, review_topics

AUTHOR = "review@cim.example"
BcfVersion = Literal["2.1", "3.0"]


def _when(text: str | None) -> XmlDateTime:
    moment = datetime.fromisoformat(text) if text else datetime.now(UTC)
    return XmlDateTime.from_datetime(moment)


def _extensions(topics: list[Topic]) -> mdl3.Extensions:
    """BCF 3.0's extensions.xml: every topic type, status, label and user the topics carry."""
    types = sorted({t.topic_type for t in topics} | {"Error", "Warning"})
    statuses = sorted({t.status for t in topics} | {"Open", "Resolved"})
    return mdl3.Extensions(
        topic_types=mdl3.ExtensionsTopicTypes(topic_type=types),
        topic_statuses=mdl3.ExtensionsTopicStatuses(topic_status=statuses),
        topic_labels=mdl3.ExtensionsTopicLabels(topic_label=sorted({label for t in topics for label in t.labels}))
        if any(t.labels for t in topics)
        else None,
        users=mdl3.ExtensionsUsers(user=sorted({AUTHOR} | {c.author for t in topics for c in t.comments})),
    )


def review_bcf(
    document: dict[str, Any],
    version: BcfVersion = "3.0",
    snapshots: dict[str, bytes] | None = None,
    ifc_project: str | None = None,
) -> bytes:
    """BCF bytes for a review document (see :func:`service.review_document`); ``snapshots`` are
    PNGs by topic GlobalId, ``ifc_project`` the model's IfcProject GlobalId for the header."""
    v3 = version == "3.0"
    bcfxml, mdl, handler, visinfo = (bcf3, mdl3, Topic3, Visinfo3) if v3 else (bcf2, mdl2, Topic2, Visinfo2)
    topics = review_topics(document)
    bcf = bcfxml.BcfXml.create_new(f"{document['project_code']} review {document['id']} round {document['round']}")
    # the project id is the BCF API's, and the topics' and viewpoints' GUIDs are stable: the same in every export
    bcf.project_info.project.project_id = bcf_project_id(document["id"])
    if v3:
        bcf.extensions = _extensions(topics)
    for item in topics:
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
        viewpoint = visinfo.create_from_point_and_guids(
            np.array(item.point, dtype=float), item.global_id, *item.other_global_ids, xml_handler=bcf._xml_handler
        )
        viewpoint.visualization_info.guid = item.viewpoint_guid
        png = (snapshots or {}).get(item.global_id)
        if png:
            viewpoint.snapshot = png
        topic.add_visinfo_handler(viewpoint, f"{item.viewpoint_guid}.png" if png else None)  # type: ignore[arg-type]
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
