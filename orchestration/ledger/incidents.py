"""Incidents the governance committee is told about (C4.1-3), as records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select, update

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import insert_one, transaction
from orchestration.ledger.schema import incidents
from orchestration.vocabulary import AuditAction, IncidentKind

if TYPE_CHECKING:  # written in the caller's ORM session; listed on Core alone (issue 13)
    from sqlalchemy.orm import Session


def list_incidents(engine: Engine, only_open: bool = False) -> list[records.Incident]:
    """Every incident, oldest first; ``only_open`` keeps those not yet resolved."""
    query = select(incidents).order_by(incidents.c.id)
    if only_open:
        query = query.where(incidents.c.resolved_at.is_(None))
    with engine.begin() as conn:
        return [rows.incident(row) for row in conn.execute(query)]


def add_incident(
    session: Session,
    *,
    at: datetime,
    kind: IncidentKind,
    dataset: str | None,
    partition: str | None,
    detail: dict[str, Any],
) -> records.Incident:
    """Insert one incident in the caller's transaction, without logging it (the caller
    does); returned as the ledger stored it."""
    values = {
        "at": at,
        "kind": IncidentKind(kind).value,
        "dataset": dataset,
        "partition": partition,
        "detail": detail,
    }
    return rows.incident(insert_one(session, incidents, values))


def record_incident(
    session: Session,
    *,
    at: datetime,
    actor: str,
    kind: IncidentKind,
    dataset: str | None,
    partition: str | None,
    detail: dict[str, Any],
) -> records.Incident:
    """Record an incident and audit-log it, in the caller's transaction. ``detail`` names
    locations, datasets and error texts, never a dataset value (invariant 1)."""
    incident = add_incident(
        session, at=at, kind=kind, dataset=dataset, partition=partition, detail=detail
    )
    audit.append(
        session,
        at=at,
        actor=actor,
        action=AuditAction.INCIDENT,
        dataset=dataset,
        partition=partition,
        detail={"kind": kind},
    )
    return incident


def open_incident(
    engine: Engine,
    *,
    at: datetime,
    actor: str,
    kind: IncidentKind,
    dataset: str | None,
    partition: str | None,
    detail: dict[str, Any],
) -> records.Incident:
    """Record an incident in a transaction of its own (a failure found outside any other)."""
    with transaction(engine) as s:
        return record_incident(
            s, at=at, actor=actor, kind=kind, dataset=dataset, partition=partition, detail=detail
        )


def resolve_incidents(
    session: Session, kinds: Sequence[IncidentKind], at: datetime, dataset: str | None = None
) -> None:
    """Resolve the open incidents of these kinds (of ``dataset`` only, when given)."""
    query = update(incidents).where(incidents.c.kind.in_(kinds), incidents.c.resolved_at.is_(None))
    if dataset is not None:
        query = query.where(incidents.c.dataset == dataset)
    session.execute(query.values(resolved_at=at))
