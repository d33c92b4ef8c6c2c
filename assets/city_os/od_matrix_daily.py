"""Daily origin-destination matrix: trips between district stations, counts only (C3.3-1)."""

from __future__ import annotations

import pandas as pd

from assets.city_os._trips import GATE_EVENTS, completed_trips

STATIONS = "open/station_master"
COLUMNS = {"origin_station": "string", "destination_station": "string", "trips": "int64"}


def transform(inputs: dict[str, pd.DataFrame], partition: str | None) -> pd.DataFrame:
    """Count completed trips per (origin, destination), both stations in the station master.

    Trips to or from stations outside the master (outside the district) are left out.
    """
    trips = completed_trips(inputs[GATE_EVENTS], partition)
    known = set(inputs[STATIONS]["station_code"].astype("string").dropna())
    inside = trips["origin_station"].isin(known) & trips["destination_station"].isin(known)
    matrix = (
        trips[inside]
        .groupby(["origin_station", "destination_station"], sort=True)
        .size()
        .rename("trips")
        .reset_index()
    )
    return matrix.astype(COLUMNS)[list(COLUMNS)].reset_index(drop=True)
