"""Generated enterprise histories in which risk is learnable: each enterprise has a hidden risk,
and its bad records excite later ones (a record in the last year raises next month's chance), so
earlier indicators predict later bad records. For the model's tests and benchmarks."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
from sqlalchemy import insert, text
from sqlalchemy.orm import Session

from core.models import CreditRecord, Enterprise, Inspection, Penalty
from core.uscc import check_character

DISTRICTS = ("天宁区", "钟楼区", "新北区", "武进区", "金坛区", "溧阳市")
CITY_CENTRE = (497_000.0, 3_520_000.0)


def _uscc(prefix: str, n: int) -> str:
    first17 = f"{prefix}{n:0{17 - len(prefix)}d}"
    return first17 + check_character(first17)


def generate_histories(
    session: Session, n: int, months: int = 48, seed: int = 1, end: date | None = None, prefix: str = "9132980"
) -> list[str]:
    """Insert ``n`` builders and ``months`` months of records ending at ``end``; returns their codes.
    Triggers stay quiet (``cim.credit_rescore = off``): score afterwards with a full run."""
    rng = np.random.default_rng(seed)
    end = end or date.today()
    start = end - timedelta(days=30 * months)
    codes = [_uscc(prefix, seed * 10_000_000 + i) for i in range(n)]
    risk = rng.lognormal(-0.5, 0.8, n)
    session.execute(text("SET LOCAL cim.credit_rescore = 'off'"))
    xy = rng.normal(0, 4000, (n, 2)) + CITY_CENTRE
    session.execute(
        insert(Enterprise),
        [
            {
                "uscc": code,
                "name": f"生成建设有限公司{i:05d}",
                "type": "builder",
                "district": DISTRICTS[i % len(DISTRICTS)],
                "status": "active",
                "location": f"SRID=4549;POINT({xy[i, 0]:.1f} {xy[i, 1]:.1f})",
            }
            for i, code in enumerate(codes)
        ],
    )
    recent: list[list[int]] = [[] for _ in range(n)]  # month numbers of each enterprise's bad records
    records, penalties, inspections = [], [], []
    serial = itertools.count()
    for month in range(months):
        day0 = start + timedelta(days=30 * month)
        last_year = np.array([sum(1 for m in r if m > month - 12) for r in recent])
        bad = rng.poisson(0.02 * risk * (1 + 0.8 * last_year))
        for i in np.flatnonzero(bad):
            for _ in range(bad[i]):
                day = day0 + timedelta(days=int(rng.integers(0, 30)))
                serious = rng.random() < 0.4
                impact = float(rng.integers(10, 16) if serious else rng.integers(2, 9))
                records.append(_record(codes[i], "bad", -impact, day))
                recent[i].append(month)
                if rng.random() < 0.5:
                    penalties.append(
                        {
                            "decision_no": f"生罚{seed}-{next(serial)}",
                            "subject_kind": "enterprise",
                            "subject_id": codes[i],
                            "reason": "生成的处罚",
                            "amount_cny": 50_000,
                            "decided_on": day,
                        }
                    )
        for i in np.flatnonzero(rng.poisson(0.02 / risk)):
            records.append(_record(codes[i], "good", 3.0, day0 + timedelta(days=int(rng.integers(0, 30)))))
        for i in np.flatnonzero(rng.random(n) < 0.15):
            draw = rng.random()
            failed = bool(draw < min(0.8, 0.1 * risk[i]))
            inspections.append(
                {
                    "inspection_no": f"生检{seed}-{next(serial)}",
                    "enterprise_uscc": codes[i],
                    "inspected_on": day0 + timedelta(days=int(rng.integers(0, 30))),
                    "kind": "routine",
                    "result": "fail" if failed else "pass",
                    "rectify_order": not failed and bool(draw < min(0.9, 0.25 * risk[i])),  # passed, with an order
                }
            )
    for table, rows in ((CreditRecord, records), (Penalty, penalties), (Inspection, inspections)):
        if rows:
            session.execute(insert(table), rows)
    return codes


def _record(uscc: str, kind: str, impact: float, day: date) -> dict:
    return {
        "subject_kind": "enterprise",
        "subject_id": uscc,
        "kind": kind,
        "source": "生成",
        "description": "生成的不良记录" if kind == "bad" else "生成的良好记录",
        "score_impact": impact,
        "decided_on": day,
        "valid_to": day + timedelta(days=3 * 365),
        "disclosed": True,
    }
