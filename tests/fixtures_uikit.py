"""Test fixtures for the viewer's UI kit (loaded by tests/conftest.py): one demo BIM model published
into the sample city with its tileset built (the kit's bundle: tests/fixtures_viewer.py's ui_bundle)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text


@pytest.fixture(scope="session")
def published_model(sample_city: dict, database: Engine) -> dict:
    """One demo model ingested and published on its project's parcel, the city's BIM tileset built;
    its id, project, name and its storeys ({name: element count}, from SQL) bottom up."""
    from spatial_api.pipelines import publish_demo_models
    from tiles.build import build_layer

    [model] = publish_demo_models(count=1)
    build_layer("bim_elements")
    with database.connect() as conn:
        row = conn.execute(
            text(
                "SELECT m.id, m.name, v.id FROM bim_model m JOIN bim_model_version v ON v.model_id = m.id"
                " WHERE m.id = :id ORDER BY v.version_no DESC LIMIT 1"
            ),
            {"id": model["model_id"]},
        ).one()
        storeys = conn.execute(
            text(
                "SELECT n.name, (SELECT count(*) FROM bim_element e WHERE e.version_id = n.version_id"
                " AND e.storey = n.name) FROM bim_spatial_node n WHERE n.version_id = :v"
                " AND n.ifc_class = 'IfcBuildingStorey' ORDER BY n.elevation_m"
            ),
            {"v": row[2]},
        ).all()
    return {"id": row[0], "name": row[1], "version_id": row[2], "project_code": model["project_code"],
            "storeys": dict(storeys)}  # fmt: skip
