"""Purging expired rows (C5.2-11): the newest version is written again without them, under a
fresh key; then every superseded version, its copies and the retired keys are purged."""

from __future__ import annotations

from orchestration.ledger.db import transaction
from orchestration.ledger.intents import lock_partition
from orchestration.ledger.locks import Held
from orchestration.ledger.purges import input_ids, mark_purging
from orchestration.records import Certificate
from orchestration.retention.certify import Purged, certify
from orchestration.retention.context import SweepContext
from orchestration.retention.deadlines import row_deadlines
from orchestration.retention.destroy import destroy, sample_of
from orchestration.retention.partitions import log_purging
from orchestration.retention.plan import RowPurge
from orchestration.retention.state import READER
from orchestration.vocabulary import PurgeKind


def purge_rows(ctx: SweepContext, held: Held | None, sweep_id: str, item: RowPurge) -> Certificate:
    """Rewrite (unless an interrupted sweep did), mark the superseded versions ``purging``,
    delete and verify them, certify."""
    if item.rewrite is not None:
        _rewrite(ctx, item)
    active = ctx.keys.active_key_id(item.dataset, item.partition)
    keys = {v.key_id for v in item.superseded} - {active}
    superseded = list(item.superseded)
    sample = sample_of(ctx, superseded)
    with transaction(ctx.engine) as s:
        lock_partition(s, item.dataset, item.partition)
        ids = [v.id for v in superseded]
        reason = "being purged: superseded by a rewrite"
        numbers = mark_purging(s, item.dataset, item.partition, ids, reason)
        log_purging(ctx, s, sweep_id, item.dataset, item.partition, PurgeKind.ROWS, numbers)
    prefixes = [v.object_key for v in superseded]
    removed, verification = destroy(ctx, held, item.dataset, superseded, prefixes, keys, sample)
    purged = Purged(
        kind=PurgeKind.ROWS,
        dataset=item.dataset,
        partitions=[item.partition],
        versions=superseded,
        removed=removed,
        keys=sorted(keys),
        policy=item.policy,
        verification=verification,
        reasons=[f"rows past their deadline under policy {item.policy}"],
        deadline=None,  # a row's deadline would date one person's event (invariant 1)
        row_count=item.expired_rows,
    )
    return certify(ctx, held, purged)


def _rewrite(ctx: SweepContext, item: RowPurge) -> None:
    """The newest version again, without the rows past their deadline, under a fresh key."""
    assert item.rewrite is not None
    dataset = ctx.catalog.get(item.dataset)
    policy = ctx.catalog.policies[item.policy]
    now = ctx.clock.now()
    source = ctx.versions.get_by_id(item.rewrite.id)
    frame = ctx.versions.read_unguarded(source, READER, ctx.actor)
    due = row_deadlines(policy, frame[policy.anchor.column or ""])
    kept = frame[~(due <= now).fillna(False)].reset_index(drop=True)
    ctx.keys.rotate(item.dataset, item.partition, now)
    ids = input_ids(ctx.engine, item.rewrite.id)
    inputs = ctx.versions.by_ids(ids) if ids else []
    ctx.rewrite(dataset, item.partition, kept, inputs, f"retention-sweep:{now.isoformat()}")
