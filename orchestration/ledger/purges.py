"""The ledger side of retention (C5.2-11): what the sweep planner, the read guard and the
inventory read, and the sweep's writes to versions (``purging``, tombstones, dead stagings)
and to the recorded deadlines. Functions taking a Session share the caller's transaction,
which holds the partition locks where the sweep takes them (``ledger.intents``)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import (
    BackupCopy,
    DatasetVersion,
    RetentionDeadline,
    VersionInput,
)
from orchestration.vocabulary import VersionStatus

_LIVE = DatasetVersion.status != VersionStatus.PURGED


# -- reads -----------------------------------------------------------------------------------
def unpurged_versions(session: Session, datasets: Collection[str]) -> list[records.Version]:
    """Every version of these datasets that is not a tombstone, by partition and number."""
    query = (
        select(DatasetVersion)
        .where(DatasetVersion.dataset.in_(datasets), _LIVE)
        .order_by(DatasetVersion.dataset, DatasetVersion.partition, DatasetVersion.number)
    )
    return [rows.version(row) for row in session.scalars(query)]


def live_versions(
    session: Session, dataset: str, partitions: Sequence[str]
) -> list[records.Version]:
    """Every version of these partitions that is not a tombstone yet, as the ledger says now."""
    query = (
        select(DatasetVersion)
        .where(DatasetVersion.dataset == dataset, DatasetVersion.partition.in_(partitions), _LIVE)
        .order_by(DatasetVersion.partition, DatasetVersion.number)
    )
    return [rows.version(row) for row in session.scalars(query)]


def first_promotions(session: Session) -> dict[tuple[str, str], datetime]:
    """(dataset, partition) -> when a version of it was first promoted."""
    query = (
        select(
            DatasetVersion.dataset, DatasetVersion.partition, func.min(DatasetVersion.promoted_at)
        )
        .where(DatasetVersion.promoted_at.is_not(None))
        .group_by(DatasetVersion.dataset, DatasetVersion.partition)
    )
    return {(ds, part): at for ds, part, at in session.execute(query)}


def first_created(session: Session, dataset: str, partition: str) -> datetime | None:
    """When the partition's oldest version that is not a tombstone was made."""
    return session.scalar(
        select(func.min(DatasetVersion.created_at)).where(
            DatasetVersion.dataset == dataset, DatasetVersion.partition == partition, _LIVE
        )
    )


def first_promoted(session: Session, dataset: str, partition: str) -> datetime | None:
    """When a version of the partition was first promoted (tombstones included)."""
    return session.scalar(
        select(func.min(DatasetVersion.promoted_at)).where(
            DatasetVersion.dataset == dataset, DatasetVersion.partition == partition
        )
    )


def version_refs(engine: Engine) -> list[records.VersionRef]:
    """Every version that is not purged, with what it references."""
    query = select(
        DatasetVersion.id,
        DatasetVersion.dataset,
        DatasetVersion.partition,
        DatasetVersion.number,
        DatasetVersion.status,
        DatasetVersion.created_at,
        DatasetVersion.object_key,
        DatasetVersion.sources,
    ).where(_LIVE)
    with transaction(engine) as s:
        found = s.execute(query).all()
    return [
        records.VersionRef(
            r.id,
            r.dataset,
            r.partition,
            r.number,
            VersionStatus(r.status),
            r.created_at,
            r.object_key,
            tuple(sorted(r.sources)),
        )
        for r in found
    ]


def recorded_objects(
    engine: Engine, dataset: str, partitions: Sequence[str]
) -> list[records.RecordedObject]:
    """The S3 object versions recorded for the live versions of these partitions: each store
    object and each backup copy with a VersionId (none on a folder, none for a store object
    written before revision 0009)."""
    live = (DatasetVersion.dataset == dataset, DatasetVersion.partition.in_(partitions), _LIVE)
    store = select(
        DatasetVersion.partition,
        DatasetVersion.object_key,
        DatasetVersion.object_version_id,
    ).where(*live, DatasetVersion.object_version_id.is_not(None))
    copies = (
        select(
            DatasetVersion.partition,
            BackupCopy.location,
            DatasetVersion.object_key,
            BackupCopy.object_version_id,
        )
        .join(BackupCopy, BackupCopy.version_id == DatasetVersion.id)
        .where(*live, BackupCopy.object_version_id.is_not(None))
    )
    with transaction(engine) as s:
        found = [records.RecordedObject(p, None, k, v) for p, k, v in s.execute(store)]
        found += [records.RecordedObject(*row) for row in s.execute(copies)]
    return found


def copy_locations(engine: Engine, dataset: str | None = None) -> list[tuple[str, str]]:
    """Every distinct (recorded location, object key) of a backup copy (of a version of
    ``dataset``, or of any), sorted."""
    query = select(BackupCopy.location, DatasetVersion.object_key).join(
        DatasetVersion, BackupCopy.version_id == DatasetVersion.id
    )
    if dataset is not None:
        query = query.where(DatasetVersion.dataset == dataset)
    with transaction(engine) as s:
        return sorted(set(s.execute(query).tuples()))


def input_ids(engine: Engine, version_id: int) -> list[int]:
    """The ids of the versions ``version_id`` was made from (C5.5-2)."""
    query = select(VersionInput.input_version_id).where(VersionInput.version_id == version_id)
    with transaction(engine) as s:
        return list(s.scalars(query))


def numbers_besides(
    session: Session, dataset: str, partitions: Sequence[str], ids: Sequence[int]
) -> list[int]:
    """The numbers of versions of these partitions, not tombstones, other than ``ids``."""
    query = select(DatasetVersion.number).where(
        DatasetVersion.dataset == dataset,
        DatasetVersion.partition.in_(partitions),
        _LIVE,
        DatasetVersion.id.not_in(ids),
    )
    return list(session.scalars(query))


# -- writes ----------------------------------------------------------------------------------
def mark_purging(
    session: Session, dataset: str, partition: str, ids: Sequence[int] | None, reason: str
) -> list[int]:
    """Mark the partition's versions (``ids`` only, if given) ``purging``; returns their
    numbers. The caller holds the partition lock and audit-logs it."""
    query = select(DatasetVersion).where(
        DatasetVersion.dataset == dataset,
        DatasetVersion.partition == partition,
        DatasetVersion.status.not_in([VersionStatus.PURGING, VersionStatus.PURGED]),
    )
    if ids is not None:
        query = query.where(DatasetVersion.id.in_(ids))
    marked = list(session.scalars(query.with_for_update()))
    for row in marked:
        row.status, row.status_reason = VersionStatus.PURGING, reason
    return [row.number for row in marked]


def mark_partitions_purging(
    session: Session, dataset: str, reasons: Mapping[str, str]
) -> dict[str, list[int]]:
    """Mark every version of these partitions (partition -> status reason) ``purging``: one
    SELECT (locking the rows on PostgreSQL) and one batched UPDATE by id, whatever the number
    of partitions. Returns the numbers marked per partition. The caller holds the partition
    locks and audit-logs it."""
    found = session.execute(
        select(DatasetVersion.id, DatasetVersion.partition, DatasetVersion.number)
        .where(
            DatasetVersion.dataset == dataset,
            DatasetVersion.partition.in_(list(reasons)),
            DatasetVersion.status.not_in([VersionStatus.PURGING, VersionStatus.PURGED]),
        )
        .order_by(DatasetVersion.partition, DatasetVersion.number)
        .with_for_update()
    ).all()
    if found:
        session.execute(
            update(DatasetVersion),
            [
                {"id": r.id, "status": VersionStatus.PURGING, "status_reason": reasons[r.partition]}
                for r in found
            ],
        )
    marked: dict[str, list[int]] = {p: [] for p in reasons}
    for r in found:
        marked[r.partition].append(r.number)
    return marked


def tombstone(
    session: Session, ids: Sequence[int], at: datetime, certificate_id: int, reason: str
) -> None:
    """Turn versions into tombstones naming their certificate (invariant 3)."""
    session.execute(
        update(DatasetVersion)
        .where(DatasetVersion.id.in_(ids))
        .values(
            status=VersionStatus.PURGED,
            purged_at=at,
            purge_certificate_id=certificate_id,
            status_reason=reason,
        )
    )


def reject_staged(session: Session, ids: Sequence[int], reason: str) -> None:
    """End versions still ``staged`` as ``rejected`` (their writer died)."""
    session.execute(
        update(DatasetVersion)
        .where(DatasetVersion.id.in_(ids), DatasetVersion.status == VersionStatus.STAGED)
        .values(status=VersionStatus.REJECTED, status_reason=reason)
    )


def drop_deadlines(session: Session, dataset: str, partitions: Sequence[str]) -> None:
    """Forget the recorded deadlines of these partitions."""
    session.execute(
        delete(RetentionDeadline).where(
            RetentionDeadline.dataset == dataset, RetentionDeadline.partition.in_(partitions)
        )
    )


def replace_deadlines(engine: Engine, deadlines: Sequence[records.Deadline]) -> None:
    """In one transaction, delete the recorded deadlines of these partitions per dataset,
    then insert them all in one batch (a row per partition merged one by one made a sweep of
    thousands of partitions slow)."""
    by_dataset: dict[str, list[str]] = defaultdict(list)
    for d in deadlines:
        by_dataset[d.dataset].append(d.partition)
    with transaction(engine) as s:
        for dataset, partitions in sorted(by_dataset.items()):
            drop_deadlines(s, dataset, sorted(partitions))
        s.execute(insert(RetentionDeadline), [dataclasses.asdict(d) for d in deadlines])
