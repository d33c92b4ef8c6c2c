"""Dataset versions, their backup copies and restores, and the references that name them
(C5.5-2, C5.4-3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import VersionStatus


@dataclass(frozen=True)
class BackupCopy:
    """One copy of a promoted version on a backup target (C5.4-3), at the location recorded
    when it was written (a re-pointed target does not move it)."""

    id: int
    version_id: int
    target: str
    location: str
    object_version_id: str | None
    checksum: str
    created_at: datetime
    verified_at: datetime | None
    verify_status: str | None


@dataclass(frozen=True)
class RecordedObject:
    """An S3 object version the ledger recorded writing for a version of ``partition``: its
    store object (``location`` None) or a backup copy at its recorded location. A sweep
    deletes these by id before it lists anything (C5.2-11)."""

    partition: str
    location: str | None
    object_key: str
    object_version_id: str


@dataclass(frozen=True)
class Version:
    """One immutable materialization of a dataset partition (C5.5-2). ``partition`` is the
    day (YYYY-MM-DD) or ``NO_PARTITION`` for an unpartitioned dataset."""

    id: int
    dataset: str
    partition: str
    number: int
    status: VersionStatus
    object_key: str
    checksum: str
    content_hash: str
    row_count: int
    byte_size: int
    column_schema: dict[str, Any]
    sources: dict[str, Any]
    key_id: str
    declaration_revision: str
    run_id: str | None
    actor: str
    created_at: datetime
    promoted_at: datetime | None
    status_reason: str | None
    purged_at: datetime | None
    purge_certificate_id: int | None
    backups: tuple[BackupCopy, ...] = ()

    @property
    def label(self) -> str:
        """How messages name it: dataset, partition and number, never a value."""
        part = f" partition {self.partition}" if self.partition else ""
        return f"{self.dataset}{part} version {self.number}"


@dataclass(frozen=True)
class Restore:
    """A version brought back from a backup copy (C5.5-3)."""

    id: int
    version_id: int
    backup_copy_id: int
    actor: str
    restored_at: datetime


@dataclass(frozen=True)
class VersionRef:
    """A version that is not purged, reduced to what it references: the sweep's inventory
    reconciles objects, landing files and keys against these (C5.2-11)."""

    id: int
    dataset: str
    partition: str
    number: int
    status: VersionStatus
    created_at: datetime
    object_key: str
    sources: tuple[str, ...]


def version_summary(version: Version) -> dict[str, Any]:
    """A version as the CLI lists it and lineage shows it: identifiers, hash, row count, run,
    actor and where its backup copies are (never a value)."""
    return {
        "dataset": version.dataset,
        "partition": version.partition or None,
        "version": version.number,
        "status": str(version.status),
        "content_hash": version.content_hash,
        "rows": version.row_count,
        "created_at": version.created_at.isoformat(),
        "actor": version.actor,
        "run_id": version.run_id,
        "backups": [
            {"target": c.target, "location": c.location, "object_version_id": c.object_version_id}
            for c in version.backups
        ],
    }
