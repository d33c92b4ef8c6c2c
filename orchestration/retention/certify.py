"""Certifying a verified purge (C5.2-11, design invariants 3 and 4): the certificate, the
tombstones and the completion of the purge intents commit in ONE transaction, under the
partition locks, or nothing is marked purged at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from orchestration.errors import PurgeFailed
from orchestration.ledger.db import transaction
from orchestration.ledger.intents import complete_intents, lock_partitions, open_intents
from orchestration.ledger.locks import Held
from orchestration.ledger.provisions import tell_recipients
from orchestration.ledger.purges import drop_deadlines, numbers_besides, tombstone
from orchestration.records import Certificate
from orchestration.retention.certificates import close_purge, new_certificate
from orchestration.retention.context import SweepContext, ensure
from orchestration.retention.plan import VersionRecord
from orchestration.vocabulary import IncidentKind, PurgeKind, RecipientAction


@dataclass(frozen=True)
class Purged:
    """What one purge removed and how it was verified: what its certificate says."""

    kind: PurgeKind
    dataset: str
    partitions: list[str]
    versions: list[VersionRecord]
    removed: dict[str, Any]
    keys: list[str]
    policy: str | None
    verification: dict[str, Any]
    reasons: list[str]
    deadline: datetime | None = None
    row_count: int | None = None


def certify(ctx: SweepContext, held: Held | None, purged: Purged) -> Certificate:
    """Write the certificate and the tombstones; for whole partitions, complete their open
    intents and forget their deadlines, all in one transaction."""
    ensure(held)
    now = ctx.clock.now()
    dataset, partitions = purged.dataset, purged.partitions
    with transaction(ctx.engine) as s:
        lock_partitions(s, dataset, partitions)
        whole = purged.kind != PurgeKind.ROWS
        intent_ids = _open_intent_ids(s, dataset, partitions) if whole else []
        certificate = new_certificate(
            s,
            kind=purged.kind,
            dataset=dataset,
            partitions=partitions,
            versions=[(v.partition, v.number) for v in purged.versions],
            removed=purged.removed,
            keys=purged.keys,
            policy=purged.policy,
            deadline=purged.deadline,
            row_count=purged.row_count,
            verification={**purged.verification, "reasons": purged.reasons},
            actor=ctx.actor,
            now=now,
        )
        ids = [v.id for v in purged.versions]
        if whole:
            _close_partitions(s, purged, ids, intent_ids, certificate.id, now)
        reason = f"purged under {purged.policy or 'retirement'}: certificate {certificate.id}"
        tombstone(s, ids, now, certificate.id, reason)
        tell_recipients(
            s,
            ids,
            kind=IncidentKind.PROVIDED_DATA_PURGED,
            action=RecipientAction.DELETE,
            why=f"purged here under certificate {certificate.id} (C5.2-11)",
            actor=ctx.actor,
            at=now,
        )
        close_purge(
            s,
            certificate,
            IncidentKind.PURGE_FAILED,
            {"partitions": partitions, "versions": [v.number for v in purged.versions]},
        )
    ctx.lineage.purged(certificate)  # OpenLineage, once the certificate is committed
    return certificate


def _open_intent_ids(s: Session, dataset: str, partitions: list[str]) -> list[int]:
    """The open intents of these partitions; one missing means another sweep certified
    the partition meanwhile: no second certificate."""
    intents = open_intents(s, dataset, partitions)
    missing = sorted(set(partitions) - {i.partition for i in intents})
    if missing:
        raise PurgeFailed(
            f"{dataset}: partition(s) {missing} have no open purge intent any more; "
            "not certified twice"
        )
    return [i.id for i in intents]


def _close_partitions(
    s: Session,
    purged: Purged,
    ids: list[int],
    intent_ids: list[int],
    certificate_id: int,
    now: datetime,
) -> None:
    """Writers are refused while the intents are open, so no version can have been added
    since the final verification; if one was, nothing is certified."""
    unverified = numbers_besides(s, purged.dataset, purged.partitions, ids)
    if unverified:
        raise PurgeFailed(
            f"{purged.dataset}: version(s) {unverified} appeared after the final "
            "verification; nothing marked purged, the next sweep purges them"
        )
    complete_intents(s, intent_ids, now, certificate_id)
    drop_deadlines(s, purged.dataset, purged.partitions)
