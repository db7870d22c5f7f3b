"""One placement rule for a model without georeferencing: the command line, the BIM upload and the
review upload all read CRS, origin and rotation with ``bim_ingest.georef.parse_override``."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from bim_ingest.georef import Override, parse_override
from core.errors import UserError


def test_a_placement_is_crs_and_east_north_height():
    assert parse_override("EPSG:4549", "497700, 3520200, 9.5", 15.0) == Override(
        "EPSG:4549", (497700.0, 3520200.0, 9.5), 15.0
    )
    assert parse_override("EPSG:4549", "1,2,3", None) == Override("EPSG:4549", (1.0, 2.0, 3.0), 0.0)
    assert parse_override(None, None, None) is None
    assert parse_override(None, None, 0.0) is None  # a form's default rotation alone places nothing


@pytest.mark.parametrize(
    ("crs", "origin", "rotation", "message"),
    [
        ("EPSG:4549", None, None, "give both"),
        (None, "1,2,3", None, "give both"),
        (None, None, 30.0, "--rotation needs"),
        ("EPSG:4549", "497700,3520200", None, "E,N,H"),  # no height: refused, never taken as 0 m
        ("EPSG:4549", "1,2,3,4", None, "E,N,H"),
        ("EPSG:4549", "a,b,c", None, "E,N,H"),
    ],
)
def test_an_incomplete_placement_is_refused(crs, origin, rotation, message):
    with pytest.raises(UserError, match=message):
        parse_override(crs, origin, rotation)


def test_a_placement_goes_through_a_job_unchanged():
    override = Override("EPSG:4549", (497700.0, 3520200.0, 9.0), 15.0)
    assert Override.from_params(override.as_params()) == override
    assert Override.from_params(None) is None


def test_both_uploads_refuse_the_same_origin(client, database, sample_city, engineer_headers, sample_ifc):
    """The BIM upload and the review upload answer an origin without height alike (before any job)."""
    with database.connect() as conn:
        project = conn.execute(text("SELECT code FROM project ORDER BY code LIMIT 1")).scalar_one()
        jobs_before = conn.execute(text("SELECT count(*) FROM job")).scalar_one()
    form = {"crs": "EPSG:4549", "origin": "497700,3520200"}
    files = {"file": ("p.ifc", sample_ifc.read_bytes())}
    bim = client.post("/api/v1/bim/models", headers=engineer_headers, files=files, data=form | {"name": "p"})
    review = client.post("/api/v1/reviews", headers=engineer_headers, files=files, data=form | {"project": project})
    assert bim.status_code == review.status_code == 400
    assert "E,N,H" in bim.json()["detail"] and "E,N,H" in review.json()["detail"]
    with database.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM job")).scalar_one() == jobs_before
