"""Rulesets as data and the scoring engine: expected values, scores and grades computed in plain
Python over the rows the test inserts, for enterprises on each side of each threshold."""

from __future__ import annotations

import copy
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, text

from core.db import session_scope
from core.errors import UserError
from credit import engine, rulesets
from tests.fixtures_credit import activate_doc, add_enterprise, expected_grade, new_uscc

AS_OF = date(2026, 6, 30)
D = AS_OF - timedelta(days=30)  # a day inside every window
SERIOUS = (D, None, 12)  # a serious bad record (12 points) that never expires
RECTIFY = (D, "pass", True)  # an inspection passed with an order to rectify (inspections: day, result, order)

# Each history is built to land on one side of a threshold (A 90, B 75, C 60 in the default).
HISTORIES = {
    "clean": {},
    "awards": {"good": [(D, None, 3), (D, None, 2)]},
    "just_A": {"penalties": [D]},
    "just_below_A": {"penalties": [D], "inspections": [RECTIFY, RECTIFY]},
    "just_B": {"bad": [SERIOUS], "penalties": [D], "inspections": [RECTIFY]},
    "just_below_B": {"bad": [SERIOUS], "penalties": [D], "inspections": [RECTIFY, RECTIFY]},
    "just_C": {"bad": [SERIOUS, SERIOUS], "penalties": [D]},
    "just_below_C": {"bad": [SERIOUS, SERIOUS], "penalties": [D, D - timedelta(days=1)]},
    "mixed": {
        "bad": [(D - timedelta(days=200), AS_OF + timedelta(days=165), 6), (AS_OF - timedelta(days=2000), None, 20)],
        "good": [(D, AS_OF - timedelta(days=1), 4)],
        "penalties": [AS_OF - timedelta(days=400)],
        "inspections": [(D, "fail", True), (D, "pass", False), RECTIFY, (AS_OF - timedelta(days=500), "fail", True)],
        "qualifications": [
            ("建筑工程施工总承包", AS_OF - timedelta(days=45)),
            ("安全生产许可证", AS_OF + timedelta(days=100)),
        ],
        "complaints": [(D, "closed", "已核实并督促整改"), (D, "closed", "经核查情况不属实"), (D, "received", "")],
        "active_projects": 2,
        "repairs": [(D - timedelta(days=60), D, "applied"), (D, None, "rejected")],
    },
}


@pytest.fixture(scope="module")
def scored(database: Engine, credit_active, insert_history, default_doc) -> dict:
    """The histories inserted for fresh enterprises and scored in one run."""
    who = {name: new_uscc() for name in HISTORIES}
    with database.begin() as conn:
        for uscc in who.values():
            add_enterprise(conn, uscc, grade="B")
    for name, history in HISTORIES.items():
        insert_history(who[name], history, quiet=True)
    with session_scope() as session:
        [summary] = engine.score(session, enterprises=list(who.values()), as_of=AS_OF)
    return {"who": who, "run": summary.run_id, "version": summary.ruleset_version}


def _scores(database: Engine, run_id: int) -> dict[str, dict]:
    with database.connect() as conn:
        rows = conn.execute(text("SELECT * FROM credit_score WHERE run_id = :r"), {"r": run_id}).mappings()
        return {r["enterprise_uscc"]: dict(r) for r in rows}


def test_the_histories_straddle_every_threshold(default_doc) -> None:
    """The test's own design: for each threshold an enterprise just above and one just below."""
    totals = {name: expected_grade(h, default_doc, AS_OF)[1] for name, h in HISTORIES.items()}
    for grade, (above, below) in {
        "A": ("just_A", "just_below_A"),
        "B": ("just_B", "just_below_B"),
        "C": ("just_C", "just_below_C"),
    }.items():
        threshold = default_doc["thresholds"][grade]
        assert threshold <= totals[above] < threshold + 3, (above, totals[above])
        assert threshold - 3 < totals[below] < threshold, (below, totals[below])


def test_values_scores_and_grades_match_plain_python(database: Engine, scored, default_doc) -> None:
    got = _scores(database, scored["run"])
    assert set(got) == set(scored["who"].values())
    grades = set()
    for name, uscc in scored["who"].items():
        values, total, grade = expected_grade(HISTORIES[name], default_doc, AS_OF)
        row = got[uscc]
        for code, value in values.items():
            assert row["indicators"][code]["value"] == pytest.approx(value, abs=1e-3), (name, code)
        assert row["total"] == pytest.approx(total, abs=0.005), name
        assert row["grade"] == grade, name
        assert row["ruleset_version"] == scored["version"]
        assert row["previous_grade"] == "B"
        grades.add(grade)
    assert grades == {"A", "B", "C", "D"}


def test_family_scores_and_explanation(database: Engine, scored, default_doc) -> None:
    row = _scores(database, scored["run"])[scored["who"]["just_below_C"]]
    assert set(row["families"]) == {i["family"] for i in default_doc["indicators"]}
    moved = [item["indicator"] for item in row["explanation"]]
    # The indicators that cost the most points come first, and they name their records.
    assert moved[0] == "serious_bad_records"
    assert {"penalties", "bad_record_points"} <= set(moved)
    penalties = next(item for item in row["explanation"] if item["indicator"] == "penalties")
    assert len(penalties["records"]) == 2 and all(r.startswith("penalty:") for r in penalties["records"])
    assert sum(item["points"] for item in row["explanation"]) == pytest.approx(row["total"] - 100, abs=0.05)


def test_enterprise_grade_updated_and_history_kept(database: Engine, scored) -> None:
    """Every enterprise takes its new grade and score; a changed grade is dated and joins the history."""
    got = _scores(database, scored["run"])
    with database.connect() as conn:
        for uscc, row in got.items():
            grade, score, dated = conn.execute(
                text("SELECT credit_grade, credit_score, grade_date FROM enterprise WHERE uscc = :u"), {"u": uscc}
            ).one()
            history = (
                conn.execute(
                    text("SELECT grade FROM credit_grade_history WHERE enterprise_uscc = :u AND graded_on = :d"),
                    {"u": uscc, "d": AS_OF},
                )
                .scalars()
                .all()
            )
            assert (grade, score, dated) == (row["grade"], row["total"], AS_OF)
            assert history == ([row["grade"]] if row["grade"] != "B" else [])  # all held B before


def test_weight_change_regrades_only_as_expected(database: Engine, scored, default_doc) -> None:
    old = _scores(database, scored["run"])
    doc = copy.deepcopy(default_doc)
    doc["version"] = "test-weights-2"
    weights = {i["code"]: i for i in doc["indicators"]}
    weights["penalties"]["weight"], weights["good_records"]["weight"] = 0.30, 0.02
    weights["serious_bad_records"]["weight"] = 0.08
    activate_doc(doc)
    with session_scope() as session:
        [summary] = engine.score(session, enterprises=list(scored["who"].values()), as_of=AS_OF)
    new = _scores(database, summary.run_id)
    changed = 0
    for name, uscc in scored["who"].items():
        _, total, grade = expected_grade(HISTORIES[name], doc, AS_OF)
        assert new[uscc]["total"] == pytest.approx(total, abs=0.005) and new[uscc]["grade"] == grade, name
        assert new[uscc]["ruleset_version"] == "test-weights-2"
        changed += grade != old[uscc]["grade"]
    assert changed >= 1
    assert _scores(database, scored["run"]) == old  # the old run's history stays as it was
    with database.connect() as conn:
        statuses = dict(conn.execute(text("SELECT version, status FROM credit_ruleset")).all())
    assert statuses[default_doc["version"]] == "retired" and statuses["test-weights-2"] == "active"
    # Put an identical default back (a new version: a retired ruleset is never revived or edited).
    activate_doc(copy.deepcopy(default_doc) | {"version": "default-2026.1-b"})


def _draft(doc: dict, version: str) -> None:
    with session_scope() as session:
        rulesets.store(session, rulesets.parse(doc | {"version": version}), "drafter")


def test_unapproved_ruleset_cannot_be_activated(credit_active, default_doc) -> None:
    _draft(copy.deepcopy(default_doc), "test-unapproved")
    with session_scope() as session, pytest.raises(UserError, match="only an approved ruleset can be activated"):
        rulesets.activate(session, "test-unapproved")
    with session_scope() as session:
        rulesets.check(session, "test-unapproved")
    with session_scope() as session, pytest.raises(UserError, match="cannot also approve"):
        rulesets.approve(session, "test-unapproved", "drafter")
    with session_scope() as session, pytest.raises(UserError, match="only an approved"):
        rulesets.activate(session, "test-unapproved")
    with session_scope() as session, pytest.raises(UserError, match="never edited in place"):
        rulesets.store(session, rulesets.parse(default_doc | {"version": "test-unapproved"}), "drafter")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["indicators"][0].update(weight=0.5), "weights of the enabled indicators sum to 1.42"),
        (lambda d: d["indicators"][5].update(source="sanction"), "source 'sanction' is not what aggregate 'penalties'"),
        (lambda d: d["thresholds"].update(B=95), "thresholds must be ordered"),
        (lambda d: d["indicators"][0]["aggregate"].update(kind="vibes"), "unknown aggregate kind 'vibes'"),
        (lambda d: d["indicators"][0]["scoring"].update(bands=[[30, 60], [0, 100]]), "must rise strictly"),
    ],
)
def test_bad_rulesets_refused_with_clear_messages(credit_active, default_doc, change, message) -> None:
    doc = copy.deepcopy(default_doc)
    change(doc)
    version = f"test-bad-{abs(hash(message)) % 10**6}"
    _draft(doc, version)
    with session_scope() as session, pytest.raises(UserError, match=message):
        rulesets.check(session, version)
    with session_scope() as session:
        row = session.execute(
            text("SELECT status, check_messages FROM credit_ruleset WHERE version = :v"), {"v": version}
        ).one()
    assert row.status == "draft" and any(message.split("'")[0] in m for m in row.check_messages)


def test_malformed_ruleset_refused_at_load(default_doc) -> None:
    doc = copy.deepcopy(default_doc)
    doc["indicators"][0]["family"] = "运气"
    with pytest.raises(UserError, match=r"indicators\.0\.family"):
        rulesets.parse(doc)


def test_export_round_trips(credit_active, tmp_path) -> None:
    with session_scope() as session:
        doc = rulesets.document(session, credit_active)
    for fmt in ("yaml", "json"):
        path = tmp_path / f"out.{fmt}"
        path.write_text(rulesets.dump(doc, fmt), encoding="utf-8")
        assert rulesets.read_file(path) == doc


def test_score_rows_keep_their_run_and_enterprise(database: Engine, credit_active) -> None:
    """Without per-row foreign keys (migration 0013), a score of an unknown enterprise or run is still
    refused, and deleting an enterprise or a run still takes its scores with it."""
    import sqlalchemy.exc

    kept, dropped = new_uscc(), new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, kept, grade="B")
        add_enterprise(conn, dropped, grade="B")
    with session_scope() as session:
        [summary] = engine.score(session, enterprises=[kept, dropped], as_of=AS_OF, scope="enterprise")
    assert summary.enterprises == 2
    row = (
        "INSERT INTO credit_score (run_id, enterprise_uscc, ruleset_version, total, grade, families, indicators,"
        " explanation) VALUES (:r, :u, 'x', 90, 'A', '{}', '{}', '[]')"
    )
    for run, uscc, missing in ((summary.run_id, "913299999999999999", "enterprise"), (-1, kept, "credit run")):
        with pytest.raises(sqlalchemy.exc.IntegrityError, match=f"refers to {missing}"), database.begin() as conn:
            conn.execute(text(row), {"r": run, "u": uscc})

    def scores(uscc: str) -> int:
        with database.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM credit_score WHERE enterprise_uscc = :u"), {"u": uscc}
            ).scalar()

    assert scores(kept) == scores(dropped) == 1
    with database.begin() as conn:
        conn.execute(text("DELETE FROM credit_grade_history WHERE enterprise_uscc = :u"), {"u": dropped})
        conn.execute(text("DELETE FROM credit_alert WHERE enterprise_uscc = :u"), {"u": dropped})
        conn.execute(text("DELETE FROM enterprise WHERE uscc = :u"), {"u": dropped})
    assert scores(dropped) == 0 and scores(kept) == 1
    with database.begin() as conn:
        conn.execute(text("DELETE FROM credit_run WHERE id = :r"), {"r": summary.run_id})
    assert scores(kept) == 0


def test_key_indicator_surge_alerts(database: Engine, credit_active, insert_history, default_doc) -> None:
    """Between two runs, a key indicator rising by at least the ruleset's surge raises one alert for
    that indicator; an enterprise whose values stay does not."""
    surge = default_doc["settings"]["alerts"]["surge_min_increase"]
    key = {i["code"] for i in default_doc["indicators"] if i.get("key")}
    assert "penalties" in key and surge <= 2
    rising, steady = new_uscc(), new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, rising, grade="B")
        add_enterprise(conn, steady, grade="B")
    insert_history(steady, {"penalties": [D]}, quiet=True)
    with session_scope() as session:
        engine.score(session, enterprises=[rising, steady], as_of=AS_OF, scope="enterprise")
    insert_history(rising, {"penalties": [D, D - timedelta(days=1)]}, quiet=True)  # 0 → 2 penalties
    with session_scope() as session:
        engine.score(session, enterprises=[rising, steady], as_of=AS_OF, scope="enterprise")
    with database.connect() as conn:
        fired = conn.execute(
            text(
                "SELECT enterprise_uscc, cause_key FROM credit_alert WHERE kind = 'indicator_surge'"
                " AND enterprise_uscc IN (:a, :b)"
            ),
            {"a": rising, "b": steady},
        ).all()
    assert fired == [(rising, f"indicator_surge:{rising}:penalties")]
