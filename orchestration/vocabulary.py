"""The one vocabulary of city-steward: every status, kind and action the ledger records, the
district time zone, the object-key layout and how a dataset key names a Dagster asset.

Nothing else in ``orchestration/`` spells these as literals (``tests/unit/test_architecture.py``
greps for them), so a new status or kind is added here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum
from zoneinfo import ZoneInfo

DISTRICT_ZONE = "Asia/Tokyo"
DISTRICT_TZ = ZoneInfo(DISTRICT_ZONE)


class VersionStatus(StrEnum):
    """staged -> promoted (suite passed) | quarantined (suite failed, C5.5-4) | rejected
    (the written object failed its integrity audit); then purging -> purged (C5.2-11)."""

    STAGED = "staged"
    PROMOTED = "promoted"
    QUARANTINED = "quarantined"
    REJECTED = "rejected"
    PURGING = "purging"  # a purge intent is recorded: nothing reads, restores or promotes it
    PURGED = "purged"  # a tombstone: the record stays, every copy and its key are gone


class CheckStatus(StrEnum):
    """The outcome of one expectation or one quality dimension (C5.5-1)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    ERROR = "error"
    NOT_EVALUATED = "skipped"


class CopyStatus(StrEnum):
    """The outcome of re-reading one backup copy (C5.4-3)."""

    OK = "ok"
    FAILED = "failed"


class PurgeKind(StrEnum):
    """Why a purge certificate was written (C5.2-11)."""

    EXPIRY = "expiry"  # whole partitions past their deadline
    ROWS = "rows"  # rows past their deadline, by a rewrite under a fresh key
    RETIRE = "retire"  # the dataset's service ended
    ORPHANS = "orphans"  # objects, files and keys no live version names, past their grace
    ERASURE = "erasure"  # one data subject's rows, by a rewrite under a fresh key (C5.2-6)


class IncidentKind(StrEnum):
    """What the committee is told about (C4.1-3)."""

    PURGE_FAILED = "purge_failed"
    ORPHAN_PURGE_FAILED = "orphan_purge_failed"
    LOCATION_UNREACHABLE = "location_unreachable"
    SWEEP_INTERRUPTED = "sweep_interrupted"
    SWEEP_LOCK_BUSY = "sweep_lock_busy"
    UNPLANNABLE = "unplannable"
    INTEGRITY_FAILED = "integrity_failed"  # a stored object failed its checksum or hash (C5.4-4)
    BACKUP_VERIFICATION_FAILED = "backup_verification_failed"  # a copy is missing or altered
    READ_AFTER_WAIVER_REVOKED = "read_after_waiver_revoked"  # derived from it meanwhile (C5.5-4)
    PROVIDED_DATA_PURGED = "provided_data_purged"  # recipients hold data purged here (C5.2-11)
    PROVIDED_VERSION_REPLACED = "provided_version_replaced"  # a correction replaced it (C5.5-2)
    SUBJECT_REQUEST_OVERDUE = "subject_request_overdue"  # not answered by its due date (C5.2-6)
    PROVIDED_VERSION_FAULTY = "provided_version_faulty"  # its waiver was revoked (C5.5-4)


class AuditAction(StrEnum):
    """What an audit entry records (C5.4-1)."""

    STAGE = "stage"
    PROMOTE = "promote"
    QUARANTINE = "quarantine"
    REJECT = "reject"
    READ = "read"
    QUALITY = "quality"
    WAIVE = "waive"
    REFUSE = "refuse"
    BACKUP = "backup"
    BACKUP_VERIFY = "backup_verify"
    RESTORE = "restore"
    HOLD = "hold"
    RELEASE = "release"
    RETIRE = "retire"
    PURGE_INTENT = "purge_intent"
    PURGE = "purge"
    INCIDENT = "incident"
    PROVIDE = "provide"
    SUBJECT_REQUEST = "subject_request"
    REVOKE = "revoke"
    APPROVAL_REQUEST = "approval_request"  # a decision waiting for a second approver (C5.4-1)
    APPROVE = "approve"  # the second approver agreed; the decision was carried out


class ProvisionBasis(StrEnum):
    """Why a provision to a recipient is allowed (C5.2-12, C5.2-13, C5.3-3, C5.1-4)."""

    CONSENT = "consent"  # personal data, with the data subjects' consent to this recipient
    NON_IDENTIFYING = "non_identifying"  # statistical or anonymized data
    MEMBER_CONFIDENTIAL = "member_confidential"  # confidential data to a consortium member
    OPEN = "open"  # open data


class RecipientAction(StrEnum):
    """What a recipient of a version is asked to do when that version changes here."""

    DELETE = "delete"  # the version was purged: delete every copy
    REPLACE = "replace"  # a correction replaced it: use the newer version instead


NO_PARTITION = ""
"""The partition of an unpartitioned dataset, as the ledger stores it."""

OBJECTS_ROOT = "objects"
OBJECT_SUFFIX = ".cstw"
_UNPARTITIONED_SEGMENT = "_"


def partition_prefix(dataset: str, partition: str) -> str:
    """Where every object of one dataset partition lives, in the store and in each backup:
    ``objects/<zone>/<name>/<day or _>/``. Purges and inventories list by this prefix."""
    return f"{OBJECTS_ROOT}/{dataset}/{partition or _UNPARTITIONED_SEGMENT}/"


def object_key(dataset: str, partition: str, object_id: str) -> str:
    """The key of one version's encrypted object under its partition's prefix."""
    return f"{partition_prefix(dataset, partition)}{object_id}{OBJECT_SUFFIX}"


def partition_of_segment(segment: str) -> str:
    """The ledger's partition for the day segment of an object key."""
    return NO_PARTITION if segment == _UNPARTITIONED_SEGMENT else segment


def owner_of_object(key: str) -> tuple[str, str] | None:
    """The (dataset, partition) whose prefix an object key lies under, or None for a key
    outside the layout (``objects/<zone>/<name>/<day or _>/<file>``)."""
    parts = key.split("/")
    if len(parts) >= 5 and parts[0] == OBJECTS_ROOT:
        return f"{parts[1]}/{parts[2]}", partition_of_segment(parts[3])
    return None


def asset_path(dataset: str) -> list[str]:
    """A dataset key (``zone/name``) as the path of its Dagster asset key."""
    return dataset.split("/")


def dataset_of_asset_path(path: list[str] | tuple[str, ...]) -> str:
    """The dataset key an asset key's path names."""
    return "/".join(path)


def op_name(dataset: str) -> str:
    """A dataset key as a Dagster op or step name (``zone__name``)."""
    return dataset.replace("/", "__")


class RequestKind(StrEnum):
    """What a data subject asked for (C5.2-6)."""

    FIND = "find"  # disclosure: what the district holds about them
    ERASE = "erase"
    RESTRICT = "restrict"  # stop of use until lifted
    EXPORT = "export"  # disclosure: their rows, packaged for them
    CORRECT = "correct"


class RequestStatus(StrEnum):
    """Where a subject request stands (C5.2-6)."""

    IN_PROGRESS = "in_progress"  # received; an erasure may be half done and is resumed
    COMPLETED = "completed"
    ACTIVE = "active"  # a restriction in force
    LIFTED = "lifted"  # a restriction ended


class Role(StrEnum):
    """The roles an access policy grants (``access/policy.yaml``, C5.4-1, C5.5-4)."""

    OPERATOR = "operator"  # runs pipelines, sweeps, backups and provisions; reads reports
    DATA_STEWARD = "data_steward"  # waives, holds, releases, restores
    DPO = "dpo"  # retires, approves long holds, answers subject requests
    AUDITOR = "auditor"  # reads the ledger, the audit log and certificates only


class ApprovalKind(StrEnum):
    """A decision that waits for a second approver (C5.4-1)."""

    HOLD = "hold"  # a hold longer than the policy's limit, or without an end
    RETIRE = "retire"


class ApprovalStatus(StrEnum):
    """Where a pending decision stands."""

    PENDING = "pending"
    APPROVED = "approved"
