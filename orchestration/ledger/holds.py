"""Legal holds in the ledger (C5.2-11): placed and released with the actor and reason
audit-logged; a released hold stays on record."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from sqlalchemy import Engine, func, or_, select, update
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import LegalHold
from orchestration.vocabulary import AuditAction


def add_hold(
    engine: Engine,
    *,
    dataset: str,
    partition: str | None,
    reason: str,
    until: datetime | None,
    actor: str,
    now: datetime,
) -> records.Hold:
    """Record and audit-log a hold, in one transaction."""
    with transaction(engine) as s:
        row = LegalHold(
            dataset=dataset,
            partition=partition,
            reason=reason,
            actor=actor,
            placed_at=now,
            until=until,
        )
        s.add(row)
        audit.append(
            s,
            at=now,
            actor=actor,
            action=AuditAction.HOLD,
            dataset=dataset,
            partition=partition,
            detail={"reason": reason, "until": until.isoformat() if until else None},
        )
        s.flush()
        return rows.hold(row)


def active_holds(session: Session, dataset: str | None = None) -> list[records.Hold]:
    """Every hold not released (of ``dataset``, or of any), whatever its ``until``."""
    query = select(LegalHold).where(LegalHold.released_at.is_(None))
    if dataset is not None:
        query = query.where(LegalHold.dataset == dataset)
    return [rows.hold(row) for row in session.scalars(query)]


def all_active_holds(engine: Engine) -> list[records.Hold]:
    """Every hold not released, read in a transaction of its own."""
    with transaction(engine) as s:
        return active_holds(s)


def release(
    session: Session, holds: Sequence[records.Hold], actor: str, now: datetime
) -> list[records.Hold]:
    """Release these holds and audit-log each, in the caller's transaction."""
    released = []
    for hold in holds:
        session.execute(
            update(LegalHold)
            .where(LegalHold.id == hold.id)
            .values(released_at=now, released_by=actor)
        )
        audit.append(
            session,
            at=now,
            actor=actor,
            action=AuditAction.RELEASE,
            dataset=hold.dataset,
            partition=hold.partition,
            detail={"hold": hold.id},
        )
        released.append(replace(hold, released_at=now, released_by=actor))
    return released


def is_held(session: Session, dataset: str, partition: str, now: datetime) -> bool:
    """Whether an active hold on the dataset, or on this partition of it, covers ``now``."""
    count = session.scalar(
        select(func.count(LegalHold.id)).where(
            LegalHold.dataset == dataset,
            LegalHold.released_at.is_(None),
            or_(LegalHold.partition.is_(None), LegalHold.partition == partition),
            or_(LegalHold.until.is_(None), LegalHold.until > now),
        )
    )
    return bool(count)
