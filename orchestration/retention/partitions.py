"""Purging whole partitions (C5.2-11): record the intent, delete and verify in rounds until
nothing is left, then certify.

Before its first deletion the sweep records a purge intent per partition and marks every
version ``purging``, under the partition lock that every writer takes too
(``ledger.intents``), so from that moment no commit, promotion, copy, restore or read touches
the partition. Open intents of an interrupted sweep are found again and finished first.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import add_intents, lock_partitions, open_intents
from orchestration.ledger.intents import unfinished_intents as open_purge_intents
from orchestration.ledger.locks import Held
from orchestration.ledger.purges import mark_partitions_purging
from orchestration.records import Certificate, PurgeIntent
from orchestration.retention.certify import Purged, certify
from orchestration.retention.context import SweepContext, ensure
from orchestration.retention.destroy import destroy_partitions, records_of, sample_of
from orchestration.retention.plan import PartitionPurge, VersionRecord
from orchestration.vocabulary import AuditAction, PurgeKind


def purge_partitions(
    ctx: SweepContext,
    held: Held | None,
    sweep_id: str,
    dataset: str,
    items: list[PartitionPurge],
    kind: PurgeKind = PurgeKind.EXPIRY,
) -> Certificate:
    """Record the intents, then delete and verify in rounds until nothing is left, then
    certify (C5.2-11)."""
    partitions = [i.partition for i in items]
    sample = sample_of(ctx, records_of(ctx, dataset, partitions))
    begun = record_intents(ctx, held, sweep_id, dataset, items, kind)
    fresh = [p for p in partitions if p not in begun]
    versions, removed, verification, keys = destroy_partitions(
        ctx, held, dataset, partitions, sample, fresh
    )
    deadlines = [i.deadline for i in items if i.deadline is not None]
    purged = Purged(
        kind=kind,
        dataset=dataset,
        partitions=partitions,
        versions=versions,
        removed=removed,
        keys=sorted(keys),
        policy=items[0].policy if items else None,
        verification=verification,
        reasons=sorted({i.reason for i in items}),
        deadline=max(deadlines) if deadlines else None,
    )
    return certify(ctx, held, purged)


def record_intents(
    ctx: SweepContext,
    held: Held | None,
    sweep_id: str,
    dataset: str,
    items: list[PartitionPurge],
    kind: PurgeKind,
) -> set[str]:
    """Before the first deletion, in one transaction under the partition locks (taken
    first, in partition order): an open intent per partition that has none yet, and every
    version of it ``purging``, each in one batched statement for the whole dataset. Returns
    the partitions whose intent an earlier sweep recorded (it may have begun deleting)."""
    ensure(held)
    now = ctx.clock.now()
    ordered = sorted(items, key=lambda i: i.partition)
    partitions = [i.partition for i in ordered]
    with transaction(ctx.engine) as s:
        lock_partitions(s, dataset, partitions)
        already = {i.partition for i in open_intents(s, dataset, partitions)}
        add_intents(
            s,
            dataset=dataset,
            kind=kind,
            sweep_id=sweep_id,
            started_at=now,
            partitions=[
                (i.partition, i.policy, i.deadline, i.reason)
                for i in ordered
                if i.partition not in already
            ],
        )
        reasons = {i.partition: f"being purged: {i.reason}" for i in ordered}
        marked = mark_partitions_purging(s, dataset, reasons)
        for partition in partitions:
            log_purging(ctx, s, sweep_id, dataset, partition, kind, marked[partition])
    return already


def log_purging(
    ctx: SweepContext,
    s: Session,
    sweep_id: str,
    dataset: str,
    partition: str,
    kind: PurgeKind,
    numbers: list[int],
) -> None:
    """Audit-log the versions just marked ``purging`` (C5.4-1)."""
    audit.append(
        s,
        at=ctx.clock.now(),
        actor=ctx.actor,
        action=AuditAction.PURGE_INTENT,
        dataset=dataset,
        partition=partition,
        detail={"sweep": sweep_id, "kind": kind, "versions": numbers},
    )


def unfinished(ctx: SweepContext, only: str | None) -> list[PartitionPurge]:
    """Open intents of an interrupted sweep: finished first, whatever the plan says. The
    versions of each dataset's open partitions are read in one query."""
    first: dict[tuple[str, str], PurgeIntent] = {}
    for i in open_purge_intents(ctx.engine, only):
        first.setdefault((i.dataset, i.partition), i)
    versions: dict[tuple[str, str], list[VersionRecord]] = defaultdict(list)
    for dataset in sorted({ds for ds, _ in first}):
        partitions = sorted(p for ds, p in first if ds == dataset)
        for record in records_of(ctx, dataset, partitions):
            versions[dataset, record.partition].append(record)
    return [
        PartitionPurge(i.dataset, i.partition, i.policy, i.deadline, i.reason, tuple(versions[key]))
        for key, i in first.items()
    ]
