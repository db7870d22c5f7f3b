"""Generate the whole sample city in memory: one table per database table, deterministic per seed."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from sample_models.city import credit, layout, networks, projects, records
from sample_models.city.terrain import Terrain, make_terrain

BUILDINGS_PER_BLOCK = 16  # a first guess of the grid size; the grid grows until the cells suffice
MUNICIPAL_WORKS = ("道路改造工程", "雨污分流改造工程", "燃气管道更新改造工程", "给水管网改造工程")
# Tables in the order they load (referenced tables first).
TABLES = (
    "enterprise",
    "qualification",
    "credit_grade_history",
    "person",
    "parcel",
    "road",
    "project",
    "project_person",
    "construction_permit",
    "completion_filing",
    "credit_record",
    "penalty",
    "complaint",
    "building",
    "house_unit",
    "pipe_node",
    "pipeline",
    "utility_tunnel",
    "tunnel_compartment",
    "sensor",
    "sensor_reading",
)


@dataclass(frozen=True)
class City:
    tables: dict[str, pd.DataFrame]  # by table name, in ``TABLES`` order; extra helper columns allowed
    terrain: Terrain
    id_cards: np.ndarray  # the people's plain ID numbers: for tests only, never written anywhere


def _streams(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators per part, so a change in one part leaves the others as they were."""
    parts = ("layout", "terrain", "buildings", "records", "projects", "credit", "networks", "tunnel")
    return {
        part: np.random.default_rng(s)
        for part, s in zip(parts, np.random.SeedSequence(seed).spawn(len(parts)), strict=True)
    }


def _municipal(rng: np.random.Generator, roads: pd.DataFrame, tunnel_road: int, first_seq: int) -> pd.DataFrame:
    """Municipal works on some roads, the utility tunnel's among them; footprint = the road's red line."""
    n_roads = len(roads)
    ew_tunnel = n_roads // 2 + tunnel_road
    others = rng.permutation(np.setdiff1d(np.arange(n_roads), [ew_tunnel]))[: max(1, n_roads // 8)]
    chosen = np.concatenate([[ew_tunnel], others])
    m = len(chosen)
    stage = np.concatenate(
        [["construction"], rng.choice(["construction", "preparation", "approval", "delivered"], m - 1)]
    )
    start_year = np.where(stage == "delivered", 2022, rng.integers(2024, 2026, m))
    road_names = roads["name"].to_numpy()[chosen]
    works = np.concatenate([["综合管廊工程"], np.array(MUNICIPAL_WORKS)[rng.integers(0, len(MUNICIPAL_WORKS), m - 1)]])
    return pd.DataFrame(
        {
            "code": [f"320400{y}{first_seq + i:06d}" for i, y in enumerate(start_year, 1)],
            "name": [f"{r}{w}" for r, w in zip(road_names, works, strict=True)],
            "stage": stage,
            "start_year": start_year,
            "address": [f"常州市{r}" for r in road_names],
            "footprint": roads["red_line"].to_numpy()[chosen],
        }
    )


def generate_city(buildings: int = 2000, seed: int = 7) -> City:
    """The sample city with ``buildings`` buildings; the same seed gives the same city, byte for byte."""
    if buildings < 1:
        raise ValueError("a city needs at least one building")
    rng = _streams(seed)
    n_lines = max(3, math.ceil(math.sqrt(buildings / BUILDINGS_PER_BLOCK)) + 1)
    while True:
        streets = layout.make_streets(rng["layout"], n_lines)
        parcels = layout.make_parcels(rng["layout"], streets)
        cells = layout.capacity(parcels)
        if cells >= buildings:
            break
        n_lines = max(n_lines + 1, math.ceil((n_lines - 1) * math.sqrt(1.1 * buildings / max(cells, 1))) + 1)
    terrain = make_terrain(rng["terrain"], streets.bounds)
    slots = np.sort(rng["buildings"].choice(layout.capacity(parcels), buildings, replace=False))
    built = np.zeros(len(parcels.frame), bool)
    built[layout.slot_parcels(parcels, slots)[0]] = True
    development = layout.develop(rng["buildings"], parcels, built)
    building = layout.make_buildings(rng["buildings"], parcels, development, slots, terrain)
    units = layout.make_house_units(rng["buildings"], building)
    roads = layout.roads_frame(streets)

    rr = rng["records"]
    enterprise = records.make_enterprises(rr, max(48, buildings // 20), streets.bounds)
    qualification = records.make_qualifications(rr, enterprise)
    history = records.make_grade_history(rr, enterprise)
    person, id_cards = records.make_persons(rr, enterprise)

    rp = rng["projects"]
    municipal = _municipal(rp, roads, networks.tunnel_road(streets), int(development["project_code"].notna().sum()))
    project = projects.make_projects(rp, parcels.frame, development, building, enterprise, municipal)
    project_person = projects.make_project_people(rp, project, person)
    permits, filings = projects.make_permits_and_filings(rp, project)

    rc = rng["credit"]
    credit_record = credit.make_credit_records(rc, enterprise, person)
    penalty = credit.make_penalties(rc, credit_record)
    complaint = credit.make_complaints(rc, max(20, buildings // 20), building, project, enterprise)

    nodes, pipes = zip(
        *(networks.make_network(u, rng["networks"], streets, terrain) for u in networks.UTILITIES), strict=True
    )
    tunnel = networks.make_tunnel(rng["tunnel"], streets, terrain)
    tables = {
        "enterprise": enterprise,
        "qualification": qualification,
        "credit_grade_history": history,
        "person": person,
        "parcel": parcels.frame,
        "road": roads,
        "project": project,
        "project_person": project_person,
        "construction_permit": permits,
        "completion_filing": filings,
        "credit_record": credit_record,
        "penalty": penalty,
        "complaint": complaint,
        "building": building,
        "house_unit": units,
        "pipe_node": pd.concat(nodes, ignore_index=True),
        "pipeline": pd.concat(pipes, ignore_index=True),
        **tunnel,
    }
    return City({name: tables[name] for name in TABLES}, terrain, id_cards)
