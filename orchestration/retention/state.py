"""Reading what the sweep planner needs from the ledger, the key store and, for row-level
policies, the anchor column of each version (held in memory only, never logged)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from orchestration.declarations.models import AnchorKind, RetentionPolicy
from orchestration.errors import IntegrityError, KeyMissing, NotFound
from orchestration.ledger.db import transaction
from orchestration.ledger.holds import active_holds
from orchestration.ledger.purges import first_promotions, unpurged_versions
from orchestration.records import Version
from orchestration.retention.context import SweepContext
from orchestration.retention.plan import Hold, RetentionState, VersionRecord
from orchestration.store.versions import SETTLED
from orchestration.vocabulary import NO_PARTITION

READER = "retention sweep"

Partitions = dict[tuple[str, str], list[VersionRecord]]


def load_state(
    ctx: SweepContext, only: str | None = None, ungoverned: bool = False
) -> RetentionState:
    """``ungoverned`` also loads datasets without a retention policy (to retire one)."""
    catalog = ctx.catalog
    governed = {
        k
        for k, d in catalog.datasets.items()
        if (d.declaration.retention_policy or ungoverned) and (only is None or k == only)
    }
    with transaction(ctx.engine) as s:  # one snapshot: versions, promotions, holds
        found = version_records(unpurged_versions(s, governed))
        first_pass = first_promotions(s)
        holds = [Hold(h.dataset, h.partition, h.reason, h.until) for h in active_holds(s)]

    versions: Partitions = defaultdict(list)
    for record in found:
        versions[record.dataset, record.partition].append(record)

    derivations = {}
    anchors: dict[int, pd.Series] = {}
    active_keys = {}
    for (key, partition), records in versions.items():
        policy = catalog.policies.get(catalog.declaration(key).retention_policy or "")
        if policy is None:
            continue
        if policy.anchor.kind is AnchorKind.DERIVATION:
            derivations[key, partition] = [
                first_pass.get(
                    (d, partition if catalog.declaration(d).is_partitioned else NO_PARTITION)
                )
                for d in catalog.downstream_of(key)
            ]
        if policy.anchor.kind is AnchorKind.COLUMN:
            active_keys[key, partition] = ctx.keys.active_key_id(key, partition)
            anchors.update(_anchors(ctx, policy, records))
    return RetentionState(versions, holds, derivations, anchors, active_keys)


def _anchors(
    ctx: SweepContext, policy: RetentionPolicy, records: list[VersionRecord]
) -> dict[int, pd.Series]:
    """Each settled version's anchor column, read in memory; a version that cannot be read is
    left out (half-purged by an interrupted sweep: its retired key marks it)."""
    anchors = {}
    for record in records:
        if record.status not in SETTLED:
            continue
        version = ctx.versions.get_by_id(record.id)
        try:
            frame = ctx.versions.read_unguarded(version, READER, ctx.actor)
        except (NotFound, KeyMissing, IntegrityError):
            continue
        anchors[record.id] = frame[policy.anchor.column]
    return anchors


def version_records(versions: Iterable[Version]) -> list[VersionRecord]:
    """What the planner and the executor need of each version: its identity, key, object,
    landing files and the backup targets holding a copy of it."""
    return [
        VersionRecord(
            v.id,
            v.dataset,
            v.partition,
            v.number,
            v.status,
            v.created_at,
            v.key_id,
            v.object_key,
            tuple(sorted(v.sources)),
            tuple(sorted(c.target for c in v.backups)),
        )
        for v in versions
    ]
