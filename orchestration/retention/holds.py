"""Legal holds: a hold suspends purging of a dataset or one partition (actor and reason are
audit-logged); released holds stay on record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from orchestration.declarations.catalog import Catalog
from orchestration.errors import BadInput, NotFound
from orchestration.ledger import audit
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import LegalHold


def place_hold(
    engine: Engine,
    catalog: Catalog,
    dataset: str,
    partition: str | None,
    reason: str,
    until: datetime | None,
    actor: str,
    now: datetime,
) -> LegalHold:
    decl = catalog.declaration(dataset)
    if decl.retention_policy is None:
        raise BadInput(f"{dataset} has no retention policy: nothing to hold")
    if not catalog.policies[decl.retention_policy].legal_hold_allowed:
        raise BadInput(f"policy {decl.retention_policy} does not allow legal holds")
    if not reason.strip():
        raise BadInput("a legal hold needs a reason")
    if until is not None and until <= now:
        raise BadInput(f"the hold would end at {until.isoformat()}, before now")
    with transaction(engine) as s:
        hold = LegalHold(
            dataset=dataset,
            partition=partition,
            reason=reason,
            actor=actor,
            placed_at=now,
            until=until,
        )
        s.add(hold)
        audit.append(
            s,
            at=now,
            actor=actor,
            action="hold",
            dataset=dataset,
            partition=partition,
            detail={"reason": reason, "until": until.isoformat() if until else None},
        )
    return hold


def release_holds(
    engine: Engine, dataset: str, partition: str | None, actor: str, now: datetime
) -> list[LegalHold]:
    with transaction(engine) as s:
        holds = list(
            s.scalars(
                select(LegalHold).where(
                    LegalHold.dataset == dataset,
                    LegalHold.released_at.is_(None),
                    LegalHold.partition.is_(None)
                    if partition is None
                    else LegalHold.partition == partition,
                )
            )
        )
        if not holds:
            where = f" partition {partition}" if partition else ""
            active = sorted(
                {
                    f"--partition {h.partition}"
                    if h.partition
                    else "the whole dataset (no --partition)"
                    for h in s.scalars(
                        select(LegalHold).where(
                            LegalHold.dataset == dataset, LegalHold.released_at.is_(None)
                        )
                    )
                }
            )
            held = f"; its active holds: {', '.join(active)}" if active else "; it has none"
            raise NotFound(f"no active legal hold on {dataset}{where}{held}")
        for hold in holds:
            hold.released_at, hold.released_by = now, actor
            audit.append(
                s,
                at=now,
                actor=actor,
                action="release",
                dataset=dataset,
                partition=partition,
                detail={"hold": hold.id},
            )
    return holds
