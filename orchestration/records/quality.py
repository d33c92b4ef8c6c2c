"""Quality results and waivers of a version (C5.5-1, C5.5-4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class QualityResult:
    """One dimension of one version's quality suite (C5.5-1): counts and percentages only."""

    id: int
    version_id: int
    dimension: str
    status: str
    evaluated: int
    passed: int
    conforming_percent: float | None
    checks: dict[str, Any]
    suite_name: str
    suite_revision: str
    evaluated_at: datetime


@dataclass(frozen=True)
class Waiver:
    """An operator's decision to let readers use a quarantined version until ``expires_at``
    (C5.5-4)."""

    id: int
    version_id: int
    reason: str
    actor: str
    granted_at: datetime
    expires_at: datetime
