"""Domain records: what the ledger knows, as frozen values that cross module boundaries.

The ledger's repository functions (``orchestration/ledger/``) return these, never table rows,
so the store, the sweep, the CLI, the Dagster adapter and the reports share one shape and
nothing outside ``ledger/`` can change the database by touching an attribute. Records hold
identifiers, hashes, counts, column names and actors: never a dataset value (invariant 1).

``as_json`` is the one place a record becomes JSON, for the CLI, the UI metadata and reports.

Each family of records is a module of its own, imported when one of its names is first asked
for (``records.Version``, ``from orchestration.records import Certificate``): a command that
lists certificates does not build the classes of provisions or subject requests, whose
dataclass machinery would otherwise cost every command's start (issue 13).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from enum import Enum
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestration.records.approvals import ApprovalRequest
    from orchestration.records.incidents import Incident
    from orchestration.records.provisions import ProvidedVersion, Provision
    from orchestration.records.quality import QualityResult, Waiver
    from orchestration.records.retention import (
        Certificate,
        Deadline,
        Hold,
        PurgeIntent,
        RefusedDelivery,
        Retirement,
    )
    from orchestration.records.subjects import ErasureStep, SubjectRequest
    from orchestration.records.versions import (
        BackupCopy,
        RecordedObject,
        Restore,
        Version,
        VersionRef,
        version_summary,
    )

_HOMES = {
    "BackupCopy": "versions",
    "RecordedObject": "versions",
    "Version": "versions",
    "Restore": "versions",
    "VersionRef": "versions",
    "version_summary": "versions",
    "QualityResult": "quality",
    "Waiver": "quality",
    "Hold": "retention",
    "Certificate": "retention",
    "Deadline": "retention",
    "RefusedDelivery": "retention",
    "PurgeIntent": "retention",
    "Retirement": "retention",
    "Incident": "incidents",
    "ProvidedVersion": "provisions",
    "Provision": "provisions",
    "SubjectRequest": "subjects",
    "ErasureStep": "subjects",
    "ApprovalRequest": "approvals",
}
"""Each record (and ``version_summary``) and the module that defines it."""

__all__ = [
    "ApprovalRequest",
    "BackupCopy",
    "Certificate",
    "Deadline",
    "ErasureStep",
    "Hold",
    "Incident",
    "ProvidedVersion",
    "Provision",
    "PurgeIntent",
    "QualityResult",
    "RecordedObject",
    "RefusedDelivery",
    "Restore",
    "Retirement",
    "SubjectRequest",
    "Version",
    "VersionRef",
    "Waiver",
    "as_json",
    "version_summary",
]


def __getattr__(name: str) -> Any:
    """A record's class, from its module, imported now if it was not yet."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    found = getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = found
    return found


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
