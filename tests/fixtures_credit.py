"""Test fixtures for the credit tests (loaded by tests/conftest.py): the default ruleset loaded and
activated by two people, fresh enterprise codes, and an independent plain-Python scorer."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, text

from core.uscc import check_character

DEFAULT_YAML = Path(__file__).resolve().parent.parent / "credit" / "rulesets" / "default_construction.yaml"
_serial = itertools.count(1)
BAND_MIDDLE = {"A": 95.0, "B": 82.0, "C": 67.0, "D": 50.0}


def new_uscc() -> str:
    """A fresh valid unified social credit code (never used by the sample city: prefix 9132990)."""
    first17 = f"9132990{next(_serial):010d}"
    return first17 + check_character(first17)


def add_enterprise(
    conn, uscc: str, type_: str = "builder", grade: str | None = None, x: float | None = None, y: float | None = None
):
    """An enterprise (located only when x, y are given) with a score in the middle of its grade's band."""
    conn.execute(
        text(
            "INSERT INTO enterprise (uscc, name, type, status, credit_grade, credit_score, district, location)"
            " VALUES (:u, :n, :t, 'active', :g, :s, '测试区', ST_SetSRID(ST_MakePoint(:x, :y), 4549))"
        ),
        {"u": uscc, "n": f"测试企业{uscc[-6:]}", "t": type_, "g": grade, "s": BAND_MIDDLE.get(grade), "x": x, "y": y},
    )


@pytest.fixture(scope="session")
def default_doc() -> dict:
    """The shipped default ruleset read as plain YAML (not through the credit package)."""
    return yaml.safe_load(DEFAULT_YAML.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def credit_active(database: Engine) -> str:
    """The default ruleset loaded by one person, checked, approved by another and activated."""
    from core.db import session_scope
    from credit import rulesets

    doc = rulesets.read_file(DEFAULT_YAML)
    with session_scope() as session:
        rulesets.store(session, doc, "drafter")
        rulesets.check(session, doc.version)
        rulesets.approve(session, doc.version, "approver")
        rulesets.activate(session, doc.version)
    return doc.version


def _band(scoring: dict, value: float) -> float:
    if "linear" in scoring:
        lin = scoring["linear"]
        return min(lin.get("high", 100.0), max(lin.get("low", 0.0), lin["base"] + lin["per_unit"] * value))
    for upper, score in scoring["bands"]:
        if value <= upper:
            return score
    return scoring["above"]


def expected_values(history: dict, doc: dict, as_of: date) -> dict[str, float]:
    """Indicator values of one enterprise computed in plain Python from the rows a test inserted."""

    def in_window(day: date, days: int) -> bool:
        return as_of - timedelta(days=days) < day <= as_of

    def decay(decided: date, valid_to: date | None) -> float:
        if valid_to is None or valid_to <= decided:
            return 1.0
        return max(0.0, min(1.0, (valid_to - as_of).days / (valid_to - decided).days))

    out = {}
    for ind in doc["indicators"]:
        kind, p = ind["aggregate"]["kind"], ind["aggregate"].get("params", {})
        window = p.get("window_days")
        if kind == "qualification_expired_days":
            like = p.get("category_like", "%").strip("%")
            latest: dict[str, date] = {}
            for category, expires in history.get("qualifications", []):
                if like in category:
                    latest[category] = max(latest.get(category, expires), expires)
            out[ind["code"]] = float(max([max(0, (as_of - d).days) for d in latest.values()], default=0))
        elif kind in ("good_records", "bad_records"):
            rows = history.get("good" if kind == "good_records" else "bad", [])
            value = 0.0
            for decided, valid_to, impact in rows:
                if abs(impact) < p.get("min_impact", 0) or not in_window(decided, window or 1095):
                    continue
                if valid_to is not None and valid_to <= as_of:
                    continue
                weight = (
                    decay(decided, valid_to)
                    if p.get("decay", "validity" if kind == "bad_records" else "none") == "validity"
                    else 1.0
                )
                value += weight * (abs(impact) if p.get("measure") == "impact" else 1.0)
            out[ind["code"]] = value
        elif kind == "penalties":
            out[ind["code"]] = float(sum(in_window(d, window) for d in history.get("penalties", [])))
        elif kind == "inspection_share":
            seen = [r for d, r, _ in history.get("inspections", []) if in_window(d, window)]
            out[ind["code"]] = sum(r in p["results"] for r in seen) / len(seen) if seen else 0.0
        elif kind == "inspection_count":
            results, only_ordered = p.get("results", ("pass", "fail")), p.get("rectify_order", False)
            out[ind["code"]] = float(
                sum(
                    in_window(d, window) and r in results and (ordered or not only_ordered)
                    for d, r, ordered in history.get("inspections", [])
                )
            )
        elif kind == "complaints_per_10_projects":
            verified = sum(
                in_window(d, window) and status == "closed" and result.startswith("已核实")
                for d, status, result in history.get("complaints", [])
            )
            out[ind["code"]] = verified * 10.0 / max(1, history.get("active_projects", 0)) if verified else 0.0
        elif kind == "repairs":
            rows = history.get("repairs", [])
            if p.get("overdue"):
                n = sum(s in p["statuses"] and a <= as_of and due < as_of for a, due, s in rows)
            else:
                n = sum(s in p["statuses"] and a <= as_of and in_window(a, window) for a, due, s in rows)
            out[ind["code"]] = float(n)
        elif kind == "score_change":
            out[ind["code"]] = 0.0
        else:
            raise AssertionError(f"the test does not know aggregate {kind}")
    return out


def expected_grade(history: dict, doc: dict, as_of: date) -> tuple[dict[str, float], float, str]:
    """(indicator values, total rounded to 0.01, grade) by the ruleset document, in plain Python."""
    values = expected_values(history, doc, as_of)
    enabled = [i for i in doc["indicators"] if i.get("enabled", True)]
    weight_sum = sum(i["weight"] for i in enabled)
    total = round(sum(i["weight"] / weight_sum * _band(i["scoring"], values[i["code"]]) for i in enabled), 2)
    t = doc["thresholds"]
    grade = "A" if total >= t["A"] else "B" if total >= t["B"] else "C" if total >= t["C"] else "D"
    return values, total, grade


@pytest.fixture(scope="session")
def insert_history(database: Engine) -> Callable[..., None]:
    """Write an enterprise's records (the structure ``expected_values`` reads) into the database;
    ``quiet`` as a bulk loader does, asking the triggers for no re-scoring."""

    def insert(uscc: str, history: dict, quiet: bool = False) -> None:
        with database.begin() as conn:
            if quiet:
                conn.execute(text("SET LOCAL cim.credit_rescore = 'off'"))
            for kind in ("good", "bad"):
                for decided, valid_to, impact in history.get(kind, []):
                    conn.execute(
                        text(
                            "INSERT INTO credit_record (subject_kind, subject_id, kind, source, description,"
                            " score_impact, decided_on, valid_to, disclosed) VALUES ('enterprise', :u, :k, '测试',"
                            " '测试记录', :i, :d, :v, true)"
                        ),
                        {
                            "u": uscc,
                            "k": kind,
                            "i": impact if kind == "good" else -abs(impact),
                            "d": decided,
                            "v": valid_to,
                        },
                    )
            for n, decided in enumerate(history.get("penalties", [])):
                conn.execute(
                    text(
                        "INSERT INTO penalty (decision_no, subject_kind, subject_id, reason, amount_cny, decided_on)"
                        " VALUES (:no, 'enterprise', :u, '测试处罚', 10000, :d)"
                    ),
                    {"no": f"测罚{uscc}-{n}-{decided}", "u": uscc, "d": decided},
                )
            for n, (day, result, ordered) in enumerate(history.get("inspections", [])):
                conn.execute(
                    text(
                        "INSERT INTO inspection (inspection_no, enterprise_uscc, inspected_on, kind, result,"
                        " rectify_order) VALUES (:no, :u, :d, 'routine', :r, :o)"
                    ),
                    {"no": f"测检{uscc}-{n}", "u": uscc, "d": day, "r": result, "o": ordered},
                )
            for n, (category, expires) in enumerate(history.get("qualifications", [])):
                conn.execute(
                    text(
                        "INSERT INTO qualification (certificate_no, enterprise_uscc, category, grade, issued_on,"
                        " expires_on, status) VALUES (:c, :u, :cat, '一级', :i, :e, 'valid')"
                    ),
                    {
                        "c": f"Q{uscc[-10:]}{n}",
                        "u": uscc,
                        "cat": category,
                        "i": expires - timedelta(days=1800),
                        "e": expires,
                    },
                )
            projects = [f"P{uscc[-12:]}{n}" for n in range(history.get("active_projects", 0))]
            for code in projects:
                conn.execute(
                    text(
                        "INSERT INTO project (code, name, type, stage, contractor_uscc, hazardous_works, progress_pct)"
                        " VALUES (:c, '测试项目', 'building', 'construction', :u, false, 10)"
                    ),
                    {"c": code, "u": uscc},
                )
            for day, status, result in history.get("complaints", []):
                conn.execute(
                    text(
                        "INSERT INTO complaint (channel, type, target_kind, target_id, received_at, status, result)"
                        " VALUES ('12345', '施工扰民', :k, :t, :d, :s, :r)"
                    ),
                    {
                        "k": "project" if projects else "enterprise",
                        "t": projects[0] if projects else uscc,
                        "d": f"{day}T12:00:00+08:00",
                        "s": status,
                        "r": result,
                    },
                )
            for applied, due, status in history.get("repairs", []):
                conn.execute(
                    text(
                        "INSERT INTO credit_repair (enterprise_uscc, applied_on, due_on, status)"
                        " VALUES (:u, :a, :d, :s)"
                    ),
                    {"u": uscc, "a": applied, "d": due, "s": status},
                )

    return insert


def activate_doc(doc: dict) -> None:
    """Load a ruleset document, check it, approve it by a second person and activate it."""
    from core.db import session_scope
    from credit import rulesets

    with session_scope() as session:
        rulesets.store(session, rulesets.parse(doc), "drafter")
        rulesets.check(session, doc["version"])
        rulesets.approve(session, doc["version"], "approver")
        rulesets.activate(session, doc["version"])
