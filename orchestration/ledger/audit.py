"""The hash-chained audit log (C5.4-1, design invariant 6).

Each entry's hash covers its fields and the previous entry's hash, so an edited entry breaks
its own hash and a deleted one breaks the chain; ``audit_head`` records the newest entry so a
deleted tail is caught too. Entries hold actors, actions and identifiers, never data values.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration.ledger.db import transaction
from orchestration.ledger.tables import AuditEntry, AuditHead
from orchestration.vocabulary import AuditAction

GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    dataset: str | None,
    partition: str | None,
    version: int | None,
    detail: dict[str, Any],
) -> str:
    body = json.dumps(
        [
            prev_hash,
            seq,
            at.isoformat(timespec="microseconds"),
            actor,
            action,
            dataset,
            partition,
            version,
            detail,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: AuditAction,
    dataset: str | None = None,
    partition: str | None = None,
    version: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append one entry inside the caller's transaction; the head row serializes appenders.
    The action must be one the vocabulary names, so the log holds no stray spelling."""
    action = AuditAction(action)
    detail = detail or {}
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    seq = head.seq + 1
    at = at.astimezone(UTC)
    digest = entry_hash(
        head.hash, seq, at, actor, action.value, dataset, partition, version, detail
    )
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor,
        action=action.value,
        dataset=dataset,
        partition=partition,
        version=version,
        detail=detail,
        prev_hash=head.hash,
        hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()


@dataclass(frozen=True)
class AuditReport:
    entries: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_log(engine: Engine) -> AuditReport:
    """Recompute the whole chain in one read-only unit of work (``steward audit verify``)."""
    with transaction(engine) as session:
        return verify(session)


def verify(session: Session) -> AuditReport:
    """Recompute the chain; report every edited, deleted or reordered entry."""
    problems: list[str] = []
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
        count += 1
        if entry.seq != expected_seq:
            problems.append(f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)")
        if entry.prev_hash != prev_hash:
            problems.append(f"entry {entry.seq}: does not follow the entry before it")
        recomputed = entry_hash(
            entry.prev_hash,
            entry.seq,
            entry.at,
            entry.actor,
            entry.action,
            entry.dataset,
            entry.partition,
            entry.version,
            entry.detail,
        )
        if recomputed != entry.hash:
            problems.append(f"entry {entry.seq} ({entry.action}): content was edited")
        prev_hash, expected_seq = entry.hash, entry.seq + 1
    head = session.get(AuditHead, 1)
    if head is None:
        if count:
            problems.append("the log's head record is missing: the log was tampered with")
    elif head.seq != expected_seq - 1 or head.hash != prev_hash:
        problems.append(
            f"the log ends at entry {expected_seq - 1} but its head records entry {head.seq}: "
            "entries at the end were deleted"
        )
    return AuditReport(entries=count, problems=problems)
