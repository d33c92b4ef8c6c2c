"""Domain records: what the ledger knows, as frozen values that cross module boundaries.

The ledger's repository functions (``orchestration/ledger/``) return these, never table rows,
so the store, the sweep, the CLI, the Dagster adapter and the reports share one shape and
nothing outside ``ledger/`` can change the database by touching an attribute. Records hold
identifiers, hashes, counts, column names and actors: never a dataset value (invariant 1).

``as_json`` is the one place a record becomes JSON, for the CLI, the UI metadata and reports.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from orchestration.vocabulary import (
    ApprovalKind,
    ApprovalStatus,
    IncidentKind,
    ProvisionBasis,
    PurgeKind,
    RequestKind,
    RequestStatus,
    VersionStatus,
)


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
class QualityResult:
    """One dimension of one version's quality suite (C5.5-1): counts and percentages only."""

    id: int
    version_id: int
    dimension: str
    status: str
    evaluated: int
    passed: int
    conforming_percent: float | None
    checks: dict[str, Any]
    suite_name: str
    suite_revision: str
    evaluated_at: datetime


@dataclass(frozen=True)
class Waiver:
    """An operator's decision to let readers use a quarantined version until ``expires_at``
    (C5.5-4)."""

    id: int
    version_id: int
    reason: str
    actor: str
    granted_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Hold:
    """A legal hold: suspends purging of a dataset, or one partition of it (C5.2-11)."""

    id: int
    dataset: str
    partition: str | None
    reason: str
    actor: str
    placed_at: datetime
    until: datetime | None
    released_at: datetime | None
    released_by: str | None


@dataclass(frozen=True)
class Certificate:
    """Evidence of one irrecoverable purge (C5.2-11): what, where, why, and how it was
    verified. Names datasets, partitions, versions, object counts and key ids only."""

    id: int
    kind: PurgeKind
    dataset: str
    partitions: dict[str, Any]
    row_count: int | None
    versions: dict[str, Any]
    removed: dict[str, Any]
    keys_destroyed: dict[str, Any]
    policy: str | None
    deadline: datetime | None
    executed_at: datetime
    actor: str
    verification: dict[str, Any]


@dataclass(frozen=True)
class Incident:
    """Something the governance committee is told about (C4.1-3)."""

    id: int
    at: datetime
    kind: IncidentKind
    dataset: str | None
    partition: str | None
    detail: dict[str, Any]
    resolved_at: datetime | None


@dataclass(frozen=True)
class Deadline:
    """The computed retention deadline of one dataset partition (C5.2-11)."""

    dataset: str
    partition: str
    policy: str
    deadline: datetime | None
    basis: str
    overdue_rows: int | None
    computed_at: datetime


@dataclass(frozen=True)
class RefusedDelivery:
    """A provider file ingest refused (C5.2-2); the reason names columns and counts only."""

    id: int
    dataset: str
    partition: str
    file: str
    sha256: str
    reason: str
    refused_at: datetime
    actor: str
    run_id: str | None
    purge_certificate_id: int | None


@dataclass(frozen=True)
class PurgeIntent:
    """A purge under way (C5.2-11): recorded, with every version of the partition marked
    ``purging``, before the first deletion; completed by the certificate that ends it."""

    id: int
    dataset: str
    partition: str
    kind: PurgeKind
    sweep_id: str
    policy: str | None
    deadline: datetime | None
    reason: str
    started_at: datetime
    completed_at: datetime | None
    certificate_id: int | None


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


@dataclass(frozen=True)
class Retirement:
    """A dataset whose service ended: purged by the certificate, never made again."""

    dataset: str
    retired_at: datetime
    actor: str
    certificate_id: int | None


@dataclass(frozen=True)
class ProvidedVersion:
    """One version a provision delivered, named as a recipient would name it."""

    version_id: int
    partition: str
    number: int
    content_hash: str


@dataclass(frozen=True)
class Provision:
    """One entry of the provision register (C5.2-12): recipient, dataset, versions, items
    (column names), purpose, basis, contract, time, actor and the signed package's hash."""

    id: int
    package_id: str
    recipient: str
    dataset: str
    versions: tuple[ProvidedVersion, ...]
    columns: tuple[str, ...]
    purpose: str
    basis: ProvisionBasis
    contract_id: str
    terms: dict[str, Any]
    provided_at: datetime
    actor: str
    package_sha256: str
    signing_key_id: str
    location: str


def as_json(record: Any) -> Any:
    """A record (or a list, tuple or dict of them) as JSON-ready values: instants in ISO 8601
    UTC, enums as their value, nested records as objects."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: as_json(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, datetime):
        return record.isoformat()
    if isinstance(record, Enum):
        return record.value
    if isinstance(record, dict):
        return {str(k): as_json(v) for k, v in record.items()}
    if isinstance(record, list | tuple):
        return [as_json(v) for v in record]
    return record


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


@dataclass(frozen=True)
class SubjectRequest:
    """A data subject's request (C5.2-6): its id, kind, status, due date and receipt. The
    person is named by a keyed digest only; the receipt holds datasets, partitions, versions,
    counts, certificates and recipients, never a value."""

    id: int
    request_id: str
    kind: RequestKind
    status: RequestStatus
    identifier_kind: str
    subject_digest: str
    received_at: datetime
    due_at: datetime
    completed_at: datetime | None
    actor: str
    receipt: dict[str, Any]
    overdue_reported_at: datetime | None


@dataclass(frozen=True)
class ErasureStep:
    """One dataset partition of an erasure (C5.2-6): the rewrite without the subject and the
    certificate of the purge of everything older."""

    id: int
    request_id: int
    dataset: str
    partition: str
    subject_rows: int
    rewrite_version_id: int | None
    certificate_id: int | None
    started_at: datetime
    completed_at: datetime | None


@dataclass(frozen=True)
class ApprovalRequest:
    """A decision waiting for a second approver (C5.4-1): what, on which dataset, who asked,
    and who approved it. ``detail`` holds the decision's arguments, never a data value."""

    id: int
    kind: ApprovalKind
    dataset: str
    partition: str | None
    detail: dict[str, Any]
    status: ApprovalStatus
    requested_by: str
    requested_at: datetime
    approved_by: str | None
    approved_at: datetime | None
