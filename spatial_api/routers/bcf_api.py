"""A minimal BCF API 3.0 (buildingSMART) over drawing reviews: each review is a BCF project
``review-<id>`` whose topics are its failing elements; BCF clients list topics, comments and
viewpoints, and post comments, which land on the review's issues."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from bim_ingest.review import service
from bim_ingest.review.bcf_topics import PROJECT_PREFIX, Topic, review_topics
from core.errors import NotFound
from spatial_api import audit
from spatial_api.routers.reviews import reader, reviewer
from spatial_api.schemas.common import file_answer
from spatial_api.security import Principal

router = APIRouter(prefix="/bcf", tags=["BCF API 3.0"])
# The camera's offset from the element it looks at (model metres): south-west, above.
CAMERA_OFFSET = (-15.0, -15.0, 12.0)


class BcfVersion(BaseModel):
    version_id: str
    detailed_version: str


class Versions(BaseModel):
    versions: list[BcfVersion]


class Project(BaseModel):
    project_id: str
    name: str


class BcfTopic(BaseModel):
    guid: str
    server_assigned_id: str
    topic_type: str
    topic_status: str
    title: str
    labels: list[str]
    creation_date: str | None
    creation_author: str
    description: str


class BcfComment(BaseModel):
    guid: str
    date: str
    author: str
    comment: str
    topic_guid: str


class NewComment(BaseModel):
    comment: str = Field(..., min_length=1, max_length=4000)


class Point(BaseModel):
    x: float
    y: float
    z: float


class Camera(BaseModel):
    camera_view_point: Point
    camera_direction: Point
    camera_up_vector: Point
    field_of_view: float
    aspect_ratio: float


class Component(BaseModel):
    ifc_guid: str


class Visibility(BaseModel):
    default_visibility: bool


class Components(BaseModel):
    selection: list[Component]
    visibility: Visibility


class Snapshot(BaseModel):
    snapshot_type: str


class Viewpoint(BaseModel):
    guid: str
    perspective_camera: Camera
    components: Components
    snapshot: Snapshot


def _review_id(project_id: str) -> int:
    number = project_id.removeprefix(PROJECT_PREFIX)
    if not project_id.startswith(PROJECT_PREFIX) or not number.isdigit():
        raise NotFound(f"BCF project {project_id!r} does not exist: projects are named review-<review id>")
    return int(number)


def _topics(project_id: str) -> tuple[dict, list[Topic]]:
    document = service.review_document(_review_id(project_id))
    return document, review_topics(document)


def _topic(project_id: str, guid: str) -> tuple[dict, Topic]:
    document, topics = _topics(project_id)
    for topic in topics:
        if topic.guid == guid:
            return document, topic
    raise NotFound(f"BCF project {project_id} has no topic {guid}")


def _topic_json(topic: Topic) -> dict:
    return {
        "guid": topic.guid,
        "server_assigned_id": topic.global_id,
        "topic_type": topic.topic_type,
        "topic_status": topic.status,
        "title": topic.title,
        "labels": topic.labels,
        "creation_date": topic.created,
        "creation_author": "review@cim.example",
        "description": topic.description,
    }


def _comments(topic: Topic) -> list[dict]:
    return [
        {"guid": c.guid, "date": c.date, "author": c.author, "comment": c.comment, "topic_guid": topic.guid}
        for c in topic.comments
    ]


@router.get("/versions", response_model=Versions)
def versions() -> dict:
    return {
        "versions": [
            {"version_id": "3.0", "detailed_version": "https://github.com/buildingSMART/BCF-API/tree/release_3_0"}
        ]
    }


@router.get("/3.0/projects/{project_id}", response_model=Project)
def project(project_id: str, principal: Principal = Depends(reader)) -> dict:
    document = service.review_document(_review_id(project_id))
    return {"project_id": project_id, "name": f"{document['project_code']} review {document['id']}"}


@router.get("/3.0/projects/{project_id}/topics", response_model=list[BcfTopic])
def topics(project_id: str, principal: Principal = Depends(reader)) -> list[dict]:
    return [_topic_json(t) for t in _topics(project_id)[1]]


@router.get("/3.0/projects/{project_id}/topics/{topic_guid}", response_model=BcfTopic)
def topic(project_id: str, topic_guid: str, principal: Principal = Depends(reader)) -> dict:
    return _topic_json(_topic(project_id, topic_guid)[1])


@router.get("/3.0/projects/{project_id}/topics/{topic_guid}/comments", response_model=list[BcfComment])
def comments(project_id: str, topic_guid: str, principal: Principal = Depends(reader)) -> list[dict]:
    return _comments(_topic(project_id, topic_guid)[1])


@router.post("/3.0/projects/{project_id}/topics/{topic_guid}/comments", status_code=201, response_model=BcfComment)
def post_comment(
    project_id: str, topic_guid: str, body: NewComment, request: Request, principal: Principal = Depends(reviewer)
) -> dict:
    """A comment on the topic: it becomes a reviewer's comment on the topic's first issue."""
    document, found = _topic(project_id, topic_guid)
    service.annotate_issue(document["id"], found.issue_ids[0], principal.username, body.comment)
    audit.record("review.bcf_comment", f"review:{document['id']}/topic:{topic_guid}", principal, request)
    _, found = _topic(project_id, topic_guid)
    mine = [c for c in _comments(found) if c["author"] == principal.username and c["comment"] == body.comment]
    return mine[-1]


@router.get("/3.0/projects/{project_id}/topics/{topic_guid}/viewpoints", response_model=list[Viewpoint])
def viewpoints(project_id: str, topic_guid: str, principal: Principal = Depends(reader)) -> list[dict]:
    """One viewpoint per topic: a camera looking at the element (model coordinates), the element selected."""
    _, found = _topic(project_id, topic_guid)
    x, y, z = found.point
    dx, dy, dz = CAMERA_OFFSET
    length = (dx * dx + dy * dy + dz * dz) ** 0.5
    return [
        {
            "guid": found.viewpoint_guid,
            "perspective_camera": {
                "camera_view_point": {"x": x + dx, "y": y + dy, "z": z + dz},
                "camera_direction": {"x": -dx / length, "y": -dy / length, "z": -dz / length},
                "camera_up_vector": {"x": 0.0, "y": 0.0, "z": 1.0},
                "field_of_view": 60.0,
                "aspect_ratio": 1.0,
            },
            "components": {
                "selection": [{"ifc_guid": g} for g in [found.global_id, *found.other_global_ids]],
                "visibility": {"default_visibility": True},
            },
            "snapshot": {"snapshot_type": "png"},
        }
    ]


@router.get(
    "/3.0/projects/{project_id}/topics/{topic_guid}/viewpoints/{viewpoint_guid}/snapshot",
    response_class=Response,
    responses=file_answer("image/png"),
)
def snapshot(project_id: str, topic_guid: str, viewpoint_guid: str, principal: Principal = Depends(reader)) -> Response:
    """The viewpoint's snapshot: a plan of the model with the topic's elements in red."""
    from bim_ingest.review.snapshot import plan_snapshots
    from core.db import session_scope

    document, found = _topic(project_id, topic_guid)
    if viewpoint_guid != found.viewpoint_guid or document["model_version_id"] is None:
        raise NotFound(f"topic {topic_guid} has no viewpoint {viewpoint_guid}")
    with session_scope() as session:
        png = plan_snapshots(
            session, document["model_version_id"], {"x": [found.global_id, *found.other_global_ids]}
        ).get("x")
    if png is None:
        raise NotFound(f"the model of review {document['id']} has no footprints to draw")
    return Response(png, media_type="image/png")
