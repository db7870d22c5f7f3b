"""The viewer's UI kit (issue 17 items 1, 3 and 10: Vue 3 + Element Plus panels), in Debian's headless
Chromium (driver tests/e2e/uikit.mjs) against `cim serve` on the sample city with every request to
another host aborted. Expected answers come from SQL, core.vocab and core.privacy, not from the
viewer's code. Screenshots land in test-artifacts/uikit-*.png."""

from __future__ import annotations

import csv
import re

import openpyxl
import pytest
from sqlalchemy import text

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")
PLANNER = ["planner", "planner-demo"]


def step(report: dict, name: str) -> dict | list:
    answer = report["steps"][name]
    assert "error" not in answer, f"step {name} failed: {answer}"
    return answer


def test_the_kit_loads_after_the_first_view_from_the_server_only(run_e2e, city_server, ui_bundle):
    report = run_e2e(city_server, ["loaded"], script="uikit.mjs", timeout_s=600)
    loaded = step(report, "loaded")
    assert loaded["kit"] == ["card", "openTable", "setLanguage", "tree"]
    assert report["outside"] == []
    bundle = [i for i, u in enumerate(report["requests"]) if u.endswith("/ui/dist/panels.js")]
    assert len(bundle) == 1
    # asked for after every tileset of the first view (the bundle does not compete with them)
    tilesets = [i for i, u in enumerate(report["requests"]) if u.endswith("/tileset.json")]
    assert tilesets and bundle[0] > max(tilesets)


@pytest.fixture(scope="module")
def card_targets(database, sample_city, published_model) -> dict:
    with database.connect() as conn:
        one = lambda sql, **p: conn.execute(text(sql), p).one()  # noqa: E731
        compartment = one("SELECT c.id FROM tunnel_compartment c JOIN sensor s ON s.compartment_id = c.id"
                          " GROUP BY c.id ORDER BY count(*) DESC, c.id LIMIT 1")[0]  # fmt: skip
        return {
            "pipe": one("SELECT id, depth_m, owner FROM pipeline WHERE owner IS NOT NULL ORDER BY id LIMIT 1"),
            "compartment": compartment,
            "sensors": list(conn.scalars(text("SELECT id FROM sensor WHERE compartment_id = :c"), {"c": compartment})),
            "element": one(
                "SELECT global_id FROM bim_element WHERE version_id = :v AND properties <> '{}'::jsonb"
                " ORDER BY global_id LIMIT 1",
                v=published_model["version_id"],
            )[0],  # fmt: skip
            "enterprise": one(
                "SELECT uscc, credit_grade FROM enterprise WHERE credit_grade IS NOT NULL ORDER BY uscc LIMIT 1"
            ),  # fmt: skip
            "project": one("SELECT code FROM project WHERE investment_cny IS NOT NULL ORDER BY code LIMIT 1")[0],
            "person": one("SELECT id, phone_enc FROM person WHERE phone_enc IS NOT NULL ORDER BY id LIMIT 1"),
        }


@pytest.fixture(scope="module")
def cards(run_e2e, city_server, ui_bundle, card_targets) -> dict:
    targets = card_targets
    specs = [
        {"layer": "pipelines", "id": targets["pipe"][0]},
        {"layer": "tunnel_compartments", "id": targets["compartment"]},
        {"layer": "bim_elements", "id": targets["element"]},
        {"layer": "enterprises", "id": targets["enterprise"][0]},
        {"layer": "projects", "id": targets["project"]},
        {"profile": "person", "id": targets["person"][0]},
    ]
    report = run_e2e(city_server, ["cards"], script="uikit.mjs", cards=specs, login=PLANNER, timeout_s=900)
    return {c.get("layer") or c["profile"]: c for c in step(report, "cards")}


def test_cards_of_each_kind_have_tabs_and_no_raw_field_names_in_chinese(cards, card_targets):
    from core import vocab

    for kind, card in cards.items():
        shown = "\n".join(card["texts"])
        # identifiers are data (a sensor's id names its kind): taken out before the scan
        for sensor in card_targets["sensors"]:
            shown = shown.replace(sensor, "")
        assert SNAKE.findall(shown) == [], (kind, SNAKE.findall(shown))
        assert len(card["labels"]) >= 2, (kind, card["labels"])
        assert card["labels"][0] == "基本信息"
    pipe_id, depth, owner = card_targets["pipe"]
    pipe = "\n".join(cards["pipelines"]["texts"])
    assert f"埋深（米）\t{round(depth, 3):g}" in pipe and owner in pipe
    compartment = cards["tunnel_compartments"]
    sensors = str(len(card_targets["sensors"]))
    assert any(label.startswith("传感器") and sensors in label for label in compartment["labels"])
    assert all(s in "\n".join(compartment["texts"]) for s in card_targets["sensors"][:5])
    # the element's property sets, by their IFC names
    element = "\n".join(cards["bim_elements"]["texts"])
    assert "Pset_" in element
    # the enterprise with its credit grade in words from the vocabulary
    uscc, grade = card_targets["enterprise"]
    assert vocab.get("grades_credit").term(grade).label.zh in "\n".join(cards["enterprises"]["texts"])
    # money in 万元 and dates written out
    project = "\n".join(cards["projects"]["texts"])
    assert "万元" in project and re.search(r"\d{4}年\d{2}月\d{2}日", project)


def test_a_person_card_is_masked_for_a_planner(cards, card_targets):
    from core.privacy import decrypt_field

    shown = "\n".join(cards["person"]["texts"])
    phone = decrypt_field(card_targets["person"][1])
    assert phone not in shown
    assert f"{phone[:3]}****{phone[-4:]}" in shown


@pytest.fixture(scope="module")
def table(run_e2e, city_server, ui_bundle, sample_city) -> dict:
    spec = {"layer": "buildings", "sort": {"label": "高度（米）"}, "filter": {"label": "用途", "option": "住宅"}}
    report = run_e2e(city_server, ["table"], script="uikit.mjs", table=spec, login=PLANNER, timeout_s=900)
    return step(report, "table")


def test_the_attribute_table_sorts_filters_and_exports_the_sql_rows(table, database):
    from core import vocab

    with database.connect() as conn:
        rows = conn.execute(text("SELECT code, use, height_m FROM building")).all()
    # the test's own order: height descending (empty last), then code
    order = sorted(rows, key=lambda r: (r.height_m is None, -(r.height_m or 0), r.code))
    assert table["total"] == f"共 {len(rows)}"
    assert [r[0] for r in table["sorted"]] == [r.code for r in order[:20]]
    residential = [r for r in order if r.use == "residential"]
    assert [r[0] for r in table["filtered"]] == [r.code for r in residential[:20]]
    assert table["filtered_total"] == f"共 {len(residential)}"
    # the CSV: every filtered row in the table's order, headers and uses in Chinese
    with open(table["csv"], encoding="utf-8-sig", newline="") as f:
        exported = list(csv.DictReader(f))
    assert [r["编号"] for r in exported] == [r.code for r in residential]
    assert {r["用途"] for r in exported} == {vocab.get("building_uses").term("residential").label.zh}
    assert [float(r["高度（米）"]) for r in exported] == [r.height_m for r in residential]
    # the XLSX (the server's export job): the same rows
    sheet = openpyxl.load_workbook(table["xlsx"], read_only=True).active
    header, *values = list(sheet.iter_rows(values_only=True))
    codes = [v[header.index("编号")] for v in values]
    assert sorted(codes) == sorted(r.code for r in residential)


def test_the_model_tree_isolates_one_storey(run_e2e, city_server, ui_bundle, published_model, database):
    # the second storey from the bottom, with its elements by SQL
    name, count = list(published_model["storeys"].items())[1]
    with database.connect() as conn:
        expected = set(
            conn.execute(
                text("SELECT global_id FROM bim_element WHERE version_id = :v AND storey = :s"),
                {"v": published_model["version_id"], "s": name},
            ).scalars()
        )
        others = set(
            conn.execute(
                text("SELECT global_id FROM bim_element WHERE version_id = :v AND storey IS DISTINCT FROM :s"),
                {"v": published_model["version_id"], "s": name},
            ).scalars()
        )
    spec = {"model_label": published_model["project_code"], "storey_label": f"{name} ({count})"}
    report = run_e2e(city_server, ["tree"], script="uikit.mjs", tree=spec, login=PLANNER, timeout_s=900)
    tree = step(report, "tree")
    assert len(expected) == count > 0
    # every element of the storey is drawn and shown; every other element of the model is hidden
    assert set(tree["shown"]) == expected
    assert others <= set(tree["hidden"])
    assert tree["reset"] is True
    assert f"{name} ({count})" in tree["labels"]
