"""Incidents the governance committee is told about (C4.1-3)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orchestration.vocabulary import IncidentKind


@dataclass(frozen=True)
class Incident:
    """Something the governance committee is told about (C4.1-3)."""

    id: int
    at: datetime
    kind: IncidentKind
    dataset: str | None
    partition: str | None
    detail: dict[str, Any]
    resolved_at: datetime | None
