"""Retention deadlines and the sweep planner as pure functions, on the real catalog.

C5.2-3 (dispose of the original once every derived dataset has a passing version) and C5.2-11
(retention periods, legal holds, row-level expiry): no ledger, no store, no clock but NOW.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from planning import retention_state, version_record

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import RetentionPolicy
from orchestration.retention.deadlines import partition_deadline, partition_end, row_deadlines
from orchestration.retention.plan import (
    Deferred,
    Hold,
    RetentionState,
    VersionRecord,
    plan_sweep,
)

CAMERA = "rail_os/station_camera_detections"
FLOW = "city_os/people_flow_hourly"
GATES = "rail_os/ic_gate_events"
USERS = "member/app_users"
DAY1, DAY2 = "2026-11-01", "2026-11-02"
NOW = datetime(2026, 11, 5, 9, 0, tzinfo=UTC)  # the conftest clock
LATE = datetime(2027, 6, 1, tzinfo=UTC)  # everything personal is long past its deadline
USERS_LIFE = timedelta(days=37)  # app_accounts_closed: P30D + grace P7D


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _policy(**fields: Any) -> RetentionPolicy:
    return RetentionPolicy.model_validate(
        {"name": "p", "description": "test policy", "classifications": ["personal"], **fields}
    )


def _rec(
    vid: int,
    dataset: str,
    partition: str,
    number: int = 1,
    key: str = "k1",
    created: datetime = NOW,
    sources: tuple[str, ...] = (),
) -> VersionRecord:
    return version_record(vid, dataset, partition, number, key, created, sources=sources)


_state = retention_state


GATES_DAY1_DUE = _utc("2027-01-30T15:00:00+00:00")


def _users_state(
    *records: VersionRecord, anchors: dict[int, list[str | None]], active: str
) -> RetentionState:
    return _state(
        *records,
        anchors={vid: pd.Series(pd.to_datetime(v, utc=True)) for vid, v in anchors.items()},
        active={(USERS, ""): active},
    )


def test_c5_2_11_partition_end_is_the_end_of_the_day_in_tokyo() -> None:
    end = partition_end(DAY1)
    assert end == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # 2026-11-02 00:00 +09:00
    assert end.utcoffset() == timedelta(hours=9)
    assert partition_end("2026-12-31") == datetime(2027, 1, 1, tzinfo=DISTRICT_TZ)


def test_c5_2_11_partition_end_anchor_counts_from_the_end_of_the_day() -> None:
    acquired = _utc("2026-11-05T09:00:00+00:00")  # irrelevant for this anchor
    deadline = partition_deadline(
        _policy(period="P90D", anchor={"kind": "partition_end"}), DAY1, acquired
    )
    assert deadline.at == datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)
    assert deadline.at == _utc("2027-01-30T15:00:00+00:00")
    assert "end of 2026-11-01 + P90D" in deadline.basis

    graced = partition_deadline(
        _policy(period="P90D", grace="P7D", anchor={"kind": "partition_end"}), DAY1, acquired
    )
    assert graced.at == datetime(2027, 2, 7, tzinfo=DISTRICT_TZ)
    assert "grace P7D" in graced.basis

    # unpartitioned: the partition's "end" is its first acquisition
    whole = partition_deadline(
        _policy(period="P1D", anchor={"kind": "partition_end"}), "", acquired
    )
    assert whole.at == acquired + timedelta(days=1)
    assert "first acquisition" in whole.basis


def test_c5_2_11_acquisition_anchor_counts_from_first_acquisition() -> None:
    acquired = _utc("2026-11-03T10:30:00+09:00")
    policy = _policy(period="PT12H", grace="P1D", anchor={"kind": "acquisition"})
    deadline = partition_deadline(policy, DAY1, acquired)
    assert deadline.at == acquired + timedelta(hours=36)
    assert "first acquisition + PT12H + grace P1D" in deadline.basis


def test_c5_2_3_derivation_anchor_waits_for_every_derived_dataset() -> None:
    policy = _policy(period="P1D", anchor={"kind": "derivation"})
    acquired = _utc("2026-11-02T01:00:00+00:00")
    t1, t2 = _utc("2026-11-03T00:00:00+00:00"), _utc("2026-11-04T06:00:00+00:00")

    for passed in (None, [], [None], [t1, None]):
        waiting = partition_deadline(policy, DAY1, acquired, passed)
        assert waiting.at is None, passed
        assert waiting.basis.startswith("waiting for")
    done = partition_deadline(policy, DAY1, acquired, [t2, t1])
    assert done.at == t2 + timedelta(days=1)  # the latest derivation + period
    assert "C5.2-3" in done.basis

    graced = partition_deadline(
        _policy(period="P1D", grace="PT6H", anchor={"kind": "derivation"}), DAY1, acquired, [t1]
    )
    assert graced.at == t1 + timedelta(days=1, hours=6)


def test_c5_2_11_derivation_anchor_is_capped_by_not_later_than() -> None:
    policy = _policy(period="P1D", anchor={"kind": "derivation"}, not_later_than="P7D")
    acquired = _utc("2026-11-02T01:00:00+00:00")
    cap = datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)  # end of DAY1 + 7 days

    never = partition_deadline(policy, DAY1, acquired, [None])
    assert never.at == cap  # no derivation yet: the cap still applies
    assert "at most P7D" in never.basis
    early = partition_deadline(policy, DAY1, acquired, [_utc("2026-11-03T00:00:00+00:00")])
    assert early.at == _utc("2026-11-04T00:00:00+00:00")
    late = partition_deadline(policy, DAY1, acquired, [cap])
    assert late.at == cap  # derivation + P1D would be later: the cap wins
    assert "at most P7D" in late.basis


def test_c5_2_11_column_anchor_is_row_level_only() -> None:
    policy = _policy(period="P30D", grace="P7D", anchor={"kind": "column", "column": "closed"})
    with pytest.raises(ValueError, match="per row"):
        partition_deadline(policy, "", NOW)

    anchors = pd.Series(
        ["2026-09-01T23:34:09+00:00", None, "2026-10-20T09:00:00+09:00", pd.NaT], dtype=object
    )
    due = row_deadlines(policy, anchors)
    # anchor + 37 days, rounded down to the start of that day in Asia/Tokyo: a whole day, so
    # no deadline dates one person's event to the second (invariant 1), never after the period
    assert due.iloc[0] == pd.Timestamp("2026-10-09T00:00:00+09:00")  # 2026-10-09 08:34 JST
    assert pd.isna(due.iloc[1]) and pd.isna(due.iloc[3])
    assert due.iloc[2] == pd.Timestamp("2026-11-26T00:00:00+09:00")  # 2026-11-26 09:00 JST
    assert str(due.dtype) == "datetime64[ns, UTC]"

    empty = row_deadlines(policy, pd.Series([], dtype="datetime64[ns, UTC]"))
    assert len(empty) == 0


def test_c5_2_11_plan_purges_what_is_due_and_only_that(catalog: Catalog) -> None:
    state = _state(
        _rec(1, GATES, DAY1, 1, "kg1", sources=("ic_gates/2026-11-01.csv",)),
        _rec(2, GATES, DAY1, 2, "kg1", sources=("ic_gates/2026-11-01.csv",)),
        _rec(3, GATES, "2026-12-15", 1, "kg2"),
        _rec(4, FLOW, DAY1, 1, "kf"),  # no retention policy: never planned
    )
    plan = plan_sweep(catalog, state, GATES_DAY1_DUE)
    assert not plan.empty
    (purge,) = plan.purges
    assert (purge.dataset, purge.partition, purge.policy) == (
        GATES,
        DAY1,
        "gate_events_pseudonymized",
    )
    assert purge.deadline == GATES_DAY1_DUE
    assert [v.number for v in purge.versions] == [1, 2]
    assert purge.prefix == f"objects/{GATES}/{DAY1}/"
    assert "P90D" in purge.reason
    assert plan.row_purges == () and plan.deferred == ()
    assert {(d.dataset, d.partition) for d in plan.deadlines} == {
        (GATES, DAY1),
        (GATES, "2026-12-15"),
    }

    before = plan_sweep(catalog, state, GATES_DAY1_DUE - timedelta(microseconds=1))
    assert before.empty and before.purges == ()
    assert plan_sweep(catalog, _state(), LATE).empty


def test_c5_2_3_plan_camera_waits_for_people_flow_then_purges(catalog: Catalog) -> None:
    record = _rec(1, CAMERA, DAY1, created=_utc("2026-11-02T00:00:00+00:00"))
    passed = _utc("2026-11-03T12:00:00+00:00")
    waiting = _state(record, derivations={(CAMERA, DAY1): [None]})
    assert plan_sweep(catalog, waiting, passed + timedelta(days=2)).empty
    cap = datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)
    (capped,) = plan_sweep(catalog, waiting, cap).purges
    assert capped.deadline == cap and "at most P7D" in capped.reason

    derived = _state(record, derivations={(CAMERA, DAY1): [passed]})
    assert plan_sweep(catalog, derived, passed + timedelta(hours=23)).empty
    (purge,) = plan_sweep(catalog, derived, passed + timedelta(days=1)).purges
    assert purge.deadline == passed + timedelta(days=1)
    assert "C5.2-3" in purge.reason


def test_c5_2_11_plan_holds_defer_and_expired_holds_do_not(catalog: Catalog) -> None:
    records = (_rec(1, GATES, DAY1, key="a"), _rec(2, GATES, DAY2, key="b"))
    now = LATE

    held = plan_sweep(catalog, _state(*records, holds=(Hold(GATES, DAY1, "case 77", None),)), now)
    assert [p.partition for p in held.purges] == [DAY2]
    assert held.deferred == (Deferred(GATES, DAY1, GATES_DAY1_DUE, "case 77"),)

    whole = plan_sweep(catalog, _state(*records, holds=(Hold(GATES, None, "audit", None),)), now)
    assert whole.purges == () and [d.partition for d in whole.deferred] == [DAY1, DAY2]

    future = Hold(GATES, None, "until summer", now + timedelta(days=1))
    assert [
        d.partition for d in plan_sweep(catalog, _state(*records, holds=(future,)), now).deferred
    ] == [DAY1, DAY2]

    for stale in (
        Hold(GATES, None, "ended", now - timedelta(seconds=1)),
        Hold(GATES, None, "ended exactly now", now),
        Hold(GATES, "2026-11-03", "another partition", None),
        Hold(CAMERA, None, "another dataset", None),
    ):
        plan = plan_sweep(catalog, _state(*records, holds=(stale,)), now)
        assert [p.partition for p in plan.purges] == [DAY1, DAY2], stale
        assert plan.deferred == ()


def test_c5_2_11_plan_only_restricts_to_one_dataset(catalog: Catalog) -> None:
    state = _state(_rec(1, GATES, DAY1, key="g"), _rec(2, CAMERA, DAY1, key="c"))
    assert {p.dataset for p in plan_sweep(catalog, state, LATE).purges} == {GATES, CAMERA}
    only = plan_sweep(catalog, state, LATE, only=CAMERA)
    assert [p.dataset for p in only.purges] == [CAMERA]
    assert {d.dataset for d in only.deadlines} == {CAMERA}
    assert plan_sweep(catalog, state, LATE, only=FLOW).empty


def test_c5_2_11_plan_describe_names_what_where_and_why(catalog: Catalog) -> None:
    state = _state(
        _rec(1, GATES, DAY1, 1, "key-one", sources=("ic_gates/2026-11-01.csv",)),
        _rec(2, GATES, DAY1, 2, "key-two", sources=("ic_gates/2026-11-01.csv",)),
        _rec(3, CAMERA, DAY2, 1, "key-cam", sources=("station_cameras/2026-11-02.csv",)),
        holds=(Hold(CAMERA, DAY2, "subpoena 12", None),),
    )
    lines = plan_sweep(catalog, state, LATE).describe()
    assert len(lines) == 2
    purge, held = lines
    assert purge.startswith(f"purge {GATES} partition {DAY1}: versions [1, 2]")
    for part in (
        "landing files ['ic_gates/2026-11-01.csv']",
        f"objects under objects/{GATES}/{DAY1}/",
        "data keys ['key-one', 'key-two']",
        "policy gate_events_pseudonymized",
        "P90D",
    ):
        assert part in purge
    assert held.startswith(f"HELD {CAMERA} {DAY2} past its deadline")
    assert "subpoena 12" in held


def test_c5_2_11_plan_row_level_expiry(catalog: Catalog) -> None:
    expired, upcoming = "2026-09-01T23:34:09+00:00", "2026-10-20T00:00:00+00:00"
    v1 = _rec(1, USERS, "", 1, "k1", sources=("app_users/2026-11-01.csv",))
    v2 = _rec(2, USERS, "", 2, "k2")

    plan = plan_sweep(
        catalog, _users_state(v1, anchors={1: [expired, None, upcoming]}, active="k1"), NOW
    )
    (rows,) = plan.row_purges
    assert rows.rewrite == v1 and rows.superseded == (v1,) and rows.expired_rows == 1
    assert rows.policy == "app_accounts_closed"
    assert plan.purges == ()
    (deadline,) = plan.deadlines
    assert deadline.overdue_rows == 1
    start_of_day = pd.Timestamp(_utc(upcoming) + USERS_LIFE).tz_convert("Asia/Tokyo").normalize()
    assert deadline.deadline.at == start_of_day
    assert deadline.deadline.at.second == 0 and deadline.deadline.at.minute == 0
    (line,) = plan.describe()
    assert line.startswith(f"{USERS}: rewrite version 1 without 1 expired row(s) under a fresh key")
    assert "purge versions [1]" in line

    nothing_due = plan_sweep(
        catalog, _users_state(v1, anchors={1: [None, upcoming]}, active="k1"), NOW
    )
    assert nothing_due.empty and nothing_due.deadlines[0].overdue_rows == 0

    # an interrupted sweep already wrote version 2 under a fresh key: only version 1 goes
    resumed = plan_sweep(
        catalog,
        _users_state(v1, v2, anchors={1: [expired, upcoming], 2: [upcoming]}, active="k2"),
        NOW,
    )
    (rows,) = resumed.row_purges
    assert rows.rewrite is None and rows.superseded == (v1,)
    # ... or had destroyed version 1's key already (its anchors are unreadable)
    keyless = plan_sweep(catalog, _users_state(v1, v2, anchors={2: [upcoming]}, active="k2"), NOW)
    assert keyless.row_purges[0].rewrite is None and keyless.row_purges[0].superseded == (v1,)
    # ... or had rotated the key but not yet rewritten: rewrite again, everything superseded
    rotated = plan_sweep(catalog, _users_state(v1, anchors={1: [expired]}, active="k9"), NOW)
    assert rotated.row_purges[0].rewrite == v1 and rotated.row_purges[0].superseded == (v1,)

    held = plan_sweep(
        catalog,
        replace(
            _users_state(v1, anchors={1: [expired]}, active="k1"),
            holds=(Hold(USERS, None, "regulator inquiry", None),),
        ),
        NOW,
    )
    assert held.row_purges == () and held.deferred[0].hold_reason == "regulator inquiry"
