"""People flow per station, Tokyo hour and direction, counted from camera detections.

Only counts leave this function: track ids, age bands and exact times stay behind (C3.3-1).
"""

from __future__ import annotations

from datetime import date

import pandas as pd

DETECTIONS = "rail_os/station_camera_detections"
DISTRICT_TZ = "Asia/Tokyo"
COLUMNS = {"station_code": "string", "hour": "int64", "direction": "string", "people": "int64"}


def transform(inputs: dict[str, pd.DataFrame], partition: str | None) -> pd.DataFrame:
    """Count distinct people (track ids) per station, hour and direction.

    A person seen by several cameras or frames in the same station, hour and direction counts
    once. When ``partition`` is given, only detections on that Tokyo day are counted.
    """
    detections = inputs[DETECTIONS]
    local = pd.to_datetime(detections["detected_at"], utc=True).dt.tz_convert(DISTRICT_TZ)
    seen = pd.DataFrame(
        {
            "station_code": detections["station_code"].astype("string"),
            "hour": local.dt.hour.astype("int64"),
            "direction": detections["direction"].astype("string"),
            "track_id": detections["track_id"].astype("string"),
        }
    )
    if partition is not None:
        seen = seen[local.dt.date == date.fromisoformat(partition)]
    people = (
        seen.groupby(["station_code", "hour", "direction"], sort=True)["track_id"]
        .nunique()
        .rename("people")
        .reset_index()
    )
    return people.astype(COLUMNS)[list(COLUMNS)].reset_index(drop=True)
