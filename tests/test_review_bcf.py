"""BCF 3.0 export (2.1 on request) with a snapshot per topic and the IFC file in the header, read
back strictly with the BCF 3.0 data model; and the BCF API 3.0: a client lists topics, comments
and viewpoints and posts a comment that the review then shows."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import ifcopenshell
import numpy as np
import pytest
import xmlschema
from bcf.v3 import model as bcf3
from lxml import etree
from PIL import Image
from xsdata.formats.dataclass.parsers import XmlParser
from xsdata.formats.dataclass.parsers.config import ParserConfig

from bim_ingest.review.service import run_review
from sample_models.review_models import author_review_model
from tests.fixtures_review import spot_placement

STRICT = XmlParser(config=ParserConfig(fail_on_unknown_properties=True, fail_on_unknown_attributes=True))


@pytest.fixture(scope="module")
def reviewed(review_site, tmp_path_factory):
    """A reviewed model with two failing elements: a wall without FireRating and a misnamed storey."""
    folder = tmp_path_factory.mktemp("bcf")
    model = author_review_model(folder / "bcf.ifc", missing_fire_rating=True, storeys=1, **spot_placement(review_site))
    ifc = ifcopenshell.open(str(model["path"]))
    storey = ifc.by_type("IfcBuildingStorey")[0]
    storey.Name = "Level 1"
    ifc.write(str(model["path"]))
    document = run_review(model["path"], review_site.project)
    expected = {model["wall_without_fire_rating"], storey.GlobalId}
    assert {i["global_id"] for i in document["issues"]} == expected
    return document, expected, ifc.by_type("IfcProject")[0].GlobalId


def _red_share(png: bytes) -> float:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)
    return float(np.mean((pixels[:, 0] > 180) & (pixels[:, 1] < 90) & (pixels[:, 2] < 90)))


def test_bcf_3_export_reads_back_strictly_with_snapshots_and_the_ifc_header(reviewed, client, role_headers):
    document, expected, project_guid = reviewed
    answer = client.get(f"/api/v1/reviews/{document['id']}/report.bcf", headers=role_headers["engineer"])
    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert STRICT.from_bytes(archive.read("bcf.version"), bcf3.Version).version_id == "3.0"
    STRICT.from_bytes(archive.read("project.bcfp"), bcf3.ProjectInfo)
    markups = [n for n in archive.namelist() if n.endswith("/markup.bcf")]
    assert len(markups) == len(expected)
    selected = set()
    for name in markups:
        folder = name.rsplit("/", 1)[0]
        markup = STRICT.from_bytes(archive.read(name), bcf3.Markup)
        [file] = markup.header.files.file
        assert file.filename == document["file_name"] and file.ifc_project == project_guid
        [viewpoint] = markup.topic.viewpoints.view_point
        visinfo = STRICT.from_bytes(archive.read(f"{folder}/{viewpoint.viewpoint}"), bcf3.VisualizationInfo)
        guids = {c.ifc_guid for c in visinfo.components.selection.component}
        selected |= guids
        png = archive.read(f"{folder}/{viewpoint.snapshot}")
        assert png.startswith(b"\x89PNG")
        wall = guids & {i["global_id"] for i in document["issues"] if i["ifc_class"] == "IfcWall"}
        if wall:  # an element with a footprint is drawn in red; the storey has none
            assert _red_share(png) > 0.001
    assert selected == expected
    old = client.get(
        f"/api/v1/reviews/{document['id']}/report.bcf", params={"version": "2.1"}, headers=role_headers["engineer"]
    )
    assert b'VersionId="2.1"' in zipfile.ZipFile(io.BytesIO(old.content)).read("bcf.version")


SCHEMA_OF = {
    "bcf.version": "version.xsd",
    "project.bcfp": "project.xsd",
    "extensions.xml": "extensions.xsd",
    "documents.xml": "documents.xsd",
    ".bcfv": "visinfo.xsd",
    "markup.bcf": "markup.xsd",
}


def _schema_of(name: str) -> str | None:
    return next((xsd for suffix, xsd in SCHEMA_OF.items() if name.endswith(suffix)), None)


def _validate_archive(content: bytes, folder: Path) -> dict[str, list[str]]:
    """Every XML file of a BCF zip against buildingSMART's XSD of its kind: errors by file name."""
    archive = zipfile.ZipFile(io.BytesIO(content))
    schemas: dict[str, xmlschema.XMLSchema] = {}
    found = {}
    for name in archive.namelist():
        xsd = _schema_of(name)
        if xsd is None:
            assert name.endswith(("/", ".png")), f"unexpected file {name} in the BCF zip"
            continue
        schema = schemas.setdefault(xsd, xmlschema.XMLSchema(str(folder / xsd)))
        found[name] = [str(e.reason) for e in schema.iter_errors(archive.read(name).decode())]
    return found


def test_bcf_3_export_validates_against_buildingsmart_xsds(reviewed, client, role_headers, bcf_schemas):
    document, expected, _ = reviewed
    headers = role_headers["engineer"]
    content = client.get(f"/api/v1/reviews/{document['id']}/report.bcf", headers=headers).content
    errors = _validate_archive(content, bcf_schemas["3.0"])
    names = set(errors)
    # every kind of file is there and checked: one markup and one viewpoint per topic
    assert {"bcf.version", "project.bcfp", "extensions.xml"} <= names
    assert len([n for n in names if n.endswith("/markup.bcf")]) == len(expected)
    assert len([n for n in names if n.endswith(".bcfv")]) == len(expected)
    assert {n: e for n, e in errors.items() if e} == {}
    # the schema bites: a markup without its required Title fails
    archive = zipfile.ZipFile(io.BytesIO(content))
    markup_name = next(n for n in names if n.endswith("/markup.bcf"))
    broken = etree.fromstring(archive.read(markup_name))
    title = broken.find("Topic/Title")
    title.getparent().remove(title)
    markup_schema = xmlschema.XMLSchema(str(bcf_schemas["3.0"] / "markup.xsd"))
    assert not markup_schema.is_valid(etree.tostring(broken).decode())
    # what the topics use is declared in extensions.xml, and the ids are the BCF API's
    extensions = etree.fromstring(archive.read("extensions.xml"))
    declared = {e.tag: {c.text for c in e} for e in extensions}
    project_id = etree.fromstring(archive.read("project.bcfp")).find("Project").get("ProjectId")
    assert project_id == f"review-{document['id']}"
    api_topics = {
        t["guid"]: t for t in client.get(f"/api/v1/bcf/3.0/projects/{project_id}/topics", headers=headers).json()
    }
    for name in (n for n in names if n.endswith("/markup.bcf")):
        topic = etree.fromstring(archive.read(name)).find("Topic")
        assert topic.get("TopicType") in declared["TopicTypes"]
        assert topic.get("TopicStatus") in declared["TopicStatuses"]
        assert {label.text for label in topic.iter("Label")} <= declared["TopicLabels"]
        assert topic.find("CreationAuthor").text in declared["Users"]
        [viewpoint] = topic.iter("ViewPoint")
        [api_viewpoint] = client.get(
            f"/api/v1/bcf/3.0/projects/{project_id}/topics/{topic.get('Guid')}/viewpoints", headers=headers
        ).json()
        assert topic.get("Guid") in api_topics and viewpoint.get("Guid") == api_viewpoint["guid"]
    # the same review as BCF 2.1 validates against the 2.1 XSDs
    old = client.get(f"/api/v1/reviews/{document['id']}/report.bcf", params={"version": "2.1"}, headers=headers).content
    old_errors = _validate_archive(old, bcf_schemas["2.1"])
    assert len([n for n in old_errors if n.endswith("/markup.bcf")]) == len(expected)
    assert {n: e for n, e in old_errors.items() if e} == {}


def test_bcf_api_lists_topics_and_a_posted_comment_appears_in_the_review(reviewed, client, role_headers):
    document, expected, _ = reviewed
    headers = role_headers["engineer"]
    assert client.get("/api/v1/bcf/versions").json()["versions"][0]["version_id"] == "3.0"
    base = f"/api/v1/bcf/3.0/projects/review-{document['id']}"
    topics = client.get(f"{base}/topics", headers=headers).json()
    assert {t["server_assigned_id"] for t in topics} == expected
    export = zipfile.ZipFile(
        io.BytesIO(client.get(f"/api/v1/reviews/{document['id']}/report.bcf", headers=headers).content)
    )
    assert {t["guid"] for t in topics} == {n.split("/")[0] for n in export.namelist() if n.endswith("/markup.bcf")}
    wall_id = next(i["global_id"] for i in document["issues"] if i["ifc_class"] == "IfcWall")
    wall = next(t for t in topics if t["server_assigned_id"] == wall_id)
    assert client.get(f"{base}/topics/{wall['guid']}/comments", headers=headers).json() == []
    posted = client.post(
        f"{base}/topics/{wall['guid']}/comments", headers=headers, json={"comment": "补充防火等级 add FireRating"}
    )
    assert posted.status_code == 201, posted.text
    assert posted.json()["comment"] == "补充防火等级 add FireRating" and posted.json()["author"] == "engineer"
    listed = client.get(f"{base}/topics/{wall['guid']}/comments", headers=headers).json()
    assert [c["guid"] for c in listed] == [posted.json()["guid"]]
    review = client.get(f"/api/v1/reviews/{document['id']}", headers=headers).json()
    issue = next(i for i in review["issues"] if i["global_id"] == wall_id)
    assert issue["comment"] == "补充防火等级 add FireRating"
    assert [(c["by"], c["text"]) for c in issue["comments"]] == [("engineer", "补充防火等级 add FireRating")]
    [viewpoint] = client.get(f"{base}/topics/{wall['guid']}/viewpoints", headers=headers).json()
    assert [c["ifc_guid"] for c in viewpoint["components"]["selection"]] == [wall_id]
    png = client.get(f"{base}/topics/{wall['guid']}/viewpoints/{viewpoint['guid']}/snapshot", headers=headers)
    assert png.status_code == 200 and _red_share(png.content) > 0.001
    # a planner may read but not comment; an unknown project is a 404
    assert (
        client.post(
            f"{base}/topics/{wall['guid']}/comments", headers=role_headers["planner"], json={"comment": "x"}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/bcf/3.0/projects/nonsense/topics", headers=headers).status_code == 404
