"""Purge certificates in the ledger (C5.2-11): written in the purge's final transaction, read
for export and the UI. They name datasets, partitions, versions, counts and key ids only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import PurgeCertificate
from orchestration.vocabulary import PurgeKind


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
    certificate commit together); flushed, so it has an id."""
    row = PurgeCertificate(
        kind=kind,
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
    session.add(row)
    session.flush()
    return rows.certificate(row)


def list_certificates(engine: Engine, dataset: str | None = None) -> list[records.Certificate]:
    """Every certificate (of ``dataset``, or of any), oldest first."""
    query = select(PurgeCertificate).order_by(PurgeCertificate.id)
    if dataset is not None:
        query = query.where(PurgeCertificate.dataset == dataset)
    with transaction(engine) as s:
        return [rows.certificate(row) for row in s.scalars(query)]
