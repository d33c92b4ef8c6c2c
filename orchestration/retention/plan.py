"""Sweep planning: a pure function of the ledger's state, the policies and the clock.

A plan is data: what would be purged, where, and why. The dry run prints it; the executor
carries it out; tests compare it. Nothing here reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from orchestration.clock import district_time
from orchestration.declarations.catalog import Catalog
from orchestration.declarations.models import AnchorKind, RetentionPolicy
from orchestration.retention.deadlines import Deadline, partition_deadline, row_deadlines
from orchestration.vocabulary import partition_prefix


@dataclass(frozen=True)
class VersionRecord:
    """What the planner needs of a version that is not purged yet."""

    id: int
    dataset: str
    partition: str
    number: int
    status: str
    created_at: datetime
    key_id: str
    object_key: str
    sources: tuple[str, ...]
    backup_targets: tuple[str, ...]


@dataclass(frozen=True)
class Hold:
    """What the planner needs of an active legal hold (``records.Hold`` is the ledger's whole
    record: who placed it and when, and its release)."""

    dataset: str
    partition: str | None  # None: the whole dataset
    reason: str
    until: datetime | None

    def covers(self, dataset: str, partition: str, now: datetime) -> bool:
        active = self.until is None or self.until > now
        return active and self.dataset == dataset and self.partition in (None, partition)


@dataclass(frozen=True)
class RetentionState:
    """A snapshot of the ledger (and, for row-level policies, of anchor columns in memory)."""

    versions: Mapping[tuple[str, str], Sequence[VersionRecord]]
    holds: Sequence[Hold]
    # (dataset, partition) -> when each derived dataset first had a passing version of it
    derivations: Mapping[tuple[str, str], Sequence[datetime | None]]
    # version id -> that version's anchor column, for datasets whose policy counts per row
    row_anchors: Mapping[int, pd.Series] = field(default_factory=dict)
    active_keys: Mapping[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionPurge:
    """Purge every version of a partition, its landing files, copies and keys."""

    dataset: str
    partition: str
    policy: str | None
    deadline: datetime | None
    reason: str
    versions: tuple[VersionRecord, ...]

    @property
    def prefix(self) -> str:
        return partition_prefix(self.dataset, self.partition)


@dataclass(frozen=True)
class RowPurge:
    """Rewrite the newest version without expired rows under a fresh key, then purge every
    other version of the partition (they hold the rows, or share the retired key)."""

    dataset: str
    partition: str
    policy: str
    deadline: datetime
    expired_rows: int
    rewrite: VersionRecord | None  # None: already rewritten by an interrupted sweep
    superseded: tuple[VersionRecord, ...]


@dataclass(frozen=True)
class Deferred:
    """Past its deadline but under a legal hold: reported every night."""

    dataset: str
    partition: str
    deadline: datetime
    hold_reason: str


@dataclass(frozen=True)
class Unplannable:
    """A partition the planner cannot decide on, e.g. no version of a row-level policy could be
    read. The rest of the plan goes ahead; the executor records an incident (C4.1-3)."""

    dataset: str
    partition: str
    reason: str


@dataclass(frozen=True)
class DeadlineRow:
    dataset: str
    partition: str
    policy: str
    deadline: Deadline
    overdue_rows: int | None = None


@dataclass(frozen=True)
class SweepPlan:
    as_of: datetime
    purges: tuple[PartitionPurge, ...]
    row_purges: tuple[RowPurge, ...]
    deferred: tuple[Deferred, ...]
    deadlines: tuple[DeadlineRow, ...]
    unplannable: tuple[Unplannable, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.purges or self.row_purges)

    def describe(self) -> list[str]:
        """One line per action, for the dry run: what, where, why. No data values."""
        lines = []
        for p in self.purges:
            where = f" partition {p.partition}" if p.partition else ""
            lines.append(
                f"purge {p.dataset}{where}: versions "
                f"{[v.number for v in p.versions]}, landing files "
                f"{sorted({s for v in p.versions for s in v.sources})}, store and "
                f"backup objects under {p.prefix}, data keys "
                f"{sorted({v.key_id for v in p.versions})}; {p.reason}"
            )
        for r in self.row_purges:
            rewrite = (
                f"rewrite version {r.rewrite.number} without {r.expired_rows} expired "
                "row(s) under a fresh key, then "
                if r.rewrite
                else ""
            )
            lines.append(
                f"{r.dataset}: {rewrite}purge versions "
                f"{[v.number for v in r.superseded]} and their copies and keys; "
                f"policy {r.policy}, earliest deadline {district_time(r.deadline)}"
            )
        for d in self.deferred:
            held = f"{d.dataset} {d.partition}" if d.partition else d.dataset
            lines.append(
                f"HELD {held} past its deadline {district_time(d.deadline)}: {d.hold_reason}"
            )
        for u in self.unplannable:
            where = f" partition {u.partition}" if u.partition else ""
            lines.append(f"UNPLANNABLE {u.dataset}{where}: {u.reason}")
        return lines


def plan_sweep(
    catalog: Catalog,
    state: RetentionState,
    now: datetime,
    only: str | None = None,
) -> SweepPlan:
    purges, row_purges, deferred, deadlines, unplannable = [], [], [], [], []
    for key, dataset in catalog.datasets.items():
        decl = dataset.declaration
        if decl.retention_policy is None or (only and key != only):
            continue
        policy = catalog.policies[decl.retention_policy]
        for (ds, partition), versions in sorted(state.versions.items()):
            if ds != key or not versions:
                continue
            hold = next((h for h in state.holds if h.covers(key, partition, now)), None)
            if policy.anchor.kind is AnchorKind.COLUMN:
                row = _plan_rows(policy, state, key, partition, versions, now)
                if row is None:
                    unplannable.append(_unreadable(policy, key, partition, versions))
                    continue
                deadline_row, action = row
                deadlines.append(deadline_row)
                if action is None:
                    continue
                if hold is not None:
                    deferred.append(Deferred(key, partition, action.deadline, hold.reason))
                else:
                    row_purges.append(action)
                continue
            first = min(v.created_at for v in versions)
            deadline = partition_deadline(
                policy, partition, first, list(state.derivations.get((key, partition), []))
            )
            deadlines.append(DeadlineRow(key, partition, policy.name, deadline))
            if deadline.at is None or deadline.at > now:
                continue
            if hold is not None:
                deferred.append(Deferred(key, partition, deadline.at, hold.reason))
                continue
            purges.append(
                PartitionPurge(
                    key, partition, policy.name, deadline.at, deadline.basis, tuple(versions)
                )
            )
    return SweepPlan(
        now,
        tuple(purges),
        tuple(row_purges),
        tuple(deferred),
        tuple(deadlines),
        tuple(unplannable),
    )


def _unreadable(
    policy: RetentionPolicy, key: str, partition: str, versions: Sequence[VersionRecord]
) -> Unplannable:
    """Rows cannot be dated without their anchor column: say so, by counts and statuses."""
    statuses = ", ".join(sorted({v.status for v in versions}))
    return Unplannable(
        key,
        partition,
        f"policy {policy.name} dates each row by {policy.anchor.column}, but none of its "
        f"{len(versions)} version(s) ({statuses}) could be read; nothing of it was planned",
    )


def _plan_rows(
    policy: RetentionPolicy,
    state: RetentionState,
    key: str,
    partition: str,
    versions: Sequence[VersionRecord],
    now: datetime,
) -> tuple[DeadlineRow, RowPurge | None] | None:
    """Row-level expiry: which versions hold expired rows, and what must be rewritten."""
    readable = [v for v in versions if v.id in state.row_anchors]
    if not readable:
        return None
    due = {v.id: row_deadlines(policy, state.row_anchors[v.id]).dropna() for v in readable}
    expired = {vid: d[d <= now] for vid, d in due.items()}
    newest = max(readable, key=lambda v: v.number)
    active = state.active_keys.get((key, partition))
    upcoming = due[newest.id][due[newest.id] > now]
    basis = f"policy {policy.name}: per row, {policy.anchor.column} + {policy.period}" + (
        f" + grace {policy.grace}" if policy.grace else ""
    )
    next_due = upcoming.min().to_pydatetime() if len(upcoming) else None
    row = DeadlineRow(
        key, partition, policy.name, Deadline(next_due, basis), len(expired[newest.id])
    )

    def must_go(v: VersionRecord) -> bool:
        return v.key_id != active or (v.id in expired and len(expired[v.id]) > 0)

    going = [v for v in versions if must_go(v)]
    if not going:
        return row, None
    # A version sharing the newest one's key can only be made unreadable with that key gone,
    # so the newest is rewritten under a fresh key and everything before it is superseded.
    rewrite = newest if must_go(newest) or any(v.key_id == newest.key_id for v in going) else None
    superseded = tuple(versions) if rewrite is not None else tuple(going)
    past = [e.min() for e in expired.values() if len(e)]
    earliest = pd.Timestamp(min(past)).to_pydatetime() if past else now
    return row, RowPurge(
        key, partition, policy.name, earliest, len(expired[newest.id]), rewrite, superseded
    )
