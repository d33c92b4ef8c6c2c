"""ISO 8601 durations with calendar units (P1Y, P6M), which ``timedelta`` cannot hold."""

from __future__ import annotations

import re

from dateutil.relativedelta import relativedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def parse_duration(text: str) -> relativedelta:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as P7D or P1Y")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return relativedelta(**parts)
