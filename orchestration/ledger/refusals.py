"""Refused deliveries, recorded (C5.2-2, C5.2-11): a provider file that ingest refused is never
silently kept. The record names the file, dataset, partition, the reason and the time; the file
stays an orphan in the landing area until the sweep purges it after its grace."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import RefusedDelivery
from orchestration.vocabulary import AuditAction

REASON_LIMIT = 2000


def record_refusal(
    engine: Engine,
    *,
    landing_dir: Path,
    path: Path,
    dataset: str,
    partition: str,
    reason: str,
    at: datetime,
    actor: str,
) -> records.RefusedDelivery | None:
    """Record and audit-log one refusal of ``path``; nothing when the file is not there (a
    missing delivery is not a refused one). ``reason`` is the ingest error, which names
    columns, rows and counts only (invariant 1)."""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except (FileNotFoundError, IsADirectoryError):
        return None
    name = path.relative_to(landing_dir).as_posix()
    with transaction(engine) as s:
        row = RefusedDelivery(
            dataset=dataset,
            partition=partition,
            file=name,
            sha256=digest,
            reason=reason[:REASON_LIMIT],
            refused_at=at,
            actor=actor,
        )
        s.add(row)
        audit.append(
            s,
            at=at,
            actor=actor,
            action=AuditAction.REFUSE,
            dataset=dataset,
            partition=partition,
            detail={"file": name, "sha256": digest},
        )
        s.flush()
        return rows.refused_delivery(row)


def name_purged(session: Session, files: Sequence[str], certificate_id: int) -> None:
    """Refused deliveries whose file a certificate removed name that certificate."""
    session.execute(
        update(RefusedDelivery)
        .where(RefusedDelivery.file.in_(files), RefusedDelivery.purge_certificate_id.is_(None))
        .values(purge_certificate_id=certificate_id)
    )
