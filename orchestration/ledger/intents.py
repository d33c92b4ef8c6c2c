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
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Engine, func, insert, select, text, update
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.errors import RetentionRefused
from orchestration.ledger import rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import PurgeIntent
from orchestration.vocabulary import PurgeKind


def lock_partition(session: Session, dataset: str, partition: str) -> None:
    """Serialize, until the end of the session's transaction, every check-and-write on one
    dataset partition."""
    if session.get_bind().dialect.name != "postgresql":
        return
    key = _lock_key(dataset, partition)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def lock_partitions(session: Session, dataset: str, partitions: Iterable[str]) -> None:
    """``lock_partition`` for many partitions of one dataset in one statement, taken in
    partition order, so that two sweeps locking overlapping partitions cannot deadlock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = [_lock_key(dataset, p) for p in sorted(set(partitions))]
    if keys:  # the scan yields the array in order, and the sort keeps it: locks in order
        session.execute(_LOCK_IN_ORDER, {"keys": keys})


_LOCK_IN_ORDER = text(
    "SELECT pg_advisory_xact_lock(t.key) FROM unnest(CAST(:keys AS bigint[])) "
    "WITH ORDINALITY AS t(key, n) ORDER BY t.n"
)


def _lock_key(dataset: str, partition: str) -> int:
    digest = hashlib.sha256(f"purge|{dataset}|{partition}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def open_intent(session: Session, dataset: str, partition: str) -> records.PurgeIntent | None:
    row = session.scalar(
        select(PurgeIntent)
        .where(
            PurgeIntent.dataset == dataset,
            PurgeIntent.partition == partition,
            PurgeIntent.completed_at.is_(None),
        )
        .order_by(PurgeIntent.id)
        .limit(1)
    )
    return None if row is None else rows.purge_intent(row)


def open_intents(
    session: Session, dataset: str, partitions: Sequence[str]
) -> list[records.PurgeIntent]:
    """The open intents of these partitions of one dataset."""
    query = select(PurgeIntent).where(
        PurgeIntent.dataset == dataset,
        PurgeIntent.partition.in_(partitions),
        PurgeIntent.completed_at.is_(None),
    )
    return [rows.purge_intent(row) for row in session.scalars(query)]


def unfinished_intents(engine: Engine, dataset: str | None = None) -> list[records.PurgeIntent]:
    """Every open intent (of ``dataset``, or of any), oldest first: an interrupted sweep's."""
    query = select(PurgeIntent).where(PurgeIntent.completed_at.is_(None))
    if dataset is not None:
        query = query.where(PurgeIntent.dataset == dataset)
    with transaction(engine) as s:
        return [rows.purge_intent(row) for row in s.scalars(query.order_by(PurgeIntent.id))]


def add_intents(
    session: Session,
    *,
    dataset: str,
    kind: PurgeKind,
    sweep_id: str,
    started_at: datetime,
    partitions: Sequence[tuple[str, str | None, datetime | None, str]],
) -> None:
    """Record an open intent for each of these partitions of one dataset, given as
    (partition, policy, deadline, reason), in one batched INSERT in the caller's transaction
    (which holds their locks): a statement per partition made large sweeps slow."""
    if not partitions:
        return
    common = {"dataset": dataset, "kind": kind, "sweep_id": sweep_id, "started_at": started_at}
    session.execute(
        insert(PurgeIntent),
        [
            {**common, "partition": p, "policy": policy, "deadline": deadline, "reason": reason}
            for p, policy, deadline, reason in partitions
        ],
    )


def complete_intents(
    session: Session, intent_ids: Sequence[int], at: datetime, certificate_id: int
) -> None:
    """Close intents with the certificate that ended them, in the certificate's transaction."""
    if intent_ids:
        session.execute(
            update(PurgeIntent)
            .where(PurgeIntent.id.in_(intent_ids))
            .values(completed_at=at, certificate_id=certificate_id)
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
