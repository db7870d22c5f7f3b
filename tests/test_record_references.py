"""People's and projects' references to enterprises and parcels, checked once per statement by
triggers (migration 0028) instead of per-row foreign keys: the database still refuses a reference to
nothing, a referenced row's delete or re-keying, and locks what a written row refers to."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy.exc
from sqlalchemy import Engine, text

from core.models.records import PERSON_KINDS, PROJECT_STAGES, PROJECT_TYPES
from tests.fixtures_credit import add_enterprise, new_uscc

PERSON = (
    "INSERT INTO person (id, name, id_card_hash, id_card_masked, kind, employer_uscc, real_name_verified)"
    " VALUES (:id, '测试', :h, '320400********0000', :k, :e, false)"
)
PROJECT = (
    "INSERT INTO project (code, name, type, stage, hazardous_works, progress_pct, contractor_uscc, designer_uscc)"
    " VALUES (:c, '引用测试', :t, :s, false, 0, :a, :b)"
)


def _person(conn, employer: str | None) -> str:
    person = uuid.uuid4().hex[:24]
    conn.execute(text(PERSON), {"id": person, "h": uuid.uuid4().hex, "k": PERSON_KINDS[0], "e": employer})
    return person


def _project(conn, contractor: str | None, designer: str | None) -> str:
    code = f"REF{uuid.uuid4().hex[:12]}"
    conn.execute(text(PROJECT), {"c": code, "t": PROJECT_TYPES[0], "s": PROJECT_STAGES[0], "a": contractor,
                                 "b": designer})  # fmt: skip
    return code


def test_a_reference_to_nothing_is_refused(database: Engine) -> None:
    known, unknown = new_uscc(), new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, known)
        _person(conn, known)
        code = _project(conn, known, None)
    for write in (
        lambda conn: _person(conn, unknown),
        lambda conn: _project(conn, known, unknown),  # one of the five roles is enough
        lambda conn: conn.execute(
            text("UPDATE project SET surveyor_uscc = :u WHERE code = :c"), {"u": unknown, "c": code}
        ),
        lambda conn: conn.execute(
            text("UPDATE project SET parcel_code = 'NO-SUCH-PARCEL' WHERE code = :c"), {"c": code}
        ),
    ):
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="which does not exist"), database.begin() as conn:
            write(conn)
    with database.connect() as conn:
        kept = conn.execute(text("SELECT surveyor_uscc, parcel_code FROM project WHERE code = :c"), {"c": code})
        assert kept.one() == (None, None)


def test_a_referenced_enterprise_cannot_go_or_change_its_key(database: Engine) -> None:
    employer, designer, free = new_uscc(), new_uscc(), new_uscc()
    with database.begin() as conn:
        for uscc in (employer, designer, free):
            add_enterprise(conn, uscc)
        _person(conn, employer)
        _project(conn, None, designer)
    for uscc in (employer, designer):
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="still referenced"), database.begin() as conn:
            conn.execute(text("DELETE FROM enterprise WHERE uscc = :u"), {"u": uscc})
        with pytest.raises(sqlalchemy.exc.IntegrityError, match="still referenced"), database.begin() as conn:
            conn.execute(text("UPDATE enterprise SET uscc = :n WHERE uscc = :u"), {"u": uscc, "n": new_uscc()})
    with database.begin() as conn:  # renaming a referenced enterprise keeps its key: allowed
        conn.execute(text("UPDATE enterprise SET name = '改名' WHERE uscc = ANY(:u)"), {"u": [employer, designer]})
        assert conn.execute(text("DELETE FROM enterprise WHERE uscc = :u"), {"u": free}).rowcount == 1


def test_a_written_reference_locks_its_enterprise(database: Engine) -> None:
    """Until the writer commits, a delete of the enterprise it refers to waits (here: runs out of time)."""
    employer = new_uscc()
    with database.begin() as conn:
        add_enterprise(conn, employer)
    with database.connect() as writer, database.connect() as other:
        writer.begin()
        _person(writer, employer)
        other.begin()
        other.execute(text("SET LOCAL lock_timeout = '300ms'"))
        with pytest.raises(sqlalchemy.exc.OperationalError, match="lock timeout"):
            other.execute(text("DELETE FROM enterprise WHERE uscc = :u"), {"u": employer})
        other.rollback()
        writer.rollback()
