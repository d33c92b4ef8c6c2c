"""Builders of the planner's input, shared by the planner's unit tests
(tests/unit/test_plan_units.py) and the retention tests: plain records, no ledger."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from orchestration.retention.plan import Hold, RetentionState, VersionRecord


def version_record(
    vid: int,
    dataset: str,
    partition: str,
    number: int,
    key: str,
    created: datetime,
    status: str = "promoted",
    sources: tuple[str, ...] = (),
) -> VersionRecord:
    """A version as the planner sees it: the store's object-key layout, one primary copy."""
    return VersionRecord(
        vid,
        dataset,
        partition,
        number,
        status,
        created,
        key,
        f"objects/{dataset}/{partition or '_'}/{vid:032x}.cstw",
        sources,
        ("primary",),
    )


def retention_state(
    *records: VersionRecord,
    holds: tuple[Hold, ...] = (),
    derivations: dict[tuple[str, str], list[datetime | None]] | None = None,
    anchors: dict[int, pd.Series] | None = None,
    active: dict[tuple[str, str], str] | None = None,
) -> RetentionState:
    versions: dict[tuple[str, str], list[VersionRecord]] = {}
    for r in records:
        versions.setdefault((r.dataset, r.partition), []).append(r)
    return RetentionState(versions, holds, derivations or {}, anchors or {}, active or {})
