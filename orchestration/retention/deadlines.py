"""When personal data must be gone: pure functions of a policy, the data's dates and a clock.

A deadline is ``anchor + period + grace``, capped by ``not_later_than`` counted from the
partition's end (or, unpartitioned, from its first acquisition). The anchor is the end of the
partition's day (Asia/Tokyo), its first acquisition, the moment every derived dataset has a
passing version of the same partition (C5.2-3), or a timestamp column, row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import pandas as pd

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.durations import parse_duration
from orchestration.declarations.models import AnchorKind, RetentionPolicy


@dataclass(frozen=True)
class Deadline:
    at: datetime | None  # None: not due until its anchor exists (e.g. no derivation yet)
    basis: str  # how it was computed, for the ledger, the dry run and certificates


def partition_end(partition: str) -> datetime:
    """The end of a partition's day in district time, as an aware datetime."""
    day = date.fromisoformat(partition) + timedelta(days=1)
    return datetime.combine(day, time.min, tzinfo=DISTRICT_TZ)


def _life(policy: RetentionPolicy) -> str:
    return policy.period + (f" + grace {policy.grace}" if policy.grace else "")


def _add_life(anchor: datetime, policy: RetentionPolicy) -> datetime:
    at = anchor + parse_duration(policy.period)
    return at + parse_duration(policy.grace) if policy.grace else at


def partition_deadline(
    policy: RetentionPolicy,
    partition: str,
    first_acquired: datetime,
    derivations_passed_at: list[datetime | None] | None = None,
) -> Deadline:
    """The deadline of a whole partition ("" for an unpartitioned dataset)."""
    start = partition_end(partition) if partition else first_acquired
    start_name = f"end of {partition}" if partition else "first acquisition"
    kind = policy.anchor.kind
    anchor: datetime | None
    if kind is AnchorKind.PARTITION_END:
        anchor, name = start, start_name
    elif kind is AnchorKind.ACQUISITION:
        anchor, name = first_acquired, "first acquisition"
    elif kind is AnchorKind.DERIVATION:
        passed = derivations_passed_at or []
        done = bool(passed) and all(p is not None for p in passed)
        anchor = max(p for p in passed if p is not None) if done else None
        name = "every derived dataset passed its suite (C5.2-3)"
    else:
        raise ValueError(f"policy {policy.name}: a column anchor is evaluated per row")
    candidates: list[tuple[datetime, str]] = []
    if anchor is not None:
        candidates.append((_add_life(anchor, policy), f"{name} + {_life(policy)}"))
    if policy.not_later_than:
        cap = start + parse_duration(policy.not_later_than)
        candidates.append((cap, f"{start_name} + at most {policy.not_later_than}"))
    if not candidates:
        return Deadline(None, f"waiting for: {name}")
    at, basis = min(candidates)
    return Deadline(at, f"policy {policy.name}: {basis}")


def row_deadlines(policy: RetentionPolicy, anchors: pd.Series) -> pd.Series:
    """Per row: the anchor column's time + period + grace, rounded down to the start of that
    day in district time; NaT where the column is empty.

    Whole days, because a row's exact deadline would date one person's event (an account
    closed at 23:34:09) wherever it is shown; rounding down purges within the period, never
    after it, and the nightly sweep acts on days anyway.
    """
    values = pd.to_datetime(anchors, utc=True)
    out = values + pd.DateOffset(**_offset_parts(policy.period))
    if policy.grace:
        out = out + pd.DateOffset(**_offset_parts(policy.grace))
    local = out.dt.tz_convert(DISTRICT_TZ)
    return local.dt.normalize().dt.tz_convert("UTC")


def _offset_parts(duration: str) -> dict[str, int]:
    delta = parse_duration(duration)
    fields = ("years", "months", "days", "hours", "minutes", "seconds")  # weeks are in days
    return {f: getattr(delta, f) for f in fields if getattr(delta, f)}
