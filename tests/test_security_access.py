"""Least-necessary access: a BIM version not yet published is seen by its submitter, reviewers and
admins only; a job page by its owner and admins, without its parameters."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import text

from tests.fixtures_bim import _token_of

API = "/api/v1"


@pytest.fixture(scope="module")
def people(database) -> dict[str, dict[str, str]]:
    suffix = uuid.uuid4().hex[:6]
    return {
        "submitter": _token_of(f"sub-{suffix}", "engineer"),
        "other_engineer": _token_of(f"eng-{suffix}", "engineer"),
        "reviewer": _token_of(f"rev-{suffix}", "reviewer"),
        "admin": _token_of(f"adm-{suffix}", "admin"),
        "planner": _token_of(f"pln-{suffix}", "planner"),
        "anonymous": {},
        "_suffix": suffix,
    }


@pytest.fixture(scope="module")
def under_review(database, sample_ifc, people) -> dict:
    """The sample building ingested unpublished, as a review job of the submitter left it."""
    from bim_ingest.ingest import ingest_file

    summary = ingest_file(sample_ifc, model_name=f"under review {uuid.uuid4().hex[:6]}")
    job_id = uuid.uuid4()
    with database.begin() as conn:
        conn.execute(
            text(
                """INSERT INTO job (id, kind, status, stage, percent, params, result, username)
                   VALUES (:id, 'review.run', 'succeeded', 'done', 100, CAST(:params AS jsonb),
                           CAST(:result AS jsonb), :user)"""
            ),
            {
                "id": job_id,
                "params": json.dumps({"path": "/srv/uploads/secret.ifc", "sql": "SELECT * FROM person"}),
                "result": json.dumps({"model_version_id": summary["version_id"]}),
                "user": f"sub-{people['_suffix']}",
            },
        )
        status = conn.execute(text("SELECT status FROM bim_model_version WHERE id = :v"), {"v": summary["version_id"]})
        assert status.scalar_one() != "published"
    return summary | {"job_id": str(job_id)}


@pytest.mark.parametrize(
    ("who", "sees"),
    [
        ("submitter", True),
        ("reviewer", True),
        ("admin", True),
        ("other_engineer", False),
        ("planner", False),
        ("anonymous", False),
    ],
)
def test_an_unpublished_version_is_seen_by_its_submitter_reviewers_and_admins(client, people, under_review, who, sees):
    headers = people[who]
    model = under_review["model_id"]
    paths = [f"/bim/models/{model}", f"/bim/models/{model}/elements?full=true", f"/bim/models/{model}/tree"]
    statuses = [client.get(API + path, headers=headers).status_code for path in paths]
    assert statuses == ([200] * 3 if sees else [404] * 3)
    listed = {m["id"] for m in client.get(f"{API}/bim/models", headers=headers).json()["models"]}
    assert (model in listed) is sees
    if sees:
        elements = client.get(f"{API}/bim/models/{model}/elements", headers=headers).json()
        assert elements["total"] == under_review["elements"]


@pytest.mark.parametrize(
    ("who", "status"),
    [("submitter", 200), ("admin", 200), ("other_engineer", 403), ("planner", 403), ("anonymous", 401)],
)
def test_a_job_page_is_its_owners_and_admins(client, people, under_review, who, status):
    response = client.get(f"{API}/jobs/{under_review['job_id']}", headers=people[who])
    assert response.status_code == status, response.text
    if status == 200:
        assert "params" not in response.json() and "SELECT" not in response.text and "secret.ifc" not in response.text


def test_anonymous_callers_read_only_public_layers(client, role_headers, monkeypatch, sample_city):
    from core.settings import Settings, get_settings

    default = Settings.model_fields["public_layers"].default
    assert default == ["buildings", "parcels", "roads"]
    monkeypatch.setattr(get_settings(), "public_layers", default)
    protected = [
        "/collections/pipelines/items",
        "/collections/pipe_nodes/items",
        "/collections/tunnels/items",
        "/collections/sensors/items",
        "/collections/bim_elements/items",
        "/collections/pipelines/items/1",
        "/mvt/pipelines/14/13700/6600.pbf",
        "/tiles/pipelines/tileset.json",
        "/tiles/bim/tileset.json",
    ]
    for path in protected:
        response = client.get(API + path)
        assert response.status_code == 401, (path, response.status_code)
        assert client.get(API + path, headers=role_headers["planner"]).status_code != 401, path
    assert client.get(f"{API}/collections/buildings/items?limit=1").status_code == 200
