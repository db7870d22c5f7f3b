"""Credit records, penalties and complaints of the sample city: more bad records where the score is low."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import shapely

from sample_models.city.dates import random_dates
from sample_models.city.records import BAD_DEEDS, BUREAU, COMPLAINT_TYPES, GOOD_DEEDS

SOURCES = (BUREAU, "常州市市场监督管理局", "常州市人力资源和社会保障局")
CHANNELS = ("12345", "web", "phone", "visit")
RESULTS = ("已核实并督促整改", "经核查情况不属实", "已协调各方解决")
CHINA = timezone(timedelta(hours=8))


def make_credit_records(rng: np.random.Generator, enterprises: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Good and bad records of enterprises (bad ones likelier for low scores) and a few of registered people."""
    score = enterprises["credit_score"].to_numpy()
    good = rng.poisson(0.8 * score / 85)
    bad = rng.poisson(0.15 + np.clip(95 - score, 0, None) / 12)
    reg = persons[persons["kind"] == "registered"]
    bad_people = rng.poisson(0.03, len(reg))
    subject = np.concatenate(
        [
            np.repeat(enterprises["uscc"].to_numpy(), good),
            np.repeat(enterprises["uscc"].to_numpy(), bad),
            np.repeat(reg["id"].to_numpy(), bad_people),
        ]
    )
    kind = np.repeat(["good", "bad", "bad"], [good.sum(), bad.sum(), bad_people.sum()])
    subject_kind = np.repeat(["enterprise", "enterprise", "person"], [good.sum(), bad.sum(), bad_people.sum()])
    n = len(subject)
    is_bad = kind == "bad"
    description = np.where(
        is_bad,
        np.array(BAD_DEEDS)[rng.integers(0, len(BAD_DEEDS), n)],
        np.array(GOOD_DEEDS)[rng.integers(0, len(GOOD_DEEDS), n)],
    )
    decided = random_dates(rng, date(2022, 7, 1), date(2025, 6, 20), n)
    return pd.DataFrame(
        {
            "record_no": [f"XY{i:08d}" for i in range(1, n + 1)],
            "subject_kind": subject_kind,
            "subject_id": subject,
            "kind": kind,
            "source": np.array(SOURCES)[np.where(is_bad, rng.integers(0, len(SOURCES), n), 0)],
            "description": description,
            "score_impact": np.where(is_bad, -rng.integers(2, 16, n), rng.integers(1, 6, n)).astype(float),
            "decided_on": decided,
            "valid_to": decided + (365 * rng.integers(1, 4, n)).astype("timedelta64[D]"),
            "disclosed": True,
        }
    )


def make_penalties(rng: np.random.Generator, credit: pd.DataFrame) -> pd.DataFrame:
    """An administrative penalty behind about half of the bad records."""
    bad = credit[(credit["kind"] == "bad") & (rng.random(len(credit)) < 0.5)]
    n = len(bad)
    decided = bad["decided_on"].to_numpy()
    return pd.DataFrame(
        {
            "decision_no": [f"常住建罚〔{str(d)[:4]}〕{i}号" for i, d in enumerate(decided, 1)],
            "subject_kind": bad["subject_kind"].to_numpy(),
            "subject_id": bad["subject_id"].to_numpy(),
            "reason": bad["description"].to_numpy(),
            "amount_cny": np.round(rng.uniform(10, 200, n)) * 1000.0,
            "decided_on": decided,
            "authority": BUREAU,
        }
    )


def make_complaints(
    rng: np.random.Generator, n: int, buildings: pd.DataFrame, projects: pd.DataFrame, enterprises: pd.DataFrame
) -> pd.DataFrame:
    """Complaints about buildings (quality, property service), works on site (noise, dust) and
    enterprises (wages), located where the target is."""
    target = rng.choice(3, n, p=[0.5, 0.3, 0.2])
    on_site = projects[projects["stage"] == "construction"]
    if on_site.empty:
        on_site = projects
    kind = np.array(["building", "project", "enterprise"])[target]
    b = rng.integers(0, len(buildings), n)
    p = rng.integers(0, len(on_site), n)
    e = rng.integers(0, len(enterprises), n)
    target_id = np.select(
        [target == 0, target == 1],
        [buildings["code"].to_numpy()[b], on_site["code"].to_numpy()[p]],
        enterprises["uscc"].to_numpy()[e],
    )
    location = np.select(
        [target == 0, target == 1],
        [shapely.centroid(buildings["footprint"].to_numpy()[b]), shapely.centroid(on_site["footprint"].to_numpy()[p])],
        enterprises["location"].to_numpy()[e],
    )
    complaint_type = np.select(
        [target == 0, target == 1],
        [np.array(COMPLAINT_TYPES)[rng.choice([1, 2], n)], np.array(COMPLAINT_TYPES)[rng.choice([0, 4, 5], n)]],
        COMPLAINT_TYPES[3],
    )
    start = datetime(2024, 7, 1, tzinfo=CHINA)
    received = [start + timedelta(seconds=int(s)) for s in rng.integers(0, 364 * 86400, n)]
    status = np.array(["closed", "processing", "received"])[rng.choice(3, n, p=[0.7, 0.2, 0.1])]
    return pd.DataFrame(
        {
            "complaint_no": [f"TS{i:08d}" for i in range(1, n + 1)],
            "channel": np.array(CHANNELS)[rng.integers(0, len(CHANNELS), n)],
            "type": complaint_type,
            "target_kind": kind,
            "target_id": target_id,
            "received_at": [t.isoformat() for t in received],
            "status": status,
            "result": np.where(status == "closed", np.array(RESULTS)[rng.integers(0, len(RESULTS), n)], None),
            "location": location,
        }
    )
