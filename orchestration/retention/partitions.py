"""Purging whole partitions (C5.2-11): record the intent, delete and verify in rounds until
nothing is left, then certify.

Before its first deletion the sweep records a purge intent per partition and marks every
version ``purging``, under the partition lock that every writer takes too
(``ledger.intents``), so from that moment no commit, promotion, copy, restore or read touches
the partition. Open intents of an interrupted sweep are found again and finished first.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import add_intent, lock_partition, open_intent
from orchestration.ledger.intents import unfinished_intents as open_purge_intents
from orchestration.ledger.locks import Held
from orchestration.ledger.purges import mark_purging
from orchestration.records import Certificate
from orchestration.retention.certify import Purged, certify
from orchestration.retention.context import SweepContext, ensure
from orchestration.retention.destroy import destroy_partitions, records_of, sample_of
from orchestration.retention.plan import PartitionPurge
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
    record_intents(ctx, held, sweep_id, dataset, items, kind)
    versions, removed, verification, keys = destroy_partitions(
        ctx, held, dataset, partitions, sample
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
) -> None:
    """Before the first deletion, in one transaction under the partition locks: an open
    intent per partition, and every version of it ``purging``."""
    ensure(held)
    now = ctx.clock.now()
    ordered = sorted(items, key=lambda i: i.partition)
    with transaction(ctx.engine) as s:
        for item in ordered:  # every partition lock first, in one order: no deadlock
            lock_partition(s, dataset, item.partition)
        for item in ordered:
            if open_intent(s, dataset, item.partition) is None:
                add_intent(
                    s,
                    dataset=dataset,
                    partition=item.partition,
                    kind=kind,
                    sweep_id=sweep_id,
                    policy=item.policy,
                    deadline=item.deadline,
                    reason=item.reason,
                    started_at=now,
                )
            numbers = mark_purging(s, dataset, item.partition, None, f"being purged: {item.reason}")
            log_purging(ctx, s, sweep_id, dataset, item.partition, kind, numbers)


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
    """Open intents of an interrupted sweep: finished first, whatever the plan says."""
    found: dict[tuple[str, str], PartitionPurge] = {}
    for i in open_purge_intents(ctx.engine, only):
        if (i.dataset, i.partition) in found:
            continue
        found[i.dataset, i.partition] = PartitionPurge(
            i.dataset,
            i.partition,
            i.policy,
            i.deadline,
            i.reason,
            tuple(records_of(ctx, i.dataset, [i.partition])),
        )
    return list(found.values())
