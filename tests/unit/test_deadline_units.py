"""Retention deadlines as pure functions of a policy, the data's dates and a clock (C5.2-11).

Fast unit tests, run by ``make mutation`` against orchestration/retention/deadlines.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.models import RetentionPolicy
from orchestration.retention.deadlines import (
    Deadline,
    partition_deadline,
    partition_end,
    row_deadlines,
)

DAY = "2026-11-01"
END = datetime(2026, 11, 2, tzinfo=DISTRICT_TZ)  # the end of DAY in the district
ACQUIRED = datetime(2026, 11, 3, 1, 30, tzinfo=UTC)


def _policy(**fields: Any) -> RetentionPolicy:
    return RetentionPolicy.model_validate(
        {"name": "p", "description": "unit test", "classifications": ["personal"], **fields}
    )


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


def test_c5_2_11_partition_ends_at_midnight_after_its_day_in_tokyo() -> None:
    assert partition_end(DAY) == END
    assert partition_end(DAY) == datetime(2026, 11, 1, 15, tzinfo=UTC)
    assert partition_end("2026-12-31") == datetime(2027, 1, 1, tzinfo=DISTRICT_TZ)


@pytest.mark.parametrize(
    ("policy", "partition", "at", "basis"),
    [
        (
            {"period": "P90D", "anchor": {"kind": "partition_end"}},
            DAY,
            END + timedelta(days=90),
            "policy p: end of 2026-11-01 + P90D",
        ),
        (
            {"period": "P90D", "grace": "P7D", "anchor": {"kind": "partition_end"}},
            DAY,
            END + timedelta(days=97),
            "policy p: end of 2026-11-01 + P90D + grace P7D",
        ),
        (
            {"period": "P1D", "anchor": {"kind": "partition_end"}},
            "",
            ACQUIRED + timedelta(days=1),
            "policy p: first acquisition + P1D",
        ),
        (
            {"period": "PT12H", "grace": "P1D", "anchor": {"kind": "acquisition"}},
            DAY,
            ACQUIRED + timedelta(hours=36),
            "policy p: first acquisition + PT12H + grace P1D",
        ),
        (
            {"period": "P1M", "anchor": {"kind": "partition_end"}},
            "2026-01-30",
            datetime(2026, 2, 28, tzinfo=DISTRICT_TZ),  # a calendar month from 31 January
            "policy p: end of 2026-01-30 + P1M",
        ),
        (
            {"period": "P1Y", "anchor": {"kind": "acquisition"}, "not_later_than": "P2Y"},
            DAY,
            ACQUIRED.replace(year=2027),
            "policy p: first acquisition + P1Y",
        ),
        (
            {"period": "P1Y", "anchor": {"kind": "acquisition"}, "not_later_than": "P30D"},
            DAY,
            END + timedelta(days=30),  # the cap comes first
            "policy p: end of 2026-11-01 + at most P30D",
        ),
        (
            {"period": "P1Y", "anchor": {"kind": "acquisition"}, "not_later_than": "P30D"},
            "",
            ACQUIRED + timedelta(days=30),  # unpartitioned: capped from first acquisition
            "policy p: first acquisition + at most P30D",
        ),
    ],
)
def test_c5_2_11_partition_deadline_is_anchor_plus_period_plus_grace_capped(
    policy: dict[str, Any], partition: str, at: datetime, basis: str
) -> None:
    assert partition_deadline(_policy(**policy), partition, ACQUIRED) == Deadline(at, basis)


def test_c5_2_3_derivation_anchor_waits_for_every_derived_dataset() -> None:
    policy = _policy(period="P1D", anchor={"kind": "derivation"})
    t1, t2 = datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, 6, tzinfo=UTC)
    waiting = Deadline(None, "waiting for: every derived dataset passed its suite (C5.2-3)")
    for passed in (None, [], [None], [t1, None], [None, t2]):
        assert partition_deadline(policy, DAY, ACQUIRED, passed) == waiting, passed
    assert partition_deadline(policy, DAY, ACQUIRED, [t2, t1]) == Deadline(
        t2 + timedelta(days=1),
        "policy p: every derived dataset passed its suite (C5.2-3) + P1D",
    )
    graced = _policy(period="P1D", grace="PT6H", anchor={"kind": "derivation"})
    assert partition_deadline(graced, DAY, ACQUIRED, [t1]).at == t1 + timedelta(hours=30)


def test_c5_2_3_derivation_anchor_is_capped_by_not_later_than() -> None:
    policy = _policy(period="P1D", anchor={"kind": "derivation"}, not_later_than="P7D")
    cap = Deadline(END + timedelta(days=7), "policy p: end of 2026-11-01 + at most P7D")
    assert partition_deadline(policy, DAY, ACQUIRED, [None]) == cap
    assert partition_deadline(policy, DAY, ACQUIRED, [END + timedelta(days=7)]) == cap
    early = datetime(2026, 11, 3, tzinfo=UTC)
    assert partition_deadline(policy, DAY, ACQUIRED, [early]).at == early + timedelta(days=1)


def test_c5_2_11_a_column_anchor_has_no_partition_deadline() -> None:
    policy = _policy(period="P30D", anchor={"kind": "column", "column": "closed_at"})
    with pytest.raises(ValueError, match=r"^policy p: a column anchor is evaluated per row$"):
        partition_deadline(policy, "", ACQUIRED)


@pytest.mark.parametrize(
    ("period", "grace", "anchor", "due"),
    [
        # anchor + period, rounded down to the start of that day in Asia/Tokyo
        ("P30D", "P7D", "2026-09-01T23:34:09+00:00", "2026-10-09T00:00:00+09:00"),
        ("P30D", None, "2026-09-01T14:59:59+00:00", "2026-10-01T00:00:00+09:00"),
        ("P30D", None, "2026-09-01T15:00:00+00:00", "2026-10-02T00:00:00+09:00"),
        ("P1Y", None, "2026-03-01T00:00:00+09:00", "2027-03-01T00:00:00+09:00"),
        ("P1M", None, "2026-01-31T12:00:00+09:00", "2026-02-28T00:00:00+09:00"),
        ("P2W", None, "2026-11-01T12:00:00+09:00", "2026-11-15T00:00:00+09:00"),
        ("PT36H", None, "2026-11-01T13:00:00+09:00", "2026-11-03T00:00:00+09:00"),
        ("PT90M", None, "2026-11-01T23:00:00+09:00", "2026-11-02T00:00:00+09:00"),
        ("PT30S", None, "2026-11-01T23:59:45+09:00", "2026-11-02T00:00:00+09:00"),
        ("P1D", "PT12H", "2026-11-01T11:00:00+09:00", "2026-11-02T00:00:00+09:00"),
        ("P1D", "PT12H", "2026-11-01T12:00:00+09:00", "2026-11-03T00:00:00+09:00"),
    ],
)
def test_c5_2_11_row_deadline_is_the_day_its_period_ends(
    period: str, grace: str | None, anchor: str, due: str
) -> None:
    extra = {"grace": grace} if grace else {}
    policy = _policy(period=period, anchor={"kind": "column", "column": "closed_at"}, **extra)
    out = row_deadlines(policy, pd.Series([anchor, None], dtype=object))
    assert out.iloc[0] == _ts(due)
    assert pd.isna(out.iloc[1])
    assert str(out.dtype) == "datetime64[ns, UTC]"


def test_c5_2_11_row_deadlines_of_no_rows_are_no_deadlines() -> None:
    policy = _policy(period="P30D", anchor={"kind": "column", "column": "closed_at"})
    out = row_deadlines(policy, pd.Series([], dtype="datetime64[ns, UTC]"))
    assert len(out) == 0 and str(out.dtype) == "datetime64[ns, UTC]"


def test_c5_2_11_row_deadlines_read_mixed_offsets_and_naive_times_as_instants() -> None:
    """Providers write offsets differently; a naive time is UTC, as the store keeps it."""
    policy = _policy(period="P1D", anchor={"kind": "column", "column": "closed_at"})
    mixed = pd.Series(["2026-11-01T23:30:00+09:00", "2026-11-01T23:30:00+00:00"], dtype=object)
    assert list(row_deadlines(policy, mixed)) == [
        _ts("2026-11-02T00:00:00+09:00"),
        _ts("2026-11-03T00:00:00+09:00"),
    ]
    naive = pd.Series(pd.to_datetime(["2026-11-01T14:59:00", "2026-11-01T15:00:00"]))
    assert list(row_deadlines(policy, naive)) == [
        _ts("2026-11-02T00:00:00+09:00"),
        _ts("2026-11-03T00:00:00+09:00"),
    ]
