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


class PartitionState(StrEnum):
    """What a partition is now, as the non-blocking ``governance`` check shows it in the UI
    (docs/ui.md): its newest version's status, or a decision that overrides it."""

    PROMOTED = "promoted"  # its newest version passed its checks and readers use it
    QUARANTINED = "quarantined"  # its newest version failed a blocking check; nobody reads it
    WAIVED = "waived"  # quarantined, but a waiver lets readers use it until it expires
    HELD = "held"  # a legal hold suspends its purge (C5.2-11)
    PURGING = "purging"  # a purge intent is recorded; the purge is not certified yet
    PURGED = "purged"  # every version is a tombstone


class CheckStatus(StrEnum):
    """The outcome of one expectation or one quality dimension (C5.5-1)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNING = "warning"
    ERROR = "error"
    NOT_EVALUATED = "skipped"


class QualityEngine(StrEnum):
    """What evaluates a suite's GX expectations (``STEWARD_QUALITY_ENGINE``): GX Core's pandas
    engine, the reference, or the vectorized evaluator of the same semantics (C5.5-1)."""

    GX = "gx"
    VECTORIZED = "vectorized"


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
    IDENTIFIER_DETECTED = "identifier_detected"  # an undeclared identifier in a delivery (C5.2-5)
    SPECIAL_CARE_DETECTED = "special_care_detected"  # special care-required terms (C5.2-4)
    AUDIT_MISMATCH = "audit_mismatch"  # `audit verify` found a chain, seal or anchor disagreeing


class Detector(StrEnum):
    """What the ingest scan looks for in a delivery's values (C5.2-4, C5.2-5); a declaration
    names the identifier kinds a column legitimately holds with these."""

    EMAIL = "email"
    PHONE_NUMBER = "phone_number"  # Japanese mobile, landline and +81 numbers
    MY_NUMBER = "my_number"  # the 12-digit individual number, check digit valid
    POSTAL_ADDRESS = "postal_address"  # 〒 / 7-digit postcode, prefecture and city
    CARD_NUMBER = "card_number"  # 13 to 19 digits passing the Luhn check
    MAC_ADDRESS = "mac_address"
    SPECIAL_CARE_TERM = "special_care_term"  # a term of the APPI special-care list


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
    ERASED_ROWS_DROPPED = "erased_rows_dropped"  # an erased person's rows kept out (C5.2-6)
    REVOKE = "revoke"
    APPROVAL_REQUEST = "approval_request"  # a decision waiting for a second approver (C5.4-1)
    APPROVE = "approve"  # the second approver agreed; the decision was carried out
    SEAL = "seal"  # the district chain records every chain's head under the key (C5.4-1)


class AuditProblem(StrEnum):
    """What ``steward audit verify`` found wrong with an audit chain (C5.4-1); with the chain
    and the entries concerned it identifies one finding, recorded once as an incident."""

    EDITED = "edited"  # an entry's fields no longer match its hash
    MISSING = "missing"  # entries of a chain are gone (deleted in the middle or at the end)
    UNLINKED = "unlinked"  # an entry does not follow the one before it
    MAC_MISMATCH = "mac_mismatch"  # written or rewritten without the audit key
    MAC_ABSENT = "mac_absent"  # an entry without a MAC after keyed ones, or every MAC stripped
    BACKDATED = "backdated"  # recorded before its predecessor in the same chain
    HEAD = "head"  # a chain's head row is missing, or disagrees with its entries or seal
    SEAL = "seal"  # a seal entry of the district chain disagrees with a chain
    ANCHOR = "anchor"  # an anchor outside the ledger disagrees with a chain
    STATE = "state"  # the ledger's state is not what the log says happened


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
