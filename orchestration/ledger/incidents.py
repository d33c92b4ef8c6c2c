"""Incidents the governance committee is told about (C4.1-3), as records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from orchestration import records
from orchestration.ledger import audit, rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import Incident
from orchestration.vocabulary import AuditAction, IncidentKind


def list_incidents(engine: Engine, only_open: bool = False) -> list[records.Incident]:
    """Every incident, oldest first; ``only_open`` keeps those not yet resolved."""
    query = select(Incident).order_by(Incident.id)
    if only_open:
        query = query.where(Incident.resolved_at.is_(None))
    with transaction(engine) as s:
        return [rows.incident(row) for row in s.scalars(query)]


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
    row = Incident(at=at, kind=kind, dataset=dataset, partition=partition, detail=detail)
    session.add(row)
    audit.append(
        session,
        at=at,
        actor=actor,
        action=AuditAction.INCIDENT,
        dataset=dataset,
        partition=partition,
        detail={"kind": kind},
    )
    session.flush()
    return rows.incident(row)


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
    query = update(Incident).where(Incident.kind.in_(kinds), Incident.resolved_at.is_(None))
    if dataset is not None:
        query = query.where(Incident.dataset == dataset)
    session.execute(query.values(resolved_at=at))
