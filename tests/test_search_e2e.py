"""The viewer's search box and record cards in Debian's headless Chromium (playwright-core) against
`cim serve` on the sample city: type a fragment of a building's address, part of a project's name
and an enterprise's USCC, pick the suggestion, and the camera flies there and the card opens with
Chinese labels and no raw field names. Targets and their places come from the database by SQL."""

from __future__ import annotations

import re
import unicodedata

import pytest
from sqlalchemy import text

SNAKE = re.compile(r"\b[a-z]+_[a-z_]+\b")


def _norm(value: str) -> str:
    return re.sub(r"街道|[省市区县镇]|[\s\W_]", "", unicodedata.normalize("NFKC", value).lower())


# kind -> (table, id column, geometry column, title column)
TABLES = {
    "building": ("building", "code", "footprint", "address"),
    "project": ("project", "code", "footprint", "name"),
    "enterprise": ("enterprise", "uscc", "location", "name"),
}
EVERY_NAME = """SELECT address FROM building UNION ALL SELECT name FROM project
                UNION ALL SELECT name FROM enterprise UNION ALL SELECT name FROM road"""


@pytest.fixture(scope="module")
def targets(database, sample_city) -> list[dict]:
    """A building by an address fragment, a project by part of its name (one few others share), an
    enterprise by its USCC; each with its CRS84 bbox and title by SQL."""
    with database.connect() as conn:
        names = [r[0] for r in conn.execute(text(EVERY_NAME)) if r[0]]
        building = conn.execute(
            text("SELECT code, address FROM building WHERE address IS NOT NULL ORDER BY height_m DESC, code LIMIT 1")
        ).one()
        projects = conn.execute(text("SELECT code, name FROM project WHERE footprint IS NOT NULL ORDER BY code"))
        project = next(p for p in projects if sum(_norm(p.name[1:]) in _norm(n) for n in names) <= 4)
        uscc = conn.execute(text("SELECT min(uscc) FROM enterprise WHERE location IS NOT NULL")).scalar()
        found = [
            {"q": building.address.removeprefix("常州市"), "kind": "building", "id": building.code},
            {"q": project.name[1:], "kind": "project", "id": project.code},
            {"q": uscc, "kind": "enterprise", "id": uscc},
        ]
        for target in found:
            table, key, geometry, title = TABLES[target["kind"]]
            row = conn.execute(
                text(
                    f"""SELECT ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g), t FROM
                        (SELECT ST_Transform({geometry}, 4326) AS g, {title} AS t FROM {table} WHERE {key} = :id) s"""
                ),
                {"id": target["id"]},
            ).one()
            target["bbox"], target["title"] = list(row[:4]), row[4]
    return found


@pytest.fixture(scope="module")
def searched(run_e2e, city_server, targets) -> dict:
    spec = [{k: t[k] for k in ("q", "kind", "id")} for t in targets]
    return run_e2e(city_server, ["open", "search"], searches=spec)


def test_search_box_flies_to_the_feature_and_opens_its_card(searched, targets) -> None:
    assert "error" not in searched["steps"]["open"], searched["steps"]["open"]
    assert "error" not in searched["steps"]["search"], searched["steps"]["search"]
    # the search modules load once the first view is complete, not with it
    opened = searched["steps"]["open"]
    assert min(opened["search_modules_ms"]) >= opened["first_all_loaded_ms"]
    for target, answer in zip(targets, searched["steps"]["search"], strict=True):
        assert [target["kind"], target["id"]] in answer["suggestions"]
        assert answer["card"] == {"kind": target["kind"], "id": target["id"]}
        lon, lat, height = answer["camera"]
        west, south, east, north = target["bbox"]
        margin = 0.001
        assert west - margin <= lon <= east + margin and south - margin <= lat <= north + margin, (target, answer)
        assert 0 < height < 3000
        text_shown = answer["panel_text"] + "\n".join(answer["tab_texts"])
        assert target["title"] in text_shown
        assert SNAKE.findall(text_shown) == [], target["kind"]
        assert [a for a in answer["attributes"] if SNAKE.search(a.split("=", 1)[1])] == []
    project = searched["steps"]["search"][1]
    assert "总投资" in project["tab_texts"][0] and "万元" in project["tab_texts"][0]
    assert re.search(r"\d{4}年\d{2}月\d{2}日", "\n".join(project["tab_texts"]))
