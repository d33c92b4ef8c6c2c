"""The one clock (design invariant 5): every timestamp the system records comes from here.

Operators and tests act "as of" any moment by setting ``STEWARD_AS_OF`` (ISO 8601) or by
passing a :class:`FixedClock`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from orchestration.vocabulary import DISTRICT_TZ, DISTRICT_ZONE


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock frozen at one instant; ``advance`` moves it forward for multi-step scenarios."""

    def __init__(self, instant: datetime) -> None:
        self._instant = ensure_aware(instant)

    def now(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        self._instant = ensure_aware(instant)


def ensure_aware(instant: datetime) -> datetime:
    """Naive datetimes are read as district time (Asia/Tokyo); all are returned in UTC."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=DISTRICT_TZ)
    return instant.astimezone(UTC)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 date or datetime given on a command line or in the environment."""
    try:
        return ensure_aware(datetime.fromisoformat(text))
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 date or datetime: {text!r}") from exc


def clock_from_env(as_of: str | None) -> Clock:
    return FixedClock(parse_instant(as_of)) if as_of else SystemClock()


def district_time(instant: datetime) -> str:
    """An instant as people in the district read it: local time with the zone named."""
    return f"{ensure_aware(instant).astimezone(DISTRICT_TZ):%Y-%m-%d %H:%M:%S} {DISTRICT_ZONE}"
