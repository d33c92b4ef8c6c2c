"""Retired datasets: a dataset whose service ended is never materialized again (C5.2-11)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from orchestration.ledger import rows
from orchestration.ledger.db import transaction
from orchestration.ledger.tables import RetiredDataset
from orchestration.records import Retirement


def retirement(engine: Engine, dataset: str) -> Retirement | None:
    """When and by which certificate ``dataset`` was retired, or None if it is in service."""
    with transaction(engine) as s:
        row = s.get(RetiredDataset, dataset)
        return rows.retirement(row) if row is not None else None


def record_retirement(
    session: Session, dataset: str, at: datetime, actor: str, certificate_id: int
) -> None:
    """Record (or record again) that ``dataset`` was retired by this certificate, in the
    caller's transaction."""
    session.merge(
        RetiredDataset(dataset=dataset, retired_at=at, actor=actor, certificate_id=certificate_id)
    )
