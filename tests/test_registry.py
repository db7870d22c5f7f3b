"""The layer registry and the vocabularies: they agree with the database's CHECK constraints, keep
credit and housing-safety grades apart, are served as GET /api/v1/layers, and a new utility and a
new layer written only into (copies of) their files reach every consumer."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mapbox_vector_tile
import pytest
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"


def _check_values(conn, table: str, column: str) -> set[str]:
    """The values a CHECK constraint of the database allows in ``table.column`` (from pg_constraint)."""
    definitions = conn.execute(
        text(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = CAST(:t AS regclass) AND contype = 'c'"
        ),
        {"t": table},
    ).scalars()
    found = [d for d in definitions if re.match(rf"CHECK \(+\(?{column}\)?(::text)? (=|IN)", d)]
    assert len(found) == 1, (table, column, found)
    return set(re.findall(r"'([^']*)'", found[0]))


def test_every_vocabulary_equals_the_check_constraints_of_the_database(database):
    """Each vocabulary's codes are exactly what its CHECK constraints allow in the migrated database,
    and what the ORM models declare."""
    from core import vocab
    from core.models import Base

    checked = 0
    with database.connect() as conn:
        for name, words in vocab.vocabularies().items():
            for check in words.checks:
                assert _check_values(conn, check.table, check.column) == set(words.codes), (name, check)
                model = Base.metadata.tables[check.table]
                declared = [
                    set(re.findall(r"'([^']*)'", str(c.sqltext)))
                    for c in model.constraints
                    if type(c).__name__ == "CheckConstraint" and str(c.sqltext).startswith(f"{check.column} IN")
                ]
                assert declared == [set(words.codes)], (name, check)
                checked += 1
    assert checked >= 10
    assert {"utilities", "grades_credit", "grades_safety", "stages", "enterprise_types", "node_kinds"} <= set(
        vocab.vocabularies()
    )


def test_credit_and_safety_grades_keep_their_own_labels_and_colours(client, sample_city):
    from core import vocab

    credit, safety = vocab.get("grades_credit"), vocab.get("grades_safety")
    assert credit.codes == safety.codes == ("A", "B", "C", "D")
    for code in credit.codes:
        c, s = credit.term(code), safety.term(code)
        assert c.label != s.label and c.color != s.color
        assert "危" not in c.label.zh and "失信" not in s.label.zh
    answers = {
        theme: client.get(f"{API}/thematic/buildings", params={"theme": theme}).json()
        for theme in ("safety_grade", "contractor_grade")
    }
    assert answers["safety_grade"]["legend"]["D"]["label"] == {"zh": "D级（危房）", "en": "D (dangerous building)"}
    assert answers["contractor_grade"]["legend"]["D"]["label"]["zh"] == "D 严重失信"
    assert answers["safety_grade"]["legend"] != answers["contractor_grade"]["legend"]


def test_layers_endpoint_serves_the_registry_and_the_vocabularies(client):
    from core import vocab
    from core.registry import registry
    from tiles.sources import names

    response = client.get(f"{API}/layers")
    assert response.status_code == 200
    answer = response.json()
    assert [la["name"] for la in answer["layers"]] == list(registry().names())
    tiled = [la["name"] for la in answer["layers"] if la["tiles"]]
    assert tiled == names() and "tunnel_compartments" in tiled and "pipe_nodes" in tiled
    assert set(answer["vocabularies"]) == set(vocab.vocabularies())
    utilities = answer["vocabularies"]["utilities"]["entries"]
    streetlight = next(u for u in utilities if u["code"] == "streetlight")
    assert streetlight["label"] == {"zh": "路灯", "en": "Street lighting"} and streetlight["color"] == "#FF7F7F"
    assert not any("sql" in json.dumps(la).lower() for la in answer["layers"]), "SQL stays on the server"
    uses = {e["code"]: e["label"]["zh"] for e in answer["vocabularies"]["building_uses"]["entries"]}
    assert uses["public"] == "公共服务"
    schema = client.get("/openapi.json").json()
    ref = schema["paths"][f"{API}/layers"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ref["$ref"].endswith("/LayersOut")


# A made-up layer (gas mains: gas pipes of DN300 and more, picked before anything else) and a made-up
# utility (hydrogen), written only into copies of the registry and the vocabularies.
MADE_UP_LAYER = {
    "name": "gas_mains",
    "title": {"zh": "燃气主干管", "en": "Gas mains"},
    "description": {"zh": "管径 300 毫米及以上的燃气管", "en": "Gas pipes of DN300 and more"},
    "source": "(SELECT id, utility, diameter_mm, geom FROM pipeline WHERE utility = 'gas' AND diameter_mm >= 300)",
    "id_column": "id",
    "geometry": "ST_Force2D(geom)",
    "properties": [
        {"name": "id", "type": "text", "label": {"zh": "编号", "en": "ID"}},
        {"name": "utility", "type": "text", "label": {"zh": "管线类别", "en": "Utility"}, "vocab": "utilities"},
        {"name": "diameter_mm", "type": "float", "label": {"zh": "管径（毫米）", "en": "Diameter (mm)"}},
    ],
    "identifiable": True,
    "pick": {"order": 0, "tolerance_m": 2.0},
    "mvt": True,
    "underground": True,
    "tiles": {
        "builder": "pipes",
        "class": "gas_main",
        "sql": "SELECT id, ST_AsBinary(geom) AS _wkb, utility, diameter_mm FROM pipeline "
        "WHERE utility = 'gas' AND diameter_mm >= 300 ORDER BY id",
        "properties": ["id", "utility", "diameter_mm"],
    },
}
MADE_UP_STYLE = {"style": {"property": "utility", "vocab": "utilities", "filter": True}}
MADE_UP_UTILITY = {
    "code": "hydrogen",
    "label": {"zh": "氢气", "en": "Hydrogen"},
    "color": "#00FFFF",
    "cover_depth_m": 1.2,
    "clearance_class": "gas",
}

# Run in a fresh process pointed at the copies: every consumer, as the server and the CLI build them.
PROBE = """
import json, sys
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from spatial_api.app import create_app
from spatial_api.cli import _register_groups, app as cli
from core.models.network import UTILITIES
from gis.analysis import clearance, identify
from tiles import sources
from tiles.build import build_layer

spec = json.loads(sys.argv[1])
client = TestClient(create_app())
z, x, y = spec["tile"]
tile = client.get(f"/api/v1/mvt/gas_mains/{z}/{x}/{y}.pbf")
_register_groups()
runner = CliRunner()
built = build_layer("gas_mains")
print(json.dumps({
    "collections": [c["id"] for c in client.get("/api/v1/collections").json()["collections"]],
    "items": [f["id"] for f in client.get("/api/v1/collections/gas_mains/items?limit=10000").json()["features"]],
    "mvt_status": tile.status_code,
    "mvt_hex": tile.content.hex(),
    "pick_order": list(identify.PICK_ORDER),
    "identify_by_id": client.get("/api/v1/query/identify", params={"layer": "gas_mains", "id": spec["id"]}).json(),
    "identify_at": client.get("/api/v1/query/identify", params={"lon": spec["lon"], "lat": spec["lat"]}).json(),
    "tile_layers": sources.names(),
    "pipeline_materials": [m["name"] for m in sources.layer("pipelines").materials],
    "built": {"features": built["features"], "layer": built["layer"]},
    "tiles_help": runner.invoke(cli, ["tiles", "build", "--help"], terminal_width=400).output,
    "import_help": runner.invoke(cli, ["gis", "import", "--help"], terminal_width=400).output,
    "layers": client.get("/api/v1/layers").json(),
    "style": client.get("/api/v1/styles/gas_mains.json").json(),
    "model_utilities": list(UTILITIES),
    "hydrogen_clearance_class": clearance.base_class("hydrogen"),
}))
"""


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.glob("*.json")))).hexdigest()


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    import math

    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


@pytest.fixture(scope="module")
def made_up(sample_city, rows, to_lonlat, tmp_path_factory, database) -> dict:
    """The probe's answers with the made-up layer and utility, and what SQL says they must hold."""
    shipped = {name: ROOT / "core" / name for name in ("registry", "vocab")} | {"styles": ROOT / "styles"}
    before = {name: _digest(folder) for name, folder in shipped.items()}
    copies = tmp_path_factory.mktemp("made-up")
    for name, folder in shipped.items():
        shutil.copytree(folder, copies / name, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    layers_file = copies / "registry" / "layers.json"
    document = json.loads(layers_file.read_text(encoding="utf-8"))
    document["layers"].append(MADE_UP_LAYER)
    layers_file.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    (copies / "styles" / "gas_mains.json").write_text(json.dumps(MADE_UP_STYLE), encoding="utf-8")
    utilities_file = copies / "vocab" / "utilities.json"
    utilities = json.loads(utilities_file.read_text(encoding="utf-8"))
    utilities["entries"].append(MADE_UP_UTILITY)
    utilities_file.write_text(json.dumps(utilities, ensure_ascii=False), encoding="utf-8")

    mains = rows(
        """SELECT id, ST_AsBinary(ST_LineInterpolatePoint(ST_Force2D(geom), 0.5)) AS wkb_mid
             FROM pipeline WHERE utility = 'gas' AND diameter_mm >= 300 ORDER BY id"""
    )
    assert mains, "the sample city has gas mains of DN300 and more"
    first = mains[0]
    at = to_lonlat(first["wkb_mid"])
    z = 17
    x, y = _tile_of(at.x, at.y, z)
    spec = {"id": first["id"], "lon": at.x, "lat": at.y, "tile": [z, x, y]}
    env = os.environ | {f"CIM_{name.upper()}_DIR": str(copies / name) for name in shipped}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(spec)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert {name: _digest(folder) for name, folder in shipped.items()} == before, "no shipped file was edited"
    return {"answer": json.loads(done.stdout.strip().splitlines()[-1]), "mains": [m["id"] for m in mains], **spec}


def test_a_made_up_layer_reaches_collections_mvt_identify_tiles_the_cli_and_the_layers_endpoint(made_up):
    answer, mains = made_up["answer"], made_up["mains"]
    assert "gas_mains" in answer["collections"]
    assert sorted(answer["items"]) == sorted(mains)
    assert answer["mvt_status"] == 200
    decoded = mapbox_vector_tile.decode(bytes.fromhex(answer["mvt_hex"]))
    assert made_up["id"] in {f["properties"]["id"] for f in decoded["gas_mains"]["features"]}
    assert answer["pick_order"][0] == "gas_mains"
    assert (answer["identify_by_id"]["layer"], answer["identify_by_id"]["id"]) == ("gas_mains", made_up["id"])
    assert answer["identify_by_id"]["feature"]["properties"]["utility"] == "gas"
    assert (answer["identify_at"]["layer"], answer["identify_at"]["id"]) == ("gas_mains", made_up["id"])
    assert "gas_mains" in answer["tile_layers"]
    assert answer["built"] == {"features": len(mains), "layer": "gas_mains"}
    assert "gas_mains" in answer["tiles_help"]
    layer = next(la for la in answer["layers"]["layers"] if la["name"] == "gas_mains")
    assert layer["title"] == MADE_UP_LAYER["title"] and layer["tiles"]["class_name"] == "gas_main"
    assert layer["style"]["vocab"] == "utilities" and answer["style"]["extras"]["layer"] == "gas_mains"


def test_a_made_up_utility_reaches_the_vocabulary_the_models_the_tiles_and_the_cli(made_up, database):
    answer = made_up["answer"]
    assert "hydrogen" in answer["import_help"]
    assert "hydrogen" in answer["pipeline_materials"]
    assert "hydrogen" in answer["model_utilities"]
    assert answer["hydrogen_clearance_class"] == "gas"
    served = answer["layers"]["vocabularies"]["utilities"]["entries"]
    assert next(u for u in served if u["code"] == "hydrogen")["label"] == MADE_UP_UTILITY["label"]
    assert ["${utility} === 'hydrogen'", f"color('{MADE_UP_UTILITY['color']}', 1)"] in answer["style"]["color"][
        "conditions"
    ]
    # ...and a migration: the database's CHECK constraints do not hold it yet
    with database.connect() as conn:
        assert "hydrogen" not in _check_values(conn, "pipeline", "utility")
