"""``styles/``: the one home of the layers' styles and themes, read by the registry, served as each
layer's 3D Tiles style and legend; CesiumJS itself evaluates the served styles against the colours
read here straight from the vocabulary files."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
API = "/api/v1"
STYLES = ROOT / "styles"
VOCAB = ROOT / "core" / "vocab"


def _files() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(STYLES.glob("*.json"))}


def _cesium(style: dict, features: list[dict]) -> list[dict]:
    """Each feature's colour and visibility as CesiumJS's Cesium3DTileStyle evaluates ``style``."""
    node = shutil.which("node")
    assert node, "node is installed by scripts/install_system.sh"
    done = subprocess.run(
        [node, str(ROOT / "tests" / "e2e" / "cesium_style.mjs")],
        input=json.dumps({"style": style, "features": features}),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _rgb(hex_colour: str) -> list[int]:
    return [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]


def _expected(style: dict, value: str | None) -> tuple[list[int], float]:
    """The colour a feature with ``value`` must get, from the vocabulary file alone."""
    alpha = style.get("alpha", 1.0)
    if "color" in style:
        return _rgb(style["color"]), alpha
    words = json.loads((VOCAB / f"{style['vocab']}.json").read_text(encoding="utf-8"))
    if style.get("first_of_list") and value is not None:
        value = value.split(",")[0]
    entry = next((e for e in words["entries"] if e["code"] == value and e.get("color")), None)
    if entry:
        return _rgb(entry["color"]), entry.get("alpha", 1.0) * alpha
    return _rgb(words.get("other", {}).get("color", "#A0A0A0")), alpha


def _legend(style: dict) -> list[tuple[str | None, str]]:
    """(code, colour) of each coloured entry, then (None, the colour of every other value)."""
    if "color" in style:
        return [(None, style["color"])]
    words = json.loads((VOCAB / f"{style['vocab']}.json").read_text(encoding="utf-8"))
    coloured = [(e["code"], e["color"]) for e in words["entries"] if e.get("color")]
    return [*coloured, (None, words.get("other", {}).get("color", "#A0A0A0"))]


def _samples(style: dict) -> list[str | None]:
    """Every code of the style's vocabulary, as lists where the style takes the first of a list,
    plus values outside it and none."""
    if "vocab" not in style:
        return ["anything", None]
    codes = [e["code"] for e in json.loads((VOCAB / f"{style['vocab']}.json").read_text(encoding="utf-8"))["entries"]]
    values: list[str | None] = list(codes)
    if style.get("first_of_list"):
        values += [f"{code},{codes[0]}" for code in codes] + [f"not_a_code,{codes[0]}", f"{codes[0]}x"]
    return [*values, "not_a_code", "", None]


def test_registry_reads_every_style_and_theme_from_styles_only():
    from core.registry import registry

    layers_json = json.loads((ROOT / "core" / "registry" / "layers.json").read_text(encoding="utf-8"))
    assert not [la["name"] for la in layers_json["layers"] if "style" in la or "themes" in la], "one home: styles/"
    files = _files()
    assert {"buildings", "pipelines", "pipe_nodes", "tunnel_compartments", "bim_elements"} <= set(files)
    for layer in registry().layers:
        file = files.get(layer.name, {})
        style = layer.style.model_dump(exclude_defaults=True) if layer.style else None
        assert style == file.get("style"), layer.name
        assert [t.name for t in layer.themes] == [t["name"] for t in file.get("themes", [])], layer.name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda reg, sty: _edit(reg / "layers.json", lambda d: d["layers"][0].update(style={"color": "#FFFFFF"})),
            "belong in styles/",
        ),
        (lambda reg, sty: (sty / "nowhere.json").write_text('{"style": {"color": "#FFFFFF"}}'), "nowhere"),
        (
            lambda reg, sty: (sty / "pipelines.json").write_text('{"style": {"color": "#FFFFFF", "vocab": "x"}}'),
            "either a color",
        ),
        (lambda reg, sty: (sty / "pipelines.json").write_text('{"colour": "#FFFFFF"}'), "colour"),
    ],
)
def test_the_loader_refuses_misplaced_or_stray_styles(tmp_path, change, message):
    from core.registry import load

    registry_copy, styles_copy = tmp_path / "registry", tmp_path / "styles"
    shutil.copytree(ROOT / "core" / "registry", registry_copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(STYLES, styles_copy, ignore=shutil.ignore_patterns("*.md"))
    assert load(registry_copy, styles_copy).layer("pipelines").style is not None
    change(registry_copy, styles_copy)
    with pytest.raises(ValueError, match=message):
        load(registry_copy, styles_copy)


def test_a_layer_without_a_style_file_has_no_style(tmp_path):
    from core.registry import load

    styles_copy = tmp_path / "styles"
    shutil.copytree(STYLES, styles_copy)
    (styles_copy / "pipe_nodes.json").unlink()
    registry = load(ROOT / "core" / "registry", styles_copy)
    assert registry.layer("pipe_nodes").style is None and registry.layer("pipelines").style is not None
    assert all(la.style is None for la in load(ROOT / "core" / "registry", tmp_path / "none").layers)


def _edit(path: Path, change) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")


def test_served_styles_colour_each_feature_class_as_its_vocabulary_says(client):
    """For every styled layer, CesiumJS evaluates the served style on a feature of each vocabulary
    code (first of a list where the style says so), an unknown value and none: each gets the colour
    and alpha of its vocabulary entry, or of the vocabulary's "other"."""
    checked = 0
    for layer, file in _files().items():
        style = file.get("style")
        if style is None:
            assert client.get(f"{API}/styles/{layer}.json").status_code == 404
            continue
        response = client.get(f"{API}/styles/{layer}.json")
        assert response.status_code == 200, response.text
        served = response.json()
        values = _samples(style)
        prop = style.get("property", "unused")
        features = [{prop: v} if v is not None else {} for v in values]
        for value, got in zip(values, _cesium(served, features), strict=True):
            rgb, alpha = _expected(style, value)
            assert (got["rgb"], got["alpha"], got["show"]) == (rgb, pytest.approx(alpha), True), (layer, value)
            checked += 1
        legend = [(i["value"], i["color"]) for i in served["extras"]["legend"]]
        assert legend == _legend(style), layer
    assert checked > 40


def test_a_filtering_style_hides_the_codes_asked_for(client):
    codes = [e["code"] for e in json.loads((VOCAB / "utilities.json").read_text(encoding="utf-8"))["entries"]]
    hidden = {"gas", "streetlight"}
    served = client.get(f"{API}/styles/pipelines.json", params={"hide": ",".join(sorted(hidden))}).json()
    values = [*codes, "not_a_code"]
    shown = [got["show"] for got in _cesium(served, [{"utility": v} for v in values])]
    assert shown == [v not in hidden for v in values]
    assert client.get(f"{API}/styles/pipelines.json", params={"hide": "hydrogen"}).status_code == 400
    assert client.get(f"{API}/styles/buildings.json", params={"hide": "gas"}).status_code == 400
    assert client.get(f"{API}/styles/nowhere.json").status_code == 404
    schema = client.get("/openapi.json").json()["paths"][f"{API}/styles/{{layer}}.json"]["get"]
    assert schema["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/TilesStyle")
