"""Projects of the sample city with their five enterprise roles, key people, permits and completion filings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from sample_models.city import names
from sample_models.city.dates import TODAY
from sample_models.city.records import BUREAU

ROLE_TYPES = {
    "build_unit_uscc": "developer",
    "contractor_uscc": "builder",
    "supervisor_uscc": "supervision",
    "designer_uscc": "design",
    "surveyor_uscc": "survey",
}
GRADE_WEIGHT = {"A": 3.0, "B": 3.0, "C": 1.5, "D": 0.5}  # owners still hire D-grade contractors, rarely
UNIT_COST_CNY = (3500.0, 6500.0)


def _days(values: np.ndarray) -> np.ndarray:
    return values.astype("timedelta64[D]")


def _pick(rng: np.random.Generator, enterprises: pd.DataFrame, kind: str, n: int) -> np.ndarray:
    """``n`` active enterprises of a type, better grades more often."""
    pool = enterprises[(enterprises["type"] == kind) & (enterprises["status"] == "active")]
    if pool.empty:
        pool = enterprises[enterprises["type"] == kind]
    weight = pool["credit_grade"].map(GRADE_WEIGHT).to_numpy()
    return pool["uscc"].to_numpy()[rng.choice(len(pool), n, p=weight / weight.sum())]


def _schedule(rng: np.random.Generator, stage: np.ndarray, year: np.ndarray, start_year: np.ndarray):
    """Planned start and end dates by stage: delivered ones ended in their year, later stages lie ahead."""
    n = len(stage)
    jan1 = np.array([f"{y}-01-01" for y in start_year], dtype="datetime64[D]")
    start = jan1 + _days(rng.integers(0, 365, n))
    duration = _days(rng.integers(540, 1100, n))
    end = start + duration
    delivered = stage == "delivered"
    end_delivered = np.array([f"{max(y, 1990)}-01-01" for y in year], dtype="datetime64[D]") + _days(
        rng.integers(0, 330, n)
    )
    end = np.where(delivered, end_delivered, end)
    start = np.where(delivered, end - duration, start)
    acceptance = stage == "acceptance"
    end = np.where(acceptance, np.datetime64(TODAY) - _days(rng.integers(10, 150, n)), end)
    start = np.where(acceptance, end - duration, start)
    later = np.isin(stage, ["approval", "preparation"])
    start = np.where(later, np.datetime64(TODAY) + _days(rng.integers(30, 400, n)), start)
    end = np.where(later, start + duration, end)
    return start, end


def make_projects(
    rng: np.random.Generator,
    parcels: pd.DataFrame,
    development: pd.DataFrame,
    buildings: pd.DataFrame,
    enterprises: pd.DataFrame,
    municipal: pd.DataFrame,
) -> pd.DataFrame:
    """One project per developed parcel (footprint = the parcel), plus the municipal ones (``municipal``:
    code, name, footprint, start_year); civil defence works under a few basements."""
    has = development["project_code"].notna().to_numpy()
    idx = np.flatnonzero(has)
    n = len(idx)
    use = parcels["land_use"].to_numpy()[idx]
    area_per_building = shapely.area(buildings["footprint"].to_numpy()) * (
        buildings["floors_above"].to_numpy() + buildings["floors_below"].to_numpy()
    )
    parcel_of = buildings["parcel_index"].to_numpy()
    floor_area = np.bincount(parcel_of, weights=area_per_building, minlength=len(parcels))[idx]
    deepest = np.bincount(parcel_of, weights=buildings["floors_below"].to_numpy(), minlength=len(parcels))[idx]
    tallest = np.zeros(len(parcels))
    np.maximum.at(tallest, parcel_of, buildings["height_m"].to_numpy())
    tallest = tallest[idx]
    geom = parcels["geom"].to_numpy()[idx]
    vacant = floor_area == 0
    floor_area = np.where(
        vacant, shapely.area(geom) * parcels["max_plot_ratio"].to_numpy()[idx] * rng.uniform(0.8, 1.0, n), floor_area
    )
    civil = (deepest > 0) & (rng.random(n) < 0.08)
    brand = names.brand_names(rng, n)
    suffix = [
        names.PROJECT_SUFFIX[u][i % len(names.PROJECT_SUFFIX[u])]
        for u, i in zip(use, rng.integers(0, 5, n), strict=True)
    ]
    phase = np.array(names.PHASES)[rng.integers(0, len(names.PHASES), n)]
    project_name = [
        f"{b}{s}{p}" + ("人防工程" if c else "") for b, s, p, c in zip(brand, suffix, phase, civil, strict=True)
    ]
    stage = development["stage"].to_numpy()[idx]
    hazardous = np.where((deepest > 0) | (tallest >= 50), rng.random(n) < 0.9, rng.random(n) < 0.1)
    start, end = _schedule(rng, stage, development["year"].to_numpy()[idx], development["start_year"].to_numpy()[idx])
    progress = np.select(
        [np.isin(stage, ["delivered", "acceptance"]), stage == "construction"],
        [100.0, np.round(rng.uniform(5, 95, n), 1)],
        0.0,
    )
    district = parcels["district"].to_numpy()[idx]
    address = [
        f"常州市{d}{r}{no}号"
        for d, r, no in zip(district, parcels["road"].to_numpy()[idx], parcels["house_no"].to_numpy()[idx], strict=True)
    ]
    frame = pd.DataFrame(
        {
            "code": development["project_code"].to_numpy()[idx],
            "name": project_name,
            "type": np.where(civil, "civil_defence", "building"),
            "stage": stage,
            "floor_area_m2": np.round(floor_area, 2),
            "address": address,
            "parcel_code": parcels["code"].to_numpy()[idx],
            "planned_start": start,
            "planned_end": end,
            "hazardous_works": hazardous,
            "progress_pct": progress,
            "footprint": geom,
        }
    )
    m = len(municipal)
    m_start, m_end = _schedule(rng, municipal["stage"].to_numpy(), np.full(m, 2024), municipal["start_year"].to_numpy())
    roads = pd.DataFrame(
        {
            "code": municipal["code"],
            "name": municipal["name"],
            "type": "municipal",
            "stage": municipal["stage"],
            "floor_area_m2": np.nan,
            "address": municipal["address"],
            "parcel_code": None,
            "planned_start": m_start,
            "planned_end": m_end,
            "hazardous_works": True,
            "progress_pct": np.where(municipal["stage"] == "construction", np.round(rng.uniform(5, 95, m), 1), 0.0),
            "footprint": municipal["footprint"],
        }
    )
    frame = pd.concat([frame, roads], ignore_index=True)
    total = len(frame)
    for column, kind in ROLE_TYPES.items():
        picked = _pick(rng, enterprises, kind, total)
        if column == "contractor_uscc":
            picked[n:] = _pick(rng, enterprises, "municipal", m)
        frame[column] = picked
    cost = np.where(frame["type"] == "municipal", rng.uniform(2e7, 2e8, total), 0.0)
    investment = np.where(
        frame["type"] == "municipal",
        cost,
        frame["floor_area_m2"].to_numpy(dtype=float, na_value=0.0) * rng.uniform(*UNIT_COST_CNY, total),
    )
    frame["investment_cny"] = np.round(investment, 2)
    return frame


def make_project_people(rng: np.random.Generator, projects: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """A project manager from the contractor, a chief supervisor from the supervisor, a design lead from the
    designer; projects on site also a technical lead and a safety officer from the contractor."""
    registered = persons[persons["kind"] == "registered"].groupby("employer_uscc")["id"].agg(list).to_dict()
    employed = persons[persons["kind"] == "employed"].groupby("employer_uscc")["id"].agg(list).to_dict()
    rows = []
    draws = rng.integers(0, 1 << 30, (len(projects), 5))
    on_site = projects["stage"].isin(["construction", "acceptance"]).to_numpy()
    for (code, contractor, supervisor, designer), r, site in zip(
        projects[["code", "contractor_uscc", "supervisor_uscc", "designer_uscc"]].itertuples(index=False),
        draws,
        on_site,
        strict=True,
    ):
        people = [
            ("project_manager", registered[contractor], r[0]),
            ("chief_supervisor", registered[supervisor], r[1]),
            ("design_lead", registered[designer], r[2]),
        ]
        if site:
            people += [("technical_lead", registered[contractor], r[3]), ("safety_officer", employed[contractor], r[4])]
        for role, pool, draw in people:
            rows.append((code, pool[draw % len(pool)], role))
    return pd.DataFrame(rows, columns=["project_code", "person_id", "role"])


def make_permits_and_filings(rng: np.random.Generator, projects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A construction permit for every project past preparation; a completion filing for every delivered one
    and half of those in acceptance."""
    stage = projects["stage"].to_numpy()
    permitted = projects[np.isin(stage, ["construction", "acceptance", "delivered"])]
    n = len(permitted)
    start = permitted["planned_start"].to_numpy().astype("datetime64[D]")
    investment = permitted["investment_cny"].to_numpy(dtype=float)
    permits = pd.DataFrame(
        {
            "permit_no": [f"{c}01" for c in permitted["code"]],
            "project_code": permitted["code"].to_numpy(),
            "issued_on": start - _days(rng.integers(5, 40, n)),
            "contract_price_cny": np.round(investment * rng.uniform(0.6, 0.85, n), 2),
            "area_m2": permitted["floor_area_m2"].to_numpy(),
            "issuer": BUREAU,
            "status": np.where(permitted["stage"] == "delivered", "completed", "valid"),
        }
    )
    filed = permitted[
        (permitted["stage"] == "delivered") | ((permitted["stage"] == "acceptance") & (rng.random(n) < 0.5))
    ]
    m = len(filed)
    today = np.datetime64(TODAY)
    accepted = np.minimum(
        filed["planned_end"].to_numpy().astype("datetime64[D]") + _days(rng.integers(0, 40, m)), today
    )
    filed_on = np.minimum(accepted + _days(rng.integers(3, 15, m)), today)
    filings = pd.DataFrame(
        {
            "filing_no": [f"CZJB{str(d)[:4]}{i:06d}" for i, d in enumerate(filed_on, 1)],
            "project_code": filed["code"].to_numpy(),
            "accepted_on": accepted,
            "filed_on": filed_on,
            "archive_accepted": (filed["stage"] == "delivered").to_numpy() | (rng.random(m) < 0.5),
        }
    )
    return permits, filings
