"""The command centre's dashboard (大屏): projects by stage, enterprises by credit grade, open credit
alerts, open alarms and emergency events, one query per figure, labelled from the vocabularies.

Each figure is shown to the roles that may read its records elsewhere in the API: alarms to everyone
(as ``/alarms``), projects to anyone logged in (as ``/statistics/divisions``), grades and alerts to the
credit readers, events to the responders. A ``division`` (code prefix) keeps coded rows of it and alarms
inside its boundary; a user limited to districts sees only what lies in them. Counts only: no record,
so no personal data, leaves here."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Depends, Query
from sqlalchemy import Connection, text

from core import districts, vocab
from core import divisions as div
from core.db import read_engine
from core.vocab import Label
from live import scenarios
from spatial_api.routers import credit, events
from spatial_api.schemas.dashboard import Bucket, Category, CrossFigure, Dashboard, Figure, Series, Withheld
from spatial_api.security import Principal, current_principal

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

LOGGED_IN = ("*",)  # any role but the public's
SEEN_BY: dict[str, tuple[str, ...]] = {
    "projects_by_stage": LOGGED_IN,
    "enterprises_by_grade": credit.READERS,
    "credit_alerts_open": credit.READERS,
    "events": events.RESPONDERS,
}
UNKNOWN = Label(zh="无记录", en="No record")

PROJECT_GEOM = "coalesce(t.footprint, (SELECT p.geom FROM parcel p WHERE p.code = t.parcel_code))"
SQL = {
    "projects_by_stage": f"""SELECT t.stage AS code, count(*) AS n FROM project t
        WHERE {{division}} AND {districts.condition(PROJECT_GEOM)} GROUP BY 1""",
    "enterprises_by_grade": f"""SELECT t.credit_grade AS code, count(*) AS n FROM enterprise t
        WHERE {{division}} AND {districts.condition("t.location", "t.district")} GROUP BY 1""",
    "credit_alerts_open": f"""SELECT a.level AS code, count(*) AS n FROM credit_alert a
        LEFT JOIN enterprise t ON t.uscc = a.enterprise_uscc
        WHERE a.status <> 'closed' AND {{division}} AND {districts.condition("t.location", "t.district")}
        GROUP BY 1""",
    "alarms_open": f"""SELECT a.level AS code, count(*) AS n FROM alarm a
        WHERE a.status <> 'closed' AND {{alarm_division}} AND {districts.condition("a.location")} GROUP BY 1""",
    "events": f"""SELECT t.type AS kind, t.status AS code, count(*) AS n FROM emergency_event t
        WHERE {{division}} AND {districts.condition("t.location")} GROUP BY 1, 2""",
}
ALARM_DIVISION = "EXISTS (SELECT 1 FROM division d WHERE d.code = :division_code AND ST_Intersects(d.geom, a.location))"
VOCABULARIES = {
    "projects_by_stage": "stages",
    "enterprises_by_grade": "grades_credit",
    "credit_alerts_open": "credit_alert_levels",
    "alarms_open": "alarm_levels",
}


def _may_see(principal: Principal, roles: tuple[str, ...]) -> bool:
    if principal.username is None:
        return False
    return roles == LOGGED_IN or principal.role in roles or principal.role == "admin"


def _counts(conn: Connection, figure: str, division: str | None, scope: Sequence[str] | None) -> list[dict]:
    where, params = div.condition("t.division_code", division)
    sql = SQL[figure].format(division=where, alarm_division=ALARM_DIVISION if division else "TRUE")
    bound = {**params, "division_code": (division or "").ljust(12, "0"), "scope": districts.param(scope)}
    return [dict(r) for r in conn.execute(text(sql), bound).mappings()]


def _figure(rows: list[dict], vocabulary: str) -> Figure:
    """Counts per code in the vocabulary's order, then one bucket for codes it lacks (or none)."""
    words = vocab.get(vocabulary)
    by_code = {r["code"]: r["n"] for r in rows}
    buckets = [Bucket(code=e.code, label=e.label, color=e.color, count=by_code.pop(e.code, 0)) for e in words.entries]
    if by_code:
        other = words.other
        buckets.append(
            Bucket(
                code=None,
                label=other.label if other else UNKNOWN,
                color=other.color if other else None,
                count=sum(by_code.values()),
            )
        )
    return Figure(title=words.title, buckets=buckets, total=sum(b.count for b in buckets))


def _events(rows: list[dict]) -> CrossFigure:
    """Events per kind (the incident registry's order) in each state (the ``event_statuses`` vocabulary)."""
    states = vocab.get("event_statuses")
    kinds = [Category(code=k.type, label=Label(**k.label)) for k in scenarios.REGISTRY]
    count = {(r["kind"], r["code"]): r["n"] for r in rows}
    series = [
        Series(code=s.code, label=s.label, color=s.color, counts=[count.get((k.code, s.code), 0) for k in kinds])
        for s in states.entries
    ]
    return CrossFigure(
        title=states.title,
        categories=kinds,
        series=series,
        total=sum(sum(s.counts) for s in series),
    )


def _roles(codes: list[str]) -> list[Category]:
    words = vocab.get("roles")
    return [Category(code=c, label=term.label) for c in codes if (term := words.term(c)) is not None]


@router.get("/summary", response_model=Dashboard)
def summary(
    division: str | None = Query(None, description="a division code prefix (2, 4, 6, 9 digits) or 12-digit code"),
    principal: Principal = Depends(current_principal),
) -> Dashboard:
    """The key figures the caller may see; the others are listed in ``withheld`` with the roles that may."""
    prefix = div.prefix(division) if division is not None else None
    shown = {name for name, roles in SEEN_BY.items() if _may_see(principal, roles)}
    scope = principal.districts
    with read_engine().connect() as conn:
        figures = {
            name: _figure(_counts(conn, name, prefix, scope), vocabulary) if name in shown else None
            for name, vocabulary in VOCABULARIES.items()
            if name != "alarms_open"
        }
        alarms = _figure(_counts(conn, "alarms_open", prefix, scope), VOCABULARIES["alarms_open"])
        crossed = _events(_counts(conn, "events", prefix, scope)) if "events" in shown else None
    return Dashboard(
        division=prefix,
        **figures,
        alarms_open=alarms,
        events=crossed,
        withheld=[
            Withheld(figure=name, roles=[] if roles == LOGGED_IN else _roles([*roles, "admin"]))
            for name, roles in SEEN_BY.items()
            if name not in shown
        ],
    )
