"""Profiles from the records' versions: a person's employers and a project's stages over time, and
``as_of`` giving what was known then. Changes go through the write API; the expectation is computed
here from the versions as stored: the superseded ones in ``record_version`` and the current one on the
record's row (runs of equal consecutive values, cut at the moment asked)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

import pytest

API = "/api/v1"
ROWS = {"people": ("person", "id"), "projects": ("project", "code")}  # kind -> table, key column


def runs(
    sql, kind: str, key: str, field: str, at: datetime | None = None
) -> list[tuple[str, datetime, datetime | None]]:
    """(value, since, until) of a field over the versions known at ``at`` (until None: holds then)."""
    at = at or datetime.now(UTC)
    table, column = ROWS[kind]
    versions = sql(
        "SELECT data, valid_from, valid_to FROM record_version WHERE kind = :k AND key = :key ORDER BY valid_from",
        k=kind, key=key,
    )  # fmt: skip
    current = sql(
        f"SELECT {field}, version_from FROM {table} WHERE {column} = :key AND version_from IS NOT NULL", key=key
    )
    versions += [{"data": {field: r[field]}, "valid_from": r["version_from"], "valid_to": None} for r in current]
    known = [v for v in versions if v["valid_from"] <= at]
    out = []
    for (value, deleted), group in groupby(known, key=lambda v: ((v["data"] or {}).get(field), v["data"] is None)):
        spell = list(group)
        if deleted or value is None:
            continue
        last = spell[-1]["valid_to"]
        out.append((value, spell[0]["valid_from"], None if last is None or last > at else last))
    return out


def _parse(stamp: str | None) -> datetime | None:
    return None if stamp is None else datetime.fromisoformat(stamp)


def _patch(client, url: str, body: dict, headers: dict) -> datetime:
    """Change a record (If-Match its ETag); the moment just after."""
    etag = client.get(url).headers["ETag"]
    changed = client.patch(url, json=body, headers=headers | {"If-Match": etag})
    assert changed.status_code == 200, changed.text
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def histories(client, codes, token_headers, sample_city):
    """Two enterprises; a person employed by the first, then the second, then the first again; a project
    through three stages (with a change of name between that keeps the stage)."""
    editor = token_headers("records")
    firms = []
    for name in ("常州历史测试建设有限公司", "常州历史测试监理有限公司"):
        body = {"uscc": codes.uscc(), "name": name, "type": "施工总承包"}
        assert client.post(f"{API}/records/enterprises", json=body, headers=editor).status_code == 201
        firms.append(body["uscc"])
    person = {"name": "史历", "id_card": codes.id_number("19850203"), "kind": "执业", "employer_uscc": firms[0]}
    created = client.post(f"{API}/records/people", json=person, headers=editor)
    assert created.status_code == 201, created.text
    person_id = created.json()["key"]
    url = f"{API}/records/people/{person_id}"
    moments = {"hired": datetime.now(UTC)}
    moments["moved"] = _patch(client, url, {"employer_uscc": firms[1]}, editor)
    moments["back"] = _patch(client, url, {"employer_uscc": firms[0]}, editor)

    code = codes.code("LSXM")
    project = {"code": code, "name": "历史测试项目", "type": "房建", "stage": "立项用地规划"}
    assert client.post(f"{API}/records/projects", json=project, headers=editor).status_code == 201
    purl = f"{API}/records/projects/{code}"
    moments["approved"] = datetime.now(UTC)
    moments["building"] = _patch(client, purl, {"stage": "施工"}, editor)
    moments["renamed"] = _patch(client, purl, {"name": "历史测试项目（更名）"}, editor)
    moments["accepted"] = _patch(client, purl, {"stage": "验收"}, editor)
    return {"firms": firms, "person": person_id, "project": code, "moments": moments}


def test_employer_history(client, sql, role_headers, histories) -> None:
    person, firms = histories["person"], histories["firms"]
    answer = client.get(f"{API}/profiles/person/{person}", headers=role_headers["admin"]).json()
    expected = runs(sql, "people", person, "employer_uscc")
    assert [r[0] for r in expected] == [firms[0], firms[1], firms[0]]
    got = [(e["uscc"], _parse(e["since"]), _parse(e["until"])) for e in answer["employers"]]
    assert got == expected
    assert [e["current"] for e in answer["employers"]] == [False, False, True]
    names = {r["uscc"]: r["name"] for r in sql("SELECT uscc, name FROM enterprise WHERE uscc = ANY(:u)", u=firms)}
    assert [e["name"] for e in answer["employers"]] == [names[u] for u, _, _ in expected]


def test_employer_as_of(client, sql, role_headers, histories) -> None:
    person, firms, moments = histories["person"], histories["firms"], histories["moments"]
    then = moments["moved"]  # employed by the second firm, not yet back
    answer = client.get(f"{API}/profiles/person/{person}", params={"as_of": then.isoformat()},
                        headers=role_headers["admin"]).json()  # fmt: skip
    expected = runs(sql, "people", person, "employer_uscc", then)
    assert [r[0] for r in expected] == [firms[0], firms[1]] and expected[-1][2] is None
    assert [(e["uscc"], _parse(e["since"]), _parse(e["until"])) for e in answer["employers"]] == expected
    assert answer["record"]["employer_uscc"] == firms[1] and _parse(answer["as_of"]) == then
    before = client.get(f"{API}/profiles/person/{person}", params={"as_of": "2000-01-01"},
                        headers=role_headers["admin"])  # fmt: skip
    assert before.status_code == 404


def test_stage_history_and_as_of(client, sql, histories) -> None:
    code, moments = histories["project"], histories["moments"]
    answer = client.get(f"{API}/profiles/project/{code}").json()
    expected = runs(sql, "projects", code, "stage")
    assert [r[0] for r in expected] == ["approval", "construction", "acceptance"]  # the rename kept the stage
    assert [(s["stage"], _parse(s["since"]), _parse(s["until"])) for s in answer["stage_history"]] == expected
    assert answer["record"]["stage"] == "acceptance"
    then = moments["renamed"]
    earlier = client.get(f"{API}/profiles/project/{code}", params={"as_of": then.isoformat()}).json()
    expected_then = runs(sql, "projects", code, "stage", then)
    assert [(s["stage"], _parse(s["since"]), _parse(s["until"])) for s in earlier["stage_history"]] == expected_then
    assert [s["current"] for s in earlier["stage_history"]] == [False, True]
    assert earlier["record"]["stage"] == "construction" and earlier["record"]["name"] == "历史测试项目（更名）"
    first = client.get(f"{API}/profiles/project/{code}", params={"as_of": moments["approved"].isoformat()}).json()
    assert first["record"]["name"] == "历史测试项目" and [s["stage"] for s in first["stage_history"]] == ["approval"]


def test_records_without_versions_show_their_present_value(client, sql, sample_city) -> None:
    code = sql("""SELECT code, stage FROM project p WHERE NOT EXISTS (SELECT 1 FROM record_version v
                   WHERE v.kind = 'projects' AND v.key = p.code) AND p.version_from IS NULL AND stage IS NOT NULL
                 ORDER BY code LIMIT 1""")[0]
    answer = client.get(f"{API}/profiles/project/{code['code']}").json()
    assert answer["stage_history"] == [{"stage": code["stage"], "since": None, "until": None, "current": True}]
