"""Purge intents and the per-partition lock that makes writers and the sweep exclude each
other (C5.2-11, design invariant 4).

The sweep records its intent and marks the partition's versions ``purging`` in one transaction
before its first deletion; every writer (stage, promote, restore) checks for an open intent in
the same transaction as its write. Both take the partition lock first, so on PostgreSQL (READ
COMMITTED) a writer's "no intent" read cannot interleave with the sweep's "intent, purging"
write: one of the two transactions waits for the other. On SQLite ``BEGIN IMMEDIATE`` already
serializes every writing transaction (``ledger.db``).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from orchestration.errors import RetentionRefused
from orchestration.ledger.tables import PurgeIntent


def lock_partition(session: Session, dataset: str, partition: str) -> None:
    """Serialize, until the end of the session's transaction, every check-and-write on one
    dataset partition."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(f"purge|{dataset}|{partition}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def open_intent(session: Session, dataset: str, partition: str) -> PurgeIntent | None:
    return session.scalar(
        select(PurgeIntent)
        .where(
            PurgeIntent.dataset == dataset,
            PurgeIntent.partition == partition,
            PurgeIntent.completed_at.is_(None),
        )
        .order_by(PurgeIntent.id)
        .limit(1)
    )


def last_intent_id(session: Session, dataset: str, partition: str) -> int:
    """The newest purge intent of a partition, open or completed (0: none)."""
    return (
        session.scalar(
            select(func.max(PurgeIntent.id)).where(
                PurgeIntent.dataset == dataset, PurgeIntent.partition == partition
            )
        )
        or 0
    )


def refuse_if_purging(
    session: Session, dataset: str, partition: str, what: str, since: int | None = None
) -> None:
    """Raise RetentionRefused naming the partition and the intent if a purge is under way, or,
    given ``since`` (``last_intent_id`` when the writer began), if one began since then, even
    if it has already completed: the writer's data was read before that purge."""
    where = f" partition {partition}" if partition else ""
    intent = open_intent(session, dataset, partition)
    if intent is not None:
        raise RetentionRefused(
            f"{dataset}{where} is being purged (purge intent {intent.id}, {intent.kind}, since "
            f"{intent.started_at.isoformat()}): {what} is refused (C5.2-11)"
        )
    if since is not None and last_intent_id(session, dataset, partition) > since:
        raise RetentionRefused(
            f"{dataset}{where} was purged while {what} was being prepared: it is refused (C5.2-11)"
        )
