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


class IncidentKind(StrEnum):
    """What the committee is told about (C4.1-3)."""

    PURGE_FAILED = "purge_failed"
    ORPHAN_PURGE_FAILED = "orphan_purge_failed"
    LOCATION_UNREACHABLE = "location_unreachable"
    SWEEP_INTERRUPTED = "sweep_interrupted"
    SWEEP_LOCK_BUSY = "sweep_lock_busy"
    UNPLANNABLE = "unplannable"


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
