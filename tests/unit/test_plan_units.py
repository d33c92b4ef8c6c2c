"""The sweep planner as a pure function: hand-built ledger states, in-memory declarations.

These run in well under a second and are what ``make mutation`` runs against
orchestration/retention/plan.py (docs/mutation.md): each test names the behaviour it protects.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from planning import retention_state, version_record

from orchestration.clock import DISTRICT_TZ
from orchestration.declarations.catalog import Catalog, DeclaredDataset
from orchestration.declarations.models import DatasetDeclaration, RetentionPolicy
from orchestration.retention.deadlines import Deadline
from orchestration.retention.plan import (
    DeadlineRow,
    Deferred,
    Hold,
    PartitionPurge,
    RetentionState,
    RowPurge,
    SweepPlan,
    Unplannable,
    VersionRecord,
    plan_sweep,
)

PROBES = "rail_os/wifi_probes"  # daily, counted from first acquisition
TAPS = "rail_os/gate_taps"  # daily, counted from the end of the partition's day
FRAMES = "rail_os/camera_frames"  # daily, kept until derived (C5.2-3), capped
LETTERS = "member/newsletter"  # unpartitioned, counted from first acquisition
USERS = "member/app_users"  # unpartitioned, per row: closed_at + P30D + grace P7D
VISITS = "member/visits"  # daily, per row: visited_at + P30D
STATIONS = "open/stations"  # no retention policy
DAY = "2026-11-01"
T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
MIDNIGHT = datetime(2026, 11, 5, tzinfo=DISTRICT_TZ)  # a nightly sweep's day boundary


def _policy(name: str, **fields: Any) -> RetentionPolicy:
    return RetentionPolicy.model_validate(
        {"name": name, "description": "unit test", "classifications": ["personal"], **fields}
    )


POLICIES = {
    p.name: p
    for p in (
        _policy("probes_acquired", period="P30D", anchor={"kind": "acquisition"}),
        _policy("taps_daily", period="P90D", anchor={"kind": "partition_end"}),
        _policy(
            "frames_until_counted",
            period="P1D",
            anchor={"kind": "derivation"},
            not_later_than="P7D",
        ),
        _policy("letters_acquired", period="P10D", anchor={"kind": "acquisition"}),
        _policy(
            "accounts_closed",
            period="P30D",
            grace="P7D",
            anchor={"kind": "column", "column": "closed_at"},
        ),
        _policy("visits_rows", period="P30D", anchor={"kind": "column", "column": "visited_at"}),
    )
}


def _declared(
    key: str, policy: str | None, daily: bool, column: str = "seen_at"
) -> DeclaredDataset:
    decl = DatasetDeclaration.model_validate(
        {
            "key": key,
            "description": "unit test dataset",
            "owner": "team:test",
            "provider": {
                "name": "test provider",
                "membership": "member",
                "contract_id": "c-1",
                "acquisition_basis": "contract",
                "consent_or_anonymization_confirmed": True,
            },
            "classification": "personal" if policy else "open",
            "purposes": ["testing"],
            "columns": [{"name": column, "type": "timestamp", "nullable": True}],
            "landing": {"folder": key.split("/")[1]},
            "partitioning": {"type": "daily", "start": "2026-01-01"} if daily else {},
            "quality_suite": key.split("/")[1],
            "retention_policy": policy,
        }
    )
    return DeclaredDataset(decl, Path(f"assets/{key}.yaml"), "rev-1", None)


CATALOG = Catalog(
    datasets={
        d.key: d
        for d in (
            _declared(PROBES, "probes_acquired", daily=True),
            _declared(TAPS, "taps_daily", daily=True),
            _declared(FRAMES, "frames_until_counted", daily=True),
            _declared(LETTERS, "letters_acquired", daily=False),
            _declared(USERS, "accounts_closed", daily=False, column="closed_at"),
            _declared(VISITS, "visits_rows", daily=True, column="visited_at"),
            _declared(STATIONS, None, daily=False),
        )
    },
    policies=POLICIES,
    suites={},
)


def _v(
    vid: int,
    dataset: str,
    partition: str = DAY,
    number: int = 1,
    key: str = "k1",
    created: datetime = T0,
    status: str = "promoted",
    sources: tuple[str, ...] = (),
) -> VersionRecord:
    return version_record(vid, dataset, partition, number, key, created, status, sources)


def _state(
    *records: VersionRecord,
    anchors: dict[int, list[datetime | None]] | None = None,
    **parts: Any,
) -> RetentionState:
    """The planner's input; each version's anchor column given as a plain list of instants."""
    columns = {
        vid: pd.Series(pd.to_datetime(values, utc=True)) for vid, values in (anchors or {}).items()
    }
    return retention_state(*records, anchors=columns, **parts)


def _day_start(instant: datetime) -> datetime:
    """Row deadlines are whole days: the start of the deadline's day in district time."""
    return datetime.combine(
        instant.astimezone(DISTRICT_TZ).date(), datetime.min.time(), DISTRICT_TZ
    )


USERS_LIFE = timedelta(days=37)
USERS_BASIS = "policy accounts_closed: per row, closed_at + P30D + grace P7D"
# A row closed at 10:00 district time, 37 days before MIDNIGHT's day: due exactly at MIDNIGHT.
DUE_AT_MIDNIGHT = MIDNIGHT - USERS_LIFE + timedelta(hours=10)
EXPIRED = datetime(2026, 9, 1, 23, 34, 9, tzinfo=UTC)  # due 2026-10-09 (district time)
UPCOMING = datetime(2026, 10, 20, tzinfo=UTC)  # due 2026-11-26 (district time)


# == whole partitions ===========================================================================
def test_c5_2_11_acquisition_anchor_counts_from_the_first_of_several_versions() -> None:
    """A regularly re-materialized partition still expires from its first acquisition."""
    first, again = _v(1, PROBES, created=T0), _v(2, PROBES, number=2, created=T0 + timedelta(9))
    state = _state(again, first)
    due = T0 + timedelta(days=30)

    plan = plan_sweep(CATALOG, state, due)
    assert plan.purges == (
        PartitionPurge(
            PROBES,
            DAY,
            "probes_acquired",
            due,
            "policy probes_acquired: first acquisition + P30D",
            (again, first),
        ),
    )
    assert plan.deadlines == (
        DeadlineRow(
            PROBES,
            DAY,
            "probes_acquired",
            Deadline(due, "policy probes_acquired: first acquisition + P30D"),
        ),
    )
    early = plan_sweep(CATALOG, state, due - timedelta(microseconds=1))
    assert early.purges == () and early.empty
    assert [d.deadline.at for d in early.deadlines] == [due]


def test_c5_2_11_partition_is_purged_at_its_deadline_exactly() -> None:
    records = (_v(1, TAPS, key="a"), _v(2, TAPS, "2026-11-02", key="b"))
    due = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)  # end of 2026-11-01 + P90D
    plan = plan_sweep(CATALOG, _state(*records), due)
    (purge,) = plan.purges
    assert (purge.dataset, purge.partition, purge.deadline) == (TAPS, DAY, due)
    assert purge.reason == f"policy taps_daily: end of {DAY} + P90D"
    assert purge.versions == (records[0],)
    assert [(d.partition, d.deadline.at, d.overdue_rows) for d in plan.deadlines] == [
        (DAY, due, None),
        ("2026-11-02", due + timedelta(days=1), None),
    ]
    assert plan_sweep(CATALOG, _state(*records), due - timedelta(microseconds=1)).purges == ()


def test_c5_2_3_derivation_anchor_waits_for_the_derived_dataset_then_purges() -> None:
    record = _v(1, FRAMES)
    counted = datetime(2026, 11, 3, 12, tzinfo=UTC)
    waiting = _state(record, derivations={(FRAMES, DAY): [None]})
    now = counted + timedelta(days=2)
    plan = plan_sweep(CATALOG, waiting, now)
    assert plan.purges == ()
    cap = datetime(2026, 11, 9, tzinfo=DISTRICT_TZ)  # end of the day + at most P7D
    assert plan.deadlines[0].deadline.at == cap

    derived = _state(record, derivations={(FRAMES, DAY): [counted]})
    (purge,) = plan_sweep(CATALOG, derived, counted + timedelta(days=1)).purges
    assert purge.deadline == counted + timedelta(days=1)
    assert purge.reason == (
        "policy frames_until_counted: every derived dataset passed its suite (C5.2-3) + P1D"
    )
    assert plan_sweep(CATALOG, derived, counted + timedelta(hours=23)).purges == ()


def test_c5_2_11_datasets_without_a_policy_or_versions_are_not_planned() -> None:
    late = datetime(2030, 1, 1, tzinfo=UTC)
    state = RetentionState(
        {(STATIONS, ""): [_v(1, STATIONS, "")], (PROBES, DAY): [], (TAPS, DAY): [_v(2, TAPS)]},
        (),
        {},
    )
    plan = plan_sweep(CATALOG, state, late)
    assert [(p.dataset, p.partition) for p in plan.purges] == [(TAPS, DAY)]
    assert [(d.dataset, d.partition) for d in plan.deadlines] == [(TAPS, DAY)]


def test_c5_2_11_only_restricts_the_plan_to_one_dataset() -> None:
    late = datetime(2030, 1, 1, tzinfo=UTC)
    state = _state(_v(1, TAPS), _v(2, PROBES), _v(3, LETTERS, ""))
    assert [p.dataset for p in plan_sweep(CATALOG, state, late).purges] == [
        PROBES,
        TAPS,
        LETTERS,
    ]
    only = plan_sweep(CATALOG, state, late, only=PROBES)
    assert [p.dataset for p in only.purges] == [PROBES]
    assert [d.dataset for d in only.deadlines] == [PROBES]
    assert plan_sweep(CATALOG, state, late, only=STATIONS).deadlines == ()


# == legal holds ================================================================================
def test_c5_2_11_hold_covers_its_dataset_and_partition_until_it_ends() -> None:
    now = T0
    assert Hold(TAPS, None, "audit", None).covers(TAPS, DAY, now)
    assert Hold(TAPS, DAY, "case 7", None).covers(TAPS, DAY, now)
    assert Hold(TAPS, DAY, "case 7", now + timedelta(seconds=1)).covers(TAPS, DAY, now)
    assert not Hold(TAPS, DAY, "ended", now).covers(TAPS, DAY, now)
    assert not Hold(TAPS, "2026-11-02", "other day", None).covers(TAPS, DAY, now)
    assert not Hold(PROBES, None, "other dataset", None).covers(TAPS, DAY, now)


def test_c5_2_11_held_partitions_and_rows_are_deferred_not_purged() -> None:
    late = datetime(2030, 1, 1, tzinfo=UTC)
    taps = (_v(1, TAPS, key="a"), _v(2, TAPS, "2026-11-02", key="b"))
    plan = plan_sweep(CATALOG, _state(*taps, holds=(Hold(TAPS, DAY, "case 77", None),)), late)
    assert [p.partition for p in plan.purges] == ["2026-11-02"]
    due = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)
    assert plan.deferred == (Deferred(TAPS, DAY, due, "case 77"),)
    assert not plan.empty

    users = _state(
        _v(5, USERS, ""),
        anchors={5: [EXPIRED]},
        active={(USERS, ""): "k1"},
        holds=(Hold(USERS, None, "regulator inquiry", None),),
    )
    held = plan_sweep(CATALOG, users, T0)
    assert held.row_purges == ()
    assert held.deferred == (
        Deferred(USERS, "", _day_start(EXPIRED + USERS_LIFE), "regulator inquiry"),
    )
    assert held.empty  # a deferral is reported, but there is nothing to execute


# == rows =======================================================================================
def test_c5_2_11_row_whose_deadline_is_now_is_purged() -> None:
    record = _v(1, USERS, "")
    state = _state(record, anchors={1: [DUE_AT_MIDNIGHT, UPCOMING]}, active={(USERS, ""): "k1"})
    plan = plan_sweep(CATALOG, state, MIDNIGHT)
    assert plan.row_purges == (
        RowPurge(USERS, "", "accounts_closed", MIDNIGHT, 1, record, (record,)),
    )
    assert plan.deadlines == (
        DeadlineRow(
            USERS,
            "",
            "accounts_closed",
            Deadline(_day_start(UPCOMING + USERS_LIFE), USERS_BASIS),
            1,
        ),
    )

    before = plan_sweep(CATALOG, state, MIDNIGHT - timedelta(microseconds=1))
    assert before.row_purges == () and before.empty
    assert before.deadlines[0].overdue_rows == 0
    assert before.deadlines[0].deadline.at == MIDNIGHT  # the earliest one still to come


def test_c5_2_11_older_expired_version_sharing_its_key_with_a_clean_newer_one_is_purged() -> None:
    """The old version's rows are only gone once the shared key is: rewrite the newest under a
    fresh key and purge both (else backups of the old version stay decryptable)."""
    old, new = _v(1, USERS, "", 1, "shared"), _v(2, USERS, "", 2, "shared")
    state = _state(
        old, new, anchors={1: [EXPIRED, UPCOMING], 2: [UPCOMING]}, active={(USERS, ""): "shared"}
    )
    plan = plan_sweep(CATALOG, state, T0)
    assert plan.row_purges == (
        RowPurge(
            USERS, "", "accounts_closed", _day_start(EXPIRED + USERS_LIFE), 0, new, (old, new)
        ),
    )
    assert plan.deadlines[0].overdue_rows == 0


def test_c5_2_11_older_expired_version_under_a_retired_key_goes_without_a_rewrite() -> None:
    """An interrupted sweep already wrote the clean version under a fresh key."""
    old, new = _v(1, USERS, "", 1, "k1"), _v(2, USERS, "", 2, "k2")
    state = _state(old, new, anchors={1: [EXPIRED], 2: [UPCOMING]}, active={(USERS, ""): "k2"})
    (rows,) = plan_sweep(CATALOG, state, T0).row_purges
    assert (rows.rewrite, rows.superseded, rows.expired_rows) == (None, (old,), 0)
    assert rows.deadline == _day_start(EXPIRED + USERS_LIFE)

    # ... or had destroyed the old key too: its anchors are unreadable, it still goes
    keyless = _state(old, new, anchors={2: [UPCOMING]}, active={(USERS, ""): "k2"})
    (rows,) = plan_sweep(CATALOG, keyless, T0).row_purges
    assert (rows.rewrite, rows.superseded, rows.deadline) == (None, (old,), T0)


def test_c5_2_11_version_under_a_rotated_key_is_rewritten() -> None:
    """The key was rotated but the rewrite never happened: rewrite, then purge the old one."""
    record = _v(1, USERS, "", 1, "k1")
    state = _state(record, anchors={1: [EXPIRED]}, active={(USERS, ""): "k9"})
    (rows,) = plan_sweep(CATALOG, state, T0).row_purges
    assert (rows.rewrite, rows.superseded, rows.expired_rows) == (record, (record,), 1)
    # no row of the newest version is still to come: no next deadline
    assert plan_sweep(CATALOG, state, T0).deadlines[0].deadline == Deadline(None, USERS_BASIS)


def test_c5_2_11_rows_not_yet_due_plan_nothing_and_report_the_next_deadline() -> None:
    later = datetime(2026, 10, 1, tzinfo=UTC)
    state = _state(
        _v(1, USERS, "", 1, "k1"),
        anchors={1: [UPCOMING, None, later]},
        active={(USERS, ""): "k1"},
    )
    plan = plan_sweep(CATALOG, state, T0)
    assert plan.row_purges == () and plan.deferred == ()
    assert plan.deadlines == (
        DeadlineRow(
            USERS, "", "accounts_closed", Deadline(_day_start(later + USERS_LIFE), USERS_BASIS), 0
        ),
    )


def test_c5_2_11_row_purge_counts_the_newest_versions_rows_and_the_earliest_deadline() -> None:
    oldest = datetime(2026, 8, 1, tzinfo=UTC)
    v1, v2 = _v(1, VISITS, DAY, 1, "k"), _v(2, VISITS, DAY, 2, "k")
    state = _state(
        v1,
        v2,
        anchors={1: [oldest, UPCOMING], 2: [EXPIRED, EXPIRED, UPCOMING, None]},
        active={(VISITS, DAY): "k"},
    )
    plan = plan_sweep(CATALOG, state, T0)
    life = timedelta(days=30)
    assert plan.row_purges == (
        RowPurge(VISITS, DAY, "visits_rows", _day_start(oldest + life), 2, v2, (v1, v2)),
    )
    assert plan.deadlines == (
        DeadlineRow(
            VISITS,
            DAY,
            "visits_rows",
            Deadline(_day_start(UPCOMING + life), "policy visits_rows: per row, visited_at + P30D"),
            2,
        ),
    )


# == a partition the planner cannot read (C4.1-3) ==============================================
def test_c4_1_3_partition_with_no_readable_version_is_reported_and_the_rest_is_planned() -> None:
    """One unreadable partition must not stop the nightly plan: it is reported as unplannable
    (the executor records an incident) and every other partition is planned as usual."""
    late = datetime(2030, 1, 1, tzinfo=UTC)
    stuck = (_v(1, USERS, "", 1), _v(2, USERS, "", 2, status="quarantined"))
    state = _state(*stuck, _v(3, TAPS), _v(4, VISITS, DAY), anchors={}, active={})
    plan = plan_sweep(CATALOG, state, late)
    assert [(p.dataset, p.partition) for p in plan.purges] == [(TAPS, DAY)]
    assert plan.unplannable == (
        Unplannable(
            USERS,
            "",
            "policy accounts_closed dates each row by closed_at, but none of its 2 version(s) "
            "(promoted, quarantined) could be read; nothing of it was planned",
        ),
        Unplannable(
            VISITS,
            DAY,
            "policy visits_rows dates each row by visited_at, but none of its 1 version(s) "
            "(promoted) could be read; nothing of it was planned",
        ),
    )
    assert [(d.dataset, d.partition) for d in plan.deadlines] == [(TAPS, DAY)]
    assert plan.describe()[1:] == [
        f"UNPLANNABLE {USERS}: {plan.unplannable[0].reason}",
        f"UNPLANNABLE {VISITS} partition {DAY}: {plan.unplannable[1].reason}",
    ]
    # one readable version is enough to plan the partition
    partly = replace(state, row_anchors={2: pd.Series(pd.to_datetime([UPCOMING], utc=True))})
    assert [u.dataset for u in plan_sweep(CATALOG, partly, late).unplannable] == [VISITS]


# == what the dry run prints ====================================================================
def test_c5_2_11_describe_names_what_where_and_why_for_every_kind_of_action() -> None:
    due = datetime(2027, 1, 31, tzinfo=DISTRICT_TZ)
    plan = SweepPlan(
        as_of=due,
        purges=(
            PartitionPurge(
                TAPS,
                DAY,
                "taps_daily",
                due,
                "policy taps_daily: end of 2026-11-01 + P90D",
                (
                    _v(1, TAPS, key="k-b", sources=("taps/2026-11-01.csv",)),
                    _v(2, TAPS, number=2, key="k-a", sources=("taps/2026-11-01.csv", "t/x.csv")),
                ),
            ),
            PartitionPurge(LETTERS, "", None, None, "the service ended", (_v(3, LETTERS, ""),)),
        ),
        row_purges=(
            RowPurge(
                USERS, "", "accounts_closed", due, 3, _v(5, USERS, "", 2), (_v(4, USERS, ""),)
            ),
            RowPurge(VISITS, DAY, "visits_rows", due, 0, None, (_v(6, VISITS, number=1),)),
        ),
        deferred=(Deferred(TAPS, "2026-11-02", due, "case 77"), Deferred(USERS, "", due, "audit")),
        deadlines=(),
    )
    assert plan.describe() == [
        f"purge {TAPS} partition {DAY}: versions [1, 2], landing files "
        "['t/x.csv', 'taps/2026-11-01.csv'], store and backup objects under "
        f"objects/{TAPS}/{DAY}/, data keys ['k-a', 'k-b']; policy taps_daily: end of "
        "2026-11-01 + P90D",
        f"purge {LETTERS}: versions [1], landing files [], store and backup objects under "
        f"objects/{LETTERS}/_/, data keys ['k1']; the service ended",
        f"{USERS}: rewrite version 2 without 3 expired row(s) under a fresh key, then purge "
        "versions [1] and their copies and keys; policy accounts_closed, earliest deadline "
        "2027-01-31 00:00:00 Asia/Tokyo",
        f"{VISITS}: purge versions [1] and their copies and keys; policy visits_rows, earliest "
        "deadline 2027-01-31 00:00:00 Asia/Tokyo",
        f"HELD {TAPS} 2026-11-02 past its deadline 2027-01-31 00:00:00 Asia/Tokyo: case 77",
        f"HELD {USERS} past its deadline 2027-01-31 00:00:00 Asia/Tokyo: audit",
    ]
    assert plan.purges[1].prefix == f"objects/{LETTERS}/_/"


@pytest.mark.parametrize(
    ("purges", "row_purges", "empty"),
    [((), (), True), (("p",), (), False), ((), ("r",), False), (("p",), ("r",), False)],
)
def test_c5_2_11_a_plan_is_empty_only_without_purges(
    purges: tuple[Any, ...], row_purges: tuple[Any, ...], empty: bool
) -> None:
    plan = SweepPlan(T0, purges, row_purges, (Deferred(TAPS, DAY, T0, "held"),), ())  # type: ignore[arg-type]
    assert plan.empty is empty


def test_c5_2_11_each_partition_is_planned_whatever_the_one_before_it_needed() -> None:
    """Not due, held, unreadable or clean: the next partition and dataset are planned still."""
    now = T0 + timedelta(days=40)
    late_day, due_day = "2026-11-01", "2026-11-02"
    state = _state(
        _v(1, PROBES, late_day, created=now - timedelta(days=1)),  # acquired yesterday
        _v(2, PROBES, due_day, created=T0),  # acquired 40 days ago
        _v(3, VISITS, "2026-10-01", key="a"),  # unreadable
        _v(4, VISITS, "2026-10-02", key="b"),  # nothing due
        _v(5, VISITS, "2026-10-03", key="c"),  # due rows
        _v(6, VISITS, "2026-10-04", key="d"),  # due rows
        _v(7, TAPS, DAY, key="e"),
        anchors={4: [UPCOMING + timedelta(days=30)], 5: [EXPIRED], 6: [EXPIRED]},
        active={
            (VISITS, "2026-10-02"): "b",
            (VISITS, "2026-10-03"): "c",
            (VISITS, "2026-10-04"): "d",
        },
        holds=(Hold(TAPS, DAY, "ended", now - timedelta(days=1)),),
    )
    plan = plan_sweep(CATALOG, state, now)
    assert plan.as_of == now
    assert [(p.dataset, p.partition) for p in plan.purges] == [(PROBES, due_day)]
    assert [(r.dataset, r.partition) for r in plan.row_purges] == [
        (VISITS, "2026-10-03"),
        (VISITS, "2026-10-04"),
    ]
    assert [(u.dataset, u.partition) for u in plan.unplannable] == [(VISITS, "2026-10-01")]
    assert plan.deferred == ()
    # the tap partition is due only in 2027: its deadline is reported, nothing else
    assert (TAPS, DAY) in {(d.dataset, d.partition) for d in plan.deadlines}
    only = plan_sweep(CATALOG, state, datetime(2030, 1, 1, tzinfo=UTC), only=TAPS)
    assert [(p.dataset, p.partition) for p in only.purges] == [(TAPS, DAY)]
