"""Table rows to domain records: the ledger's one way out (``orchestration/records/``).

Repository functions in ``ledger/`` convert here before returning, inside their session, so
a record never lazily loads or writes anything. ORM objects and Core rows alike: both give
their columns as attributes."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from orchestration import records
from orchestration.vocabulary import IncidentKind, ProvisionBasis, PurgeKind, VersionStatus

if TYPE_CHECKING:  # rows of the ORM or of Core: the same fields, by attribute
    from orchestration.ledger import tables

R = TypeVar("R")


def _fields(cls: type[R], row: Any, **overrides: Any) -> R:
    values = {
        f.name: getattr(row, f.name)
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in overrides
    }
    return cls(**values, **overrides)


def backup_copy(row: tables.BackupCopy) -> records.BackupCopy:
    return _fields(records.BackupCopy, row)


def version(row: tables.DatasetVersion) -> records.Version:
    return version_with(row, row.backups)


def version_with(row: Any, backups: Iterable[Any]) -> records.Version:
    """A version from its row and its backup copies' rows, read apart (Core has no
    relationships)."""
    return _fields(
        records.Version,
        row,
        status=VersionStatus(row.status),
        backups=tuple(backup_copy(b) for b in backups),
    )


def restore(row: tables.Restore) -> records.Restore:
    return _fields(records.Restore, row)


def quality_result(row: tables.QualityResult) -> records.QualityResult:
    return _fields(records.QualityResult, row)


def waiver(row: tables.Waiver) -> records.Waiver:
    return _fields(records.Waiver, row)


def hold(row: tables.LegalHold) -> records.Hold:
    return _fields(records.Hold, row)


def certificate(row: tables.PurgeCertificate) -> records.Certificate:
    return _fields(records.Certificate, row, kind=PurgeKind(row.kind))


def incident(row: tables.Incident) -> records.Incident:
    return _fields(records.Incident, row, kind=IncidentKind(row.kind))


def deadline(row: tables.RetentionDeadline) -> records.Deadline:
    return _fields(records.Deadline, row)


def refused_delivery(row: tables.RefusedDelivery) -> records.RefusedDelivery:
    return _fields(records.RefusedDelivery, row)


def purge_intent(row: tables.PurgeIntent) -> records.PurgeIntent:
    return _fields(records.PurgeIntent, row, kind=PurgeKind(row.kind))


def retirement(row: tables.RetiredDataset) -> records.Retirement:
    return _fields(records.Retirement, row)


def provision(row: tables.Provision, versions: list[records.ProvidedVersion]) -> records.Provision:
    return _fields(
        records.Provision,
        row,
        versions=tuple(versions),
        columns=tuple(row.columns["names"]),
        basis=ProvisionBasis(row.basis),
    )
