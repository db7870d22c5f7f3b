"""Report formats, workflow (API, job, comments, return, approve), bad input, and the shared IFCs."""

from __future__ import annotations

import io
import time
import zipfile

import ifcopenshell
import ifcopenshell.api.georeference
import pytest
from bcf.v2.bcfxml import BcfXml
from sqlalchemy import text

from bim_ingest.georef import Override
from bim_ingest.review.bcf_export import review_bcf
from bim_ingest.review.information import load_ids
from bim_ingest.review.report_html import review_html
from bim_ingest.review.service import run_review
from sample_models.review_models import author_review_model
from spatial_api.errors import UserError
from tests.fixtures_review import ground_at


def _placement(site, **extra):
    x, y = site.spot
    return {"eastings": x, "northings": y, "height": ground_at(x, y), "rotation_deg": 0.0} | extra


def _versions(database) -> int:
    with database.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM bim_model_version")).scalar_one()


def test_bcf_has_one_topic_per_failing_element(review_site, tmp_path):
    x, y = review_site.spot
    # 2 m over the parcel's corner-free spot would be planning; here: IDS failures on several walls
    model = author_review_model(tmp_path / "m.ifc", missing_fire_rating=True, storeys=1, **_placement(review_site))
    ifc = ifcopenshell.open(str(model["path"]))
    for storey in ifc.by_type("IfcBuildingStorey"):
        storey.Name = "Level 1"  # breaks the storey naming rule as well
    ifc.write(str(model["path"]))
    document = run_review(model["path"], review_site.project)
    failing = {i["global_id"] for i in document["issues"]}
    assert model["wall_without_fire_rating"] in failing and len(failing) == 2
    path = tmp_path / "review.bcf"
    path.write_bytes(review_bcf(document))
    bcf = BcfXml.load(path)
    topics = list(bcf.topics.values())
    assert len(topics) == len(failing)
    seen = set()
    for topic in topics:
        assert len(topic.viewpoints) == 1
        viewpoint = next(iter(topic.viewpoints.values()))
        selected = {c.ifc_guid for c in viewpoint.visualization_info.components.selection.component}
        seen |= selected & failing
    assert seen == failing
    html = review_html(document)
    assert model["wall_without_fire_rating"] in html and "<table>" in html


def test_bad_input_is_a_clear_error_and_writes_nothing(review_site, tmp_path, database):
    model = author_review_model(tmp_path / "m.ifc", storeys=1, **_placement(review_site))
    before = _versions(database)
    with pytest.raises(UserError, match="does not exist"):
        run_review(model["path"], "NO-SUCH-PROJECT")
    bad_ids = tmp_path / "bad.ids"
    bad_ids.write_text("<ids xmlns='http://standards.buildingsmart.org/IDS'><info/></ids>")
    with pytest.raises(UserError, match="not a valid IDS"):
        run_review(model["path"], review_site.project, ids_path=bad_ids)
    ifc = ifcopenshell.open(str(model["path"]))
    ifcopenshell.api.georeference.remove_georeferencing(ifc)
    bare = tmp_path / "bare.ifc"
    ifc.write(str(bare))
    with pytest.raises(UserError, match="georef|override|placement"):
        run_review(bare, review_site.project)
    assert _versions(database) == before


def test_uploaded_ids_replaces_the_default(review_site, tmp_path):
    from ifctester import ids

    spec = ids.Ids(title="columns only")
    check = ids.Specification(name="columns are load bearing", minOccurs=1)
    check.applicability.append(ids.Entity(name="IFCCOLUMN"))
    check.requirements.append(ids.Property(propertySet="Pset_ColumnCommon", baseName="LoadBearing"))
    spec.specifications.append(check)
    path = tmp_path / "columns.ids"
    spec.to_xml(str(path))
    load_ids(path)
    model = author_review_model(tmp_path / "m.ifc", storeys=1, **_placement(review_site))
    document = run_review(model["path"], review_site.project, ids_path=path)
    columns = {c.GlobalId for c in ifcopenshell.open(str(model["path"])).by_type("IfcColumn")}
    assert {i["global_id"] for i in document["issues"]} == columns
    assert document["report"]["ids"]["source"] == "columns.ids"


def _token(client, database, role: str) -> dict:
    from spatial_api.db import session_scope
    from spatial_api.users import upsert_user

    with session_scope() as session:
        upsert_user(session, f"rv-{role}", f"rv-{role}-pw", role)
    answer = client.post("/api/v1/auth/token", data={"username": f"rv-{role}", "password": f"rv-{role}-pw"})
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _submit(client, headers, path, project) -> dict:
    with open(path, "rb") as fh:
        answer = client.post(
            "/api/v1/reviews", headers=headers, data={"project": project}, files={"file": (path.name, fh)}
        )
    assert answer.status_code == 202, answer.text
    job_url = answer.json()["job"]
    for _ in range(600):
        job = client.get(job_url, headers=headers).json()
        if job["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    return job["result"]


def test_api_workflow_return_then_approve(client, database, review_site, tmp_path):
    engineer = _token(client, database, "engineer")
    planner = _token(client, database, "planner")
    placement = _placement(review_site, name="Workflow building")  # a resubmission keeps the file name
    first = author_review_model(tmp_path / "v1" / "building.ifc", missing_fire_rating=True, storeys=2, **placement)
    result = _submit(client, planner, first["path"], review_site.project)
    review = client.get(result["report"], headers=planner).json()
    assert review["status"] == "in_review" and review["report"]["passed"] is False
    assert client.get(f"/api/v1/reviews/{review['id']}/report.html", headers=planner).status_code == 200
    bcf = client.get(f"/api/v1/reviews/{review['id']}/report.bcf", headers=planner)
    assert zipfile.ZipFile(io.BytesIO(bcf.content)).namelist()
    issue = review["issues"][0]
    # a planner may not decide; an engineer may not approve with open errors
    assert (
        client.post(f"/api/v1/reviews/{review['id']}/decision", headers=planner, json={"action": "return"}).status_code
        == 403
    )
    refused = client.post(f"/api/v1/reviews/{review['id']}/decision", headers=engineer, json={"action": "approve"})
    assert refused.status_code == 409 and refused.headers["content-type"].startswith("application/problem+json")
    noted = client.patch(
        f"/api/v1/reviews/{review['id']}/issues/{issue['id']}", headers=engineer, json={"comment": "fill FireRating"}
    )
    assert noted.status_code == 200 and noted.json()["comment"] == "fill FireRating"
    returned = client.post(
        f"/api/v1/reviews/{review['id']}/decision", headers=engineer, json={"action": "return", "comment": "fix it"}
    ).json()
    assert returned["status"] == "returned" and returned["model_status"] == "ingested"

    second = author_review_model(tmp_path / "v2" / "building.ifc", storeys=2, **placement)
    result = _submit(client, planner, second["path"], review_site.project)
    review2 = client.get(result["report"], headers=planner).json()
    assert review2["round"] == 2 and review2["report"]["passed"] is True
    diff = review2["report"]["diff"]
    assert diff["from_version_id"] == review["model_version_id"]
    assert diff["counts"]["added"] + diff["counts"]["removed"] > 0  # new GlobalIds: authored again
    approved = client.post(f"/api/v1/reviews/{review2['id']}/decision", headers=engineer, json={"action": "approve"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved" and approved.json()["model_status"] == "published"
    with database.connect() as conn:
        statuses = dict(
            conn.execute(
                text("SELECT id, status FROM bim_model_version WHERE id IN (:a, :b)"),
                {"a": review["model_version_id"], "b": review2["model_version_id"]},
            ).all()
        )
    assert statuses == {review["model_version_id"]: "ingested", review2["model_version_id"]: "published"}


def test_every_shared_ifc_gets_a_report(shared_datasets, review_site):
    x, y = review_site.spot
    override = Override("EPSG:4549", (x, y, ground_at(x, y)), 0.0)
    for path in sorted((shared_datasets / "ifc").glob("*.ifc")):
        document = run_review(path, review_site.project, override=override)
        report = document["report"]
        assert document["status"] == "in_review", path.name
        assert report["counts"]["issues"] == len(document["issues"]), path.name
        assert {s["rule"] for s in report["ids"]["specifications"]}, path.name
