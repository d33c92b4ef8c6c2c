"""Anonymized trip list: one row per trip, no card identifier, k-anonymous (C3.3-1, C5.2-5)."""

from __future__ import annotations

import pandas as pd

from assets.city_os._trips import DISTRICT_TZ, GATE_EVENTS, completed_trips

# Every remaining (origin, destination, departure_hour, fare_class) appears at least K times.
# K is at least the declaration's disclosure.k_anonymity: the steward checks every version
# for it before promotion and quarantines one that misses it (C3.3-1).
K = 3
COLUMNS = {
    "origin_station": "string",
    "destination_station": "string",
    "departure_hour": "int64",
    "fare_class": "string",
}


def transform(inputs: dict[str, pd.DataFrame], partition: str | None) -> pd.DataFrame:
    """One row per completed trip with its quasi-identifiers only; rare combinations removed.

    Rows are sorted by their values, so their order carries nothing from the source events.
    """
    trips = completed_trips(inputs[GATE_EVENTS], partition)
    rows = pd.DataFrame(
        {
            "origin_station": trips["origin_station"],
            "destination_station": trips["destination_station"],
            "departure_hour": trips["departure_at"].dt.tz_convert(DISTRICT_TZ).dt.hour,
            "fare_class": trips["fare_class"],
        }
    ).astype(COLUMNS)
    keys = list(COLUMNS)
    group_size = rows.groupby(keys, sort=False)["origin_station"].transform("size")
    kept = rows[group_size >= K].sort_values(keys, kind="stable")
    return kept[keys].reset_index(drop=True)
