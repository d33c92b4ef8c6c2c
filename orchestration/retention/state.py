"""Reading what the sweep planner needs from the ledger, the key store and, for row-level
policies, the anchor column of each version (held in memory only, never logged)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestration.declarations.models import AnchorKind
from orchestration.errors import IntegrityError, KeyMissing, NotFound
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import BackupCopy, DatasetVersion, LegalHold
from orchestration.retention.plan import Hold, RetentionState, VersionRecord
from orchestration.steward import Steward
from orchestration.store.versions import NO_PARTITION, SETTLED
from orchestration.vocabulary import VersionStatus

READER = "retention sweep"


def load_state(
    steward: Steward, only: str | None = None, ungoverned: bool = False
) -> RetentionState:
    """``ungoverned`` also loads datasets without a retention policy (to retire one)."""
    catalog = steward.catalog
    governed = {
        k
        for k, d in catalog.datasets.items()
        if (d.declaration.retention_policy or ungoverned) and (only is None or k == only)
    }
    with transaction(steward.engine) as s:
        rows = s.scalars(
            select(DatasetVersion)
            .where(
                DatasetVersion.dataset.in_(governed), DatasetVersion.status != VersionStatus.PURGED
            )
            .order_by(DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.number)
        ).all()
        records = version_records(s, rows)
        first_pass = {
            (ds, part): at
            for ds, part, at in s.execute(
                select(
                    DatasetVersion.dataset,
                    DatasetVersion.partition,
                    func.min(DatasetVersion.promoted_at),
                )
                .where(DatasetVersion.promoted_at.is_not(None))
                .group_by(DatasetVersion.dataset, DatasetVersion.partition)
            )
        }
        holds = [
            Hold(h.dataset, h.partition, h.reason, h.until)
            for h in s.scalars(select(LegalHold).where(LegalHold.released_at.is_(None)))
        ]

    versions: dict[tuple[str, str], list[VersionRecord]] = defaultdict(list)
    for record in records:
        versions[record.dataset, record.partition].append(record)

    derivations = {}
    anchors = {}
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
            active_keys[key, partition] = steward.store.keys.active_key_id(key, partition)
            for record in records:
                if record.status not in SETTLED:
                    continue
                version = steward.store.get_by_id(record.id)
                try:
                    frame = steward.store.read_unguarded(version, READER, steward.settings.actor)
                except (NotFound, KeyMissing, IntegrityError):
                    continue  # half-purged by an interrupted sweep: its retired key marks it
                anchors[record.id] = frame[policy.anchor.column]
    return RetentionState(versions, holds, derivations, anchors, active_keys)


def version_records(session: Session, rows: Sequence[DatasetVersion]) -> list[VersionRecord]:
    """What the planner and the executor need of each version: its row and the backup
    targets holding a copy of it."""
    targets: dict[int, list[str]] = defaultdict(list)
    for version_id, target in session.execute(
        select(BackupCopy.version_id, BackupCopy.target).where(
            BackupCopy.version_id.in_([r.id for r in rows])
        )
    ):
        targets[version_id].append(target)
    return [
        VersionRecord(
            r.id,
            r.dataset,
            r.partition,
            r.number,
            r.status,
            r.created_at,
            r.key_id,
            r.object_key,
            tuple(sorted(r.sources)),
            tuple(sorted(targets[r.id])),
        )
        for r in rows
    ]
