"""The sample city's calendar: a fixed 'today' so every generation is the same, and random dates."""

from __future__ import annotations

from datetime import date

import numpy as np

TODAY = date(2025, 6, 30)


def random_dates(rng: np.random.Generator, start: date, end: date, n: int) -> np.ndarray:
    """``n`` dates uniformly between ``start`` and ``end`` (both included), as datetime64[D]."""
    return np.datetime64(start) + rng.integers(0, (end - start).days + 1, n).astype("timedelta64[D]")
