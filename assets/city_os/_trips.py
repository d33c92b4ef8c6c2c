"""What counts as a trip, shared by the OD matrix and the anonymized trips so both agree."""

from __future__ import annotations

from datetime import date

import pandas as pd

GATE_EVENTS = "rail_os/ic_gate_events"
DISTRICT_TZ = "Asia/Tokyo"

# At the same second an exit sorts before an entry: a journey ends before the next one starts.
_DIRECTION_ORDER = {"exit": 0, "entry": 1}


def completed_trips(events: pd.DataFrame, partition: str | None) -> pd.DataFrame:
    """Pair each card's entry with its next tap when that tap is an exit on the same Tokyo day.

    An entry followed by another entry (no exit read) and an exit without an entry before it are
    not trips. When ``partition`` is given, only taps on that Tokyo day are used. Returns
    origin_station, destination_station, departure_at (Tokyo time) and fare_class; the card
    pseudonym is dropped here so it cannot reach any City OS output.
    """
    local = pd.to_datetime(events["event_at"], utc=True).dt.tz_convert(DISTRICT_TZ)
    taps = pd.DataFrame(
        {
            "card": events["card_pseudonym"].astype("string"),
            "at": local,
            "day": local.dt.strftime("%Y-%m-%d").astype("string"),
            "order": events["direction"].astype("string").map(_DIRECTION_ORDER),
            "direction": events["direction"].astype("string"),
            "station": events["station_code"].astype("string"),
            "gate": events["gate_id"].astype("string"),
            "fare_class": events["fare_class"].astype("string"),
        }
    )
    if partition is not None:
        taps = taps[taps["day"] == date.fromisoformat(partition).isoformat()]
    taps = taps.sort_values(["card", "at", "order", "station", "gate"], kind="stable")
    following = taps.groupby(["card", "day"], sort=False).shift(-1)
    is_trip = (taps["direction"] == "entry") & (following["direction"] == "exit")
    trips = pd.DataFrame(
        {
            "origin_station": taps.loc[is_trip, "station"],
            "destination_station": following.loc[is_trip, "station"],
            "departure_at": taps.loc[is_trip, "at"],
            "fare_class": taps.loc[is_trip, "fare_class"],
        }
    )
    return trips.reset_index(drop=True)
