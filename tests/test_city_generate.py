"""The sample city generator on its own: reproducible, valid codes and numbers, plausible buildings."""

from __future__ import annotations

import re

import numpy as np
import shapely

from core.uscc import is_valid
from sample_models.city.generate import generate_city
from sample_models.city.layout import PARAPET_M, PLANNING
from sample_models.load import city_digest

ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def test_same_seed_gives_the_same_bytes_and_another_seed_another_city():
    first, again, other = (city_digest(generate_city(300, seed)) for seed in (11, 11, 12))
    assert first == again
    differing = {table for table in first if first[table] != other[table]}
    assert {"building", "pipeline", "pipe_node", "person", "enterprise", "project", "dem"} <= differing


def test_codes_and_id_numbers_are_valid_and_distinct(sample_city_generated):
    enterprises = sample_city_generated.tables["enterprise"]
    codes = enterprises["uscc"].tolist()
    assert all(is_valid(code) for code in codes)
    assert all(code.startswith("913204") for code in codes)
    assert len(set(codes)) == len(codes)
    assert set(enterprises["type"]) == {
        "builder", "municipal", "survey", "design", "supervision", "developer", "property", "review_agency"
    }  # fmt: skip
    ids = sample_city_generated.id_cards.tolist()
    assert len(set(ids)) == len(ids) == len(sample_city_generated.tables["person"])
    for number in ids:
        total = sum(int(d) * w for d, w in zip(number[:17], ID_WEIGHTS, strict=True))
        assert number[17] == "10X98765432"[total % 11], number
        assert 1962 <= int(number[6:10]) <= 2002
    masked = sample_city_generated.tables["person"]["id_card_masked"]
    assert all(re.fullmatch(r"\d{6}\*{8}[\dX]{4}", m) for m in masked)
    assert [m[:6] + m[-4:] for m in masked] == [n[:6] + n[-4:] for n in ids]


def test_buildings_fit_their_parcels_and_limits(sample_city_generated):
    tables = sample_city_generated.tables
    buildings, parcels = tables["building"], tables["parcel"].set_index("code")
    footprints = buildings["footprint"].to_numpy()
    assert shapely.is_valid(footprints).all()
    parcel_geoms = parcels.loc[buildings["parcel_code"], "geom"].to_numpy()
    assert shapely.covers(parcel_geoms, footprints).all()
    limits = parcels.loc[buildings["parcel_code"], "height_limit_m"].to_numpy()
    assert (buildings["height_m"].to_numpy() <= limits + 1e-9).all()
    storey = np.array([PLANNING[u][5] for u in buildings["use"]])
    expected = buildings["floors_above"].to_numpy() * storey + PARAPET_M
    assert np.allclose(buildings["height_m"].to_numpy(), expected)
    grades = buildings["safety_grade"].dropna()
    assert set(grades) <= {"A", "B", "C", "D"} and 0 < (grades == "D").mean() < 0.1


def test_city_grows_with_the_square_root_of_buildings():
    def width(n: int) -> float:
        roads = generate_city(n, 3).tables["road"]
        x0, _, x1, _ = shapely.total_bounds(roads["red_line"].to_numpy())
        return x1 - x0

    ratio = width(3200) / width(800)
    assert 1.6 < ratio < 2.5, ratio
