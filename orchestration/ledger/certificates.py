"""Purge certificates in the ledger (C5.2-11): written in the purge's final transaction, read
for export and the UI. They name datasets, partitions, versions, counts and key ids only."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select

from orchestration import records
from orchestration.ledger import rows
from orchestration.ledger.db import insert_one
from orchestration.ledger.schema import purge_certificates
from orchestration.vocabulary import PurgeKind

if TYPE_CHECKING:  # written in the caller's ORM session; listed on Core alone (issue 13)
    from sqlalchemy.orm import Session


def add_certificate(
    session: Session,
    *,
    kind: PurgeKind,
    dataset: str,
    partitions: list[str],
    versions: list[tuple[str, int]],
    removed: dict[str, Any],
    keys: list[str],
    policy: str | None,
    deadline: datetime | None,
    row_count: int | None,
    verification: dict[str, Any],
    actor: str,
    now: datetime,
) -> records.Certificate:
    """A certificate added in the caller's transaction (so that tombstones, intents and the
    certificate commit together); returned as the ledger stored it, with its id."""
    values = dict(
        kind=PurgeKind(kind).value,
        dataset=dataset,
        partitions={"partitions": partitions},
        row_count=row_count,
        versions={"versions": [{"partition": p, "version": n} for p, n in versions]},
        removed=removed,
        keys_destroyed={"key_ids": keys},
        policy=policy,
        deadline=deadline,
        executed_at=now,
        actor=actor,
        verification=verification,
    )
    return rows.certificate(insert_one(session, purge_certificates, values))


def list_certificates(engine: Engine, dataset: str | None = None) -> list[records.Certificate]:
    """Every certificate (of ``dataset``, or of any), oldest first."""
    query = select(purge_certificates).order_by(purge_certificates.c.id)
    if dataset is not None:
        query = query.where(purge_certificates.c.dataset == dataset)
    with engine.begin() as conn:
        return [rows.certificate(row) for row in conn.execute(query)]
