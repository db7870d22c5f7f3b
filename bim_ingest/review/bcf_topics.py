"""A review's issues as BCF topics (one per failing element), with stable GUIDs: the same topic
in every export and through the BCF API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = uuid.UUID("6f1c3a52-2d0e-4c77-9b7e-5b0d6c1e8a41")
PROJECT_PREFIX = "review-"


def bcf_project_id(review_id: int) -> str:
    """The review's BCF project id: in the export's project.bcfp and in the BCF API's paths."""
    return f"{PROJECT_PREFIX}{review_id}"


@dataclass
class Comment:
    guid: str
    date: str
    author: str
    comment: str


@dataclass
class Topic:
    guid: str
    global_id: str
    title: str
    description: str
    topic_type: str  # Error | Warning
    status: str  # Open | Resolved
    labels: list[str]
    issue_ids: list[int]
    point: list[float]
    other_global_ids: list[str]
    created: str | None
    comments: list[Comment] = field(default_factory=list)

    @property
    def viewpoint_guid(self) -> str:
        return str(uuid.uuid5(NAMESPACE, f"{self.guid}:viewpoint"))


def topic_guid(review_id: int, global_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"review:{review_id}:{global_id}"))


def review_topics(document: dict[str, Any]) -> list[Topic]:
    """The review document's topics, in the order of their first issue."""
    by_element: dict[str, list[dict[str, Any]]] = {}
    for issue in document["issues"]:
        if issue["global_id"]:
            by_element.setdefault(issue["global_id"], []).append(issue)
    topics = []
    for global_id, issues in by_element.items():
        first = issues[0]
        rules = sorted({i["rule"] for i in issues})
        lines = [
            f"- [{i['severity']}] {i['rule']}: {i['message']}"
            + (
                f" (measured {i['measured']} {i['unit'] or ''}, limit {i['limit']})"
                if i["measured"] is not None
                else ""
            )
            for i in issues
        ]
        guid = topic_guid(document["id"], global_id)
        comments = [
            Comment(
                str(uuid.uuid5(NAMESPACE, f"{guid}:{issue['id']}:{n}")),
                entry["at"],
                entry["by"] or "review",
                entry["text"] if issue is first else f"{issue['rule']}: {entry['text']}",
            )
            for issue in issues
            for n, entry in enumerate(issue["comments"])
            if entry.get("text")
        ]
        topics.append(
            Topic(
                guid=guid,
                global_id=global_id,
                title=(f"{first['ifc_class'] or 'element'} {first['name'] or global_id}: " + ", ".join(rules))[:250],
                description=f"GlobalId {global_id}\n" + "\n".join(lines),
                topic_type="Error" if any(i["severity"] == "error" for i in issues) else "Warning",
                status="Resolved" if all(i["resolved"] for i in issues) else "Open",
                labels=rules,
                issue_ids=[i["id"] for i in issues],
                point=next((i["details"]["point_local"] for i in issues if i["details"].get("point_local")), [0, 0, 0]),
                other_global_ids=sorted(
                    {i["details"]["other_global_id"] for i in issues if i["details"].get("other_global_id")}
                ),
                created=document.get("created_at"),
                comments=sorted(comments, key=lambda c: c.date),
            )
        )
    return topics
