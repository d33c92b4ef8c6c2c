"""Dataset versions and their exact inputs in the ledger (C5.5-2).

Every write and status change of ``dataset_versions`` and ``version_inputs`` lives here and
returns ``records.Version``; reading them is ``ledger/version_reads.py``. A write checks for
purge intents under the partition lock and is audit-logged in the same transaction (C5.2-11,
C5.4-1); ``ledger/intents.py`` says why.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError as SAIntegrityError
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.errors import IntegrityError, RetentionRefused
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import last_intent_id, lock_partition, refuse_if_purging
from orchestration.ledger.provisions import tell_recipients
from orchestration.ledger.tables import DatasetVersion, VersionInput
from orchestration.vocabulary import AuditAction, IncidentKind, RecipientAction, VersionStatus

FINAL = (VersionStatus.PURGING, VersionStatus.PURGED)  # never overwritten
SETTLING = {
    VersionStatus.PROMOTED: AuditAction.PROMOTE,
    VersionStatus.QUARANTINED: AuditAction.QUARANTINE,
    VersionStatus.REJECTED: AuditAction.REJECT,
}
NUMBER_ATTEMPTS = 20  # PostgreSQL: concurrent writers may race for a version number


@dataclasses.dataclass(frozen=True)
class NewVersion:
    """What a staged version records before the ledger gives it a number."""

    dataset: str
    partition: str
    object_key: str
    object_version_id: str | None
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
    inputs: tuple[int, ...]


# -- writing -------------------------------------------------------------------------------------
def check_not_purging(engine: Engine, dataset: str, partition: str, what: str) -> int:
    """Refuse ``what`` while a purge of the partition is under way; return the newest purge
    intent's id, for a writer to hand to ``stage`` as the intent it has seen."""
    with transaction(engine) as s:
        refuse_if_purging(s, dataset, partition, what)
        return last_intent_id(s, dataset, partition)


def stage(engine: Engine, new: NewVersion, seen: int, at: datetime) -> records.Version:
    """Record a staged version under the next number of its partition, checked against purge
    intents under the partition lock in the same transaction: none open, none begun since
    ``seen`` (C5.2-11)."""
    for _attempt in range(NUMBER_ATTEMPTS):
        try:
            with transaction(engine) as s:
                return _stage_in(s, new, seen, at)
        except SAIntegrityError:
            continue
    raise IntegrityError(
        f"{new.dataset} partition {new.partition!r}: could not allocate a version number"
    )


def _stage_in(s: Session, new: NewVersion, seen: int, at: datetime) -> records.Version:
    lock_partition(s, new.dataset, new.partition)
    refuse_if_purging(s, new.dataset, new.partition, f"a new version of {new.dataset}", seen)
    number = (
        s.scalar(
            select(func.max(DatasetVersion.number)).where(
                DatasetVersion.dataset == new.dataset, DatasetVersion.partition == new.partition
            )
        )
        or 0
    ) + 1
    fields = dataclasses.asdict(new)
    del fields["inputs"]
    row = DatasetVersion(**fields, number=number, status=VersionStatus.STAGED, created_at=at)
    s.add(row)
    s.flush()
    inputs = sorted(set(new.inputs))
    s.add_all(VersionInput(version_id=row.id, input_version_id=i) for i in inputs)
    audit.append(
        s,
        at=at,
        actor=new.actor,
        action=AuditAction.STAGE,
        dataset=new.dataset,
        partition=new.partition,
        version=number,
        detail={
            "run_id": new.run_id,
            "content_hash": new.content_hash,
            "rows": new.row_count,
            "inputs": inputs,
            "declaration_revision": new.declaration_revision,
        },
    )
    return rows.version(row)


def settle(
    engine: Engine,
    version: records.Version,
    status: VersionStatus,
    actor: str,
    reason: str | None,
    at: datetime,
) -> records.Version:
    """Promote, quarantine or reject a staged version under the partition lock; a version being
    purged or purged is never overwritten (C5.2-11)."""
    with transaction(engine) as s:
        lock_partition(s, version.dataset, version.partition)
        row = s.get(DatasetVersion, version.id, with_for_update=True)
        assert row is not None
        if row.status in FINAL:
            raise RetentionRefused(
                f"{row.label} is {row.status}: it cannot become {status} (C5.2-11)"
            )
        row.status, row.status_reason = status, reason
        if status == VersionStatus.PROMOTED:
            row.promoted_at = at
            _tell_recipients_of_replaced(s, row, actor, at)
        audit.append(
            s,
            at=at,
            actor=actor,
            action=SETTLING[status],
            dataset=row.dataset,
            partition=row.partition,
            version=row.number,
            detail={"reason": reason} if reason else {},
        )
        return rows.version(row)


def _tell_recipients_of_replaced(s: Session, row: DatasetVersion, actor: str, at: datetime) -> None:
    """A promoted correction replaces the version before it: its recipients are told (C5.5-2)."""
    before = s.scalar(
        select(DatasetVersion.id)
        .where(
            DatasetVersion.dataset == row.dataset,
            DatasetVersion.partition == row.partition,
            DatasetVersion.number < row.number,
        )
        .order_by(DatasetVersion.number.desc())
        .limit(1)
    )
    if before is not None:
        tell_recipients(
            s,
            [before],
            kind=IncidentKind.PROVIDED_VERSION_REPLACED,
            action=RecipientAction.REPLACE,
            why=f"version {row.number} replaces it",
            actor=actor,
            at=at,
        )


def record_read(
    engine: Engine, version: records.Version, actor: str, detail: dict[str, Any], at: datetime
) -> None:
    """Audit-log one read of a version (C5.4-1)."""
    with transaction(engine) as s:
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.READ,
            dataset=version.dataset,
            partition=version.partition,
            version=version.number,
            detail=detail,
        )


def lock_unless_purging(s: Session, version: records.Version, what: str) -> None:
    """Under the partition lock: no open purge intent, and the version is not being purged or
    purged. The caller puts its object in the same transaction (C5.2-11)."""
    lock_partition(s, version.dataset, version.partition)
    refuse_if_purging(s, version.dataset, version.partition, f"{what} of {version.label}")
    status = s.scalar(select(DatasetVersion.status).where(DatasetVersion.id == version.id))
    if status in FINAL:
        raise RetentionRefused(f"{version.label} is {status}: {what} is refused (C5.2-11)")
