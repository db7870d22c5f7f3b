"""Report formats, workflow (API, job, comments, return, approve), bad input, and the shared IFCs."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import ifcopenshell
import ifcopenshell.api.georeference
import pytest
from bcf.v2.bcfxml import BcfXml
from sqlalchemy import text

from bim_ingest.georef import Override
from bim_ingest.review.bcf_export import review_bcf
from bim_ingest.review.information import DEFAULT_IDS, load_ids
from bim_ingest.review.report_html import review_html
from bim_ingest.review.service import run_review
from core.errors import UserError
from sample_models.review_models import author_review_model
from tests.fixtures_review import ground_at, store_meshes
from tests.fixtures_tiles import property_strings, read_glb, walk_tiles

ROOT = Path(__file__).resolve().parent.parent


def _placement(site, **extra):
    x, y = site.spot
    return {"eastings": x, "northings": y, "height": ground_at(x, y), "rotation_deg": 0.0} | extra


def _bim_layer_ids() -> set[str]:
    """The feature ids in the city's ``bim_elements`` tiles, read from the tileset and its glb files on disk
    (EXT_structural_metadata property table), not through the tiler; none before it is built."""
    from core.settings import get_settings

    path = get_settings().tiles_dir / "bim_elements" / "tileset.json"
    if not path.exists():
        return set()
    tileset = json.loads(path.read_text())
    ids: set[str] = set()
    for tile, _, _ in walk_tiles(tileset["root"]):
        for content in [tile["content"]] if "content" in tile else tile.get("contents", []):
            ids |= set(property_strings(*read_glb(path.parent / content["uri"].split("?")[0]), "id"))
    return ids


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
    path.write_bytes(review_bcf(document, "2.1"))
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
    from core.db import session_scope
    from core.users import upsert_user

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
    x, y = review_site.spot
    first_ids = set(store_meshes(first["path"], x, y, placement["height"], 0.0))
    assert first_ids and not first_ids & _bim_layer_ids()  # a returned model is not in the city's layer

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
    # the approved version is in the city's BIM tiles, every element with a body; the returned one is not
    second_ids = set(store_meshes(second["path"], x, y, placement["height"], 0.0))
    assert second_ids and not second_ids & first_ids
    in_tiles = _bim_layer_ids()
    assert second_ids <= in_tiles
    assert not first_ids & in_tiles
    assert approved.json()["tiles"]["layer"] == "bim_elements"


def _cim(*args: str) -> subprocess.CompletedProcess:
    """The installed `cim` command against this session's database and data dir."""
    cim = Path(sys.executable).parent / "cim"
    return subprocess.run(
        [str(cim), *args], cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=300
    )


def test_cli_review_json(review_site, tmp_path, database):
    model = author_review_model(tmp_path / "cli.ifc", missing_fire_rating=True, storeys=1, **_placement(review_site))
    ids = tmp_path / "submitted.ids"
    ids.write_bytes(DEFAULT_IDS.read_bytes())
    done = _cim("review", str(model["path"]), "--project", review_site.project, "--ids", str(ids), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(done.stdout.strip().splitlines()) == 1  # one JSON object
    summary = json.loads(done.stdout)
    assert set(summary) == {
        "review_id",
        "project_code",
        "model_version_id",
        "round",
        "status",
        "passed",
        "counts",
        "planning",
        "diff",
        "seconds",
        "report",
    }
    fire = "ids:CIM-03 walls: fire rating and exterior flag"
    assert summary["project_code"] == review_site.project and summary["status"] == "in_review"
    assert summary["passed"] is False and summary["counts"]["by_rule"] == {fire: 1}
    assert summary["report"] == f"/api/v1/reviews/{summary['review_id']}"
    assert {c["rule"] for c in summary["planning"]} >= {"planning.inside_parcel", "planning.height"}
    with database.connect() as conn:
        stored = conn.execute(
            text(
                """SELECT r.status, r.report -> 'ids' ->> 'source', v.status, i.rule, i.global_id
                   FROM drawing_review r JOIN bim_model_version v ON v.id = r.model_version_id
                   JOIN review_issue i ON i.review_id = r.id WHERE r.id = :r"""
            ),
            {"r": summary["review_id"]},
        ).all()
    assert [tuple(row) for row in stored] == [
        ("in_review", "submitted.ids", "ingested", fire, model["wall_without_fire_rating"])
    ]


def test_cli_review_of_an_unknown_project_is_one_line_and_writes_nothing(review_site, tmp_path, database):
    model = author_review_model(tmp_path / "cli.ifc", storeys=1, **_placement(review_site))
    before = _versions(database)
    done = _cim("review", str(model["path"]), "--project", "NO-SUCH-PROJECT", "--json")
    assert done.returncode != 0 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "NO-SUCH-PROJECT" in lines[0]
    assert "does not exist" in lines[0]
    assert _versions(database) == before


def test_every_shared_ifc_gets_a_report(shared_datasets, review_site):
    x, y = review_site.spot
    override = Override("EPSG:4549", (x, y, ground_at(x, y)), 0.0)
    for path in sorted((shared_datasets / "ifc").glob("*.ifc")):
        document = run_review(path, review_site.project, override=override)
        report = document["report"]
        assert document["status"] == "in_review", path.name
        assert report["counts"]["issues"] == len(document["issues"]), path.name
        assert {s["rule"] for s in report["ids"]["specifications"]}, path.name
