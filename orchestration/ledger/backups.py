"""Backup copies and restores in the ledger (C5.4-3, C5.5-3), each audit-logged (C5.4-1).

Recording a copy or a restore checks for a purge under the partition lock and puts its object
(the caller's ``put``) in that same transaction, so neither puts an object back after the
sweep's deletion (C5.2-11).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine, func, select

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import BackupCopy, DatasetVersion, Restore
from orchestration.ledger.versions import lock_unless_purging
from orchestration.vocabulary import AuditAction, CopyStatus, VersionStatus


class Placed(Protocol):
    """Where a put landed: its location, and its object version on a versioned S3 bucket."""

    @property
    def uri(self) -> str: ...

    @property
    def version_id(self) -> str | None: ...


def copy_on(engine: Engine, version_id: int, target: str) -> records.BackupCopy | None:
    """The copy of a version on ``target``, if one was recorded."""
    with transaction(engine) as s:
        row = s.scalar(
            select(BackupCopy).where(
                BackupCopy.version_id == version_id, BackupCopy.target == target
            )
        )
        return None if row is None else rows.backup_copy(row)


def add_copy(
    engine: Engine,
    version: records.Version,
    target: str,
    put: Callable[[], Placed],
    actor: str,
    at: datetime,
) -> records.BackupCopy:
    """Put a copy of ``version`` on ``target`` with ``put`` and record it, in one transaction
    under the partition lock with no purge under way (C5.2-11)."""
    with transaction(engine) as s:
        lock_unless_purging(s, version, "a backup copy")
        placed = put()
        row = BackupCopy(
            version_id=version.id,
            target=target,
            location=placed.uri,
            object_version_id=placed.version_id,
            checksum=version.checksum,
            created_at=at,
        )
        s.add(row)
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.BACKUP,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={
                "target": target,
                "location": placed.uri,
                "object_version_id": placed.version_id,
            },
        )
        return rows.backup_copy(row)


def live_copy_count(engine: Engine) -> int:
    """How many copies there are of versions not purged."""
    with transaction(engine) as s:
        return (
            s.scalar(
                select(func.count(BackupCopy.id))
                .join(DatasetVersion, BackupCopy.version_id == DatasetVersion.id)
                .where(DatasetVersion.status != VersionStatus.PURGED)
            )
            or 0
        )


def live_copies(engine: Engine) -> list[tuple[records.BackupCopy, records.Version]]:
    """Every copy of a version not purged, with its version, in the order they were made."""
    with transaction(engine) as s:
        pairs = s.execute(
            select(BackupCopy, DatasetVersion)
            .join(DatasetVersion, BackupCopy.version_id == DatasetVersion.id)
            .where(DatasetVersion.status != VersionStatus.PURGED)
            .order_by(BackupCopy.id)
        ).all()
        return [(rows.backup_copy(copy), rows.version(version)) for copy, version in pairs]


def record_verification(
    engine: Engine,
    copy: records.BackupCopy,
    version: records.Version,
    ok: bool,
    actor: str,
    at: datetime,
) -> None:
    """Record the outcome of re-reading one copy, with its audit entry."""
    with transaction(engine) as s:
        row = s.get(BackupCopy, copy.id)
        assert row is not None
        row.verified_at = at
        row.verify_status = CopyStatus.OK if ok else CopyStatus.FAILED
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.BACKUP_VERIFY,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={"target": copy.target, "ok": ok},
        )


def add_restore(
    engine: Engine,
    version: records.Version,
    copy: records.BackupCopy,
    put: Callable[[], object],
    actor: str,
    at: datetime,
) -> records.Restore:
    """Put ``version``'s object back with ``put`` and record that it came from ``copy``, in
    one transaction under the partition lock with no purge under way (C5.2-11)."""
    with transaction(engine) as s:
        lock_unless_purging(s, version, "a restore")
        put()
        row = Restore(version_id=version.id, backup_copy_id=copy.id, actor=actor, restored_at=at)
        s.add(row)
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.RESTORE,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail={"target": copy.target, "location": copy.location},
        )
        return rows.restore(row)
