"""The BIM API: upload as a job, read models, elements and trees; bad input answered clearly."""

from __future__ import annotations

import io
import uuid
import zipfile

import pytest
from sqlalchemy import text

from core.settings import get_settings
from tests.fixtures_bim import wait_for_job


def _versions(database) -> int:
    with database.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bim_model_version")).scalar_one()


def _upload(client, headers, filename: str, content: bytes, **fields):
    return client.post("/api/v1/bim/models", headers=headers, files={"file": (filename, content)}, data=fields)


def test_upload_ingests_and_reads_back(client, database, engineer_headers, sample_ifc):
    response = _upload(client, engineer_headers, "api-sample.ifc", sample_ifc.read_bytes(), name="api sample")
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["job_id"], engineer_headers)
    assert job["status"] == "succeeded", job
    assert job["percent"] == 100
    model_id = job["result"]["model_id"]

    model = client.get(f"/api/v1/bim/models/{model_id}").json()
    assert model["name"] == "api sample"
    assert model["versions"][-1]["elements"] == 35
    assert model["versions"][-1]["georef"]["method"] == "IfcMapConversion"

    walls = client.get(
        f"/api/v1/bim/models/{model_id}/elements", params={"ifc_class": "IfcWall", "storey": "F2"}
    ).json()
    assert walls["total"] == 4
    external = client.get(
        f"/api/v1/bim/models/{model_id}/elements",
        params={"property": ["Pset_WallCommon.IsExternal=true", "Pset_WallCommon.FireRating=REI90"]},
    ).json()
    assert external["total"] == 12
    assert {e["ifc_class"] for e in external["elements"]} == {"IfcWall"}
    none = client.get(
        f"/api/v1/bim/models/{model_id}/elements", params={"property": "Pset_WallCommon.FireRating=REI30"}
    ).json()
    assert none["total"] == 0

    gid = walls["elements"][0]["global_id"]
    element = client.get(f"/api/v1/bim/models/{model_id}/elements/{gid}").json()
    assert element["properties"]["Pset_WallCommon"]["FireRating"] == "REI90"
    assert element["footprint"]["type"] == "MultiPolygon"
    lon, lat = element["footprint"]["coordinates"][0][0][0]
    assert 119.9 < lon < 120.1 and 31.7 < lat < 31.9

    tree = client.get(f"/api/v1/bim/models/{model_id}/tree").json()["tree"]
    project = tree[0]
    building = project["children"][0]["children"][0]
    assert [s["name"] for s in building["children"]] == ["F1", "F2", "F3"]
    assert building["children"][0]["elements"] == 12  # 4 walls, a slab, 4 columns, a window, a door, a space
    with database.connect() as conn:
        audit = conn.execute(
            text("SELECT result FROM audit_log WHERE action = 'bim.upload' AND object LIKE 'api-sample.ifc%'")
        ).scalar_one()
    assert audit == "accepted"


def test_upload_needs_an_engineer(client, sample_ifc):
    assert _upload(client, {}, "x.ifc", sample_ifc.read_bytes()).status_code == 401


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.ifc", b"ISO-10303-21;\n" + b" " * (64 * 1024 * 1024))
    return buffer.getvalue()


NO_GEOMETRY = b"""ISO-10303-21;
HEADER;FILE_DESCRIPTION((''),'2;1');FILE_NAME('','',(''),(''),'','','');FILE_SCHEMA(('IFC4'));ENDSEC;
DATA;
#1=IFCPROJECT('0YvctVUKr0kugbFTf53O9L',$,'Empty',$,$,$,$,(#2),#5);
#2=IFCGEOMETRICREPRESENTATIONCONTEXT($,'Model',3,1.E-05,#3,$);
#3=IFCAXIS2PLACEMENT3D(#4,$,$);
#4=IFCCARTESIANPOINT((0.,0.,0.));
#5=IFCUNITASSIGNMENT((#6));
#6=IFCSIUNIT(*,.LENGTHUNIT.,$,.METRE.);
#7=IFCSITE('1BPCQAtTW7GhKrUF$Sytrr',$,'Site',$,$,$,$,$,.ELEMENT.,(31,48,0,0),(119,58,0,0),5.,$,$);
#8=IFCRELAGGREGATES('2vOmTZNmbvJAJRbSGMMNrC',$,$,$,#1,(#7));
ENDSEC;
END-ISO-10303-21;
"""


@pytest.mark.parametrize(
    ("label", "name", "content", "status", "message"),
    [
        ("not IFC", "photo.ifc", b"\x89PNG\r\n\x1a\n not a model", 422, "not an IFC file"),
        ("empty", "empty.ifc", b"", 422, "empty"),
        (
            "unknown schema",
            "future.ifc",
            NO_GEOMETRY.replace(b"'IFC4'", b"'IFC5'"),
            422,
            "schema IFC5 is not supported",
        ),
        ("zip bomb", "bomb.ifczip", None, 413, "zip bomb"),
        ("not a zip", "broken.ifczip", b"PK\x03\x04 broken", 422, "not an .ifczip"),
    ],
)
def test_bad_uploads_answered_at_once(
    client, database, engineer_headers, sample_ifc, label, name, content, status, message
):
    before = _versions(database)
    content = _zip_bomb() if content is None else content
    response = _upload(client, engineer_headers, name, content)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert message in response.json()["detail"]
    assert _versions(database) == before
    assert list(get_settings().uploads_dir.glob("*")) == []
    assert client.get("/api/v1/health").status_code == 200


def test_truncated_upload(client, database, engineer_headers, sample_ifc):
    before = _versions(database)
    data = sample_ifc.read_bytes()
    response = _upload(client, engineer_headers, "cut.ifc", data[: len(data) // 2])
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "truncated" in response.json()["detail"]
    assert _versions(database) == before
    assert list(get_settings().uploads_dir.glob("*")) == []
    assert client.get("/api/v1/health").status_code == 200


def test_over_the_size_limit(client, database, engineer_headers, sample_ifc, monkeypatch):
    monkeypatch.setattr(get_settings(), "upload_max_bytes", 10_000)
    before = _versions(database)
    response = _upload(client, engineer_headers, "big.ifc", sample_ifc.read_bytes())
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "over the limit of 10000 bytes" in response.json()["detail"]
    assert _versions(database) == before
    assert list(get_settings().uploads_dir.glob("*")) == []
    assert client.get("/api/v1/health").status_code == 200


def test_model_without_geometry_fails_the_job(client, database, engineer_headers):
    before = _versions(database)
    response = _upload(client, engineer_headers, "empty-model.ifc", NO_GEOMETRY)
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["job_id"], engineer_headers)
    assert job["status"] == "failed"
    assert "no geometry" in job["error"]
    assert _versions(database) == before
    assert client.get("/api/v1/health").status_code == 200


def test_model_without_georeferencing_fails_the_job(client, database, engineer_headers, shared_datasets):
    before = _versions(database)
    data = (shared_datasets / "ifc" / "IfcOpenHouse_IFC4.ifc").read_bytes()
    job = wait_for_job(client, _upload(client, engineer_headers, "house.ifc", data).json()["job_id"], engineer_headers)
    assert job["status"] == "failed"
    assert "no georeferencing" in job["error"] and "--crs/--origin" in job["error"]
    assert _versions(database) == before
    # the same model with the form's override ingests
    response = _upload(
        client, engineer_headers, "house.ifc", data, crs="EPSG:4549", origin="497700,3520200,9", rotation="15"
    )
    job = wait_for_job(client, response.json()["job_id"], engineer_headers)
    assert job["status"] == "succeeded", job
    assert job["result"]["georef"]["method"] == "override"
    assert job["result"]["georef"]["rotation_deg"] == 15


def test_unknown_job_is_404(client, engineer_headers):
    assert client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=engineer_headers).status_code == 404


def test_running_job_is_failed_after_restart(client, database, bim_admin_headers):
    """A job row left 'running' by a dead worker is failed with a reason when the server starts."""
    from fastapi.testclient import TestClient

    from core import jobs
    from spatial_api.app import create_app

    job_id = uuid.uuid4()
    with database.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO job (id, kind, status, stage, percent, params) "
                "VALUES (:id, 'bim.ingest', 'running', 'triangulating', 40, '{}')"
            ),
            {"id": job_id},
        )
    jobs.get_queue.cache_clear()  # a new server process has its own queue app
    with TestClient(create_app()) as restarted:
        job = restarted.get(f"/api/v1/jobs/{job_id}", headers=bim_admin_headers).json()
    assert job["status"] == "failed"
    assert "restart" in job["error"]
